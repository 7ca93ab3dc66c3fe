"""Deployment settings from CDK context (`cdk.json` → `context.bucketwatch`), validated up front.

Two shapes; see docs/infra.md for every setting:

    "bucketwatch": {                     # single-account stages (each account/region an island)
      "defaults":    { ...settings for every stage... },
      "deployments": [ {"account": "111111111111", "region": "us-east-1", ...overrides...}, ... ]
    }

    "bucketwatch": {                     # one central security account for the organization
      "defaults": { ...settings for the central stage... },
      "organization": {
        "id": "o-a1b2c3d4e5",
        "central": {"account": "999999999999", "region": "us-east-1", ...overrides...},
        "members": [ {"account": "111111111111", "regions": ["us-east-1", "eu-west-1"]}, ... ],
        "auditRoleName": "BucketwatchAudit", "trustedAccounts": ["444455556666"]
      }
    }

With neither, one deployment is made for the CLI's default account and region
(`CDK_DEFAULT_ACCOUNT` / `CDK_DEFAULT_REGION`), or environment-agnostic when they are unset,
so `cdk synth` works out of the box with no credentials.

Everything a gate would refuse later is refused here, in one line naming the key: a data-event
choice that fails BW.CloudTrail.S3DataEvents without a written reason, a monitoring bucket listed
for data events, a config file that the CLI would reject, a layer ARN of another region.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from detectors.common import validate
from detectors.common.config_file import load_config
from detectors.common.errors import UserError
from detectors.common.organization import OrganizationSettings
from detectors.common.severity import parse_severity
from infra.naming import MONITORING_BUCKET_NAME
from infra.trail import DataEventScope, ReadWrite

CONTEXT_KEY = "bucketwatch"
WHERE = f"context.{CONTEXT_KEY}"
PROJECT_DIR = Path(__file__).resolve().parent.parent
STAGE_SETTINGS = (
    "trail",
    "dataEvents",
    "posture",
    "scanRegions",
    "postureSchedule",
    "detectorReservedConcurrency",
    "detectorMemoryMb",
    "pyarrowLayerArn",
    "pyarrowLayerArns",
    "configFile",
    "objectLockDays",
    "scheduledAnalysis",
    "notifier",
)
DEPLOYMENT_KEYS = ("account", "region", *STAGE_SETTINGS)
MEMBER_KEYS = ("account", "regions", "trail", "dataEvents")
ORGANIZATION_KEYS = ("id", "central", "members", "auditRoleName", "trustedAccounts")
DATA_EVENT_KEYS = ("buckets", "readWrite", "waiverReason")
NOTIFIER_KEYS = ("secretArn", "parameterName", "keyArn", "destination", "minSeverity")
SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
PARAMETER_NAME = re.compile(r"^/?[\w.\-/]{1,1011}$")
KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[\w-]+$")
DEFAULT_AUDIT_ROLE_NAME = "BucketwatchAudit"
MIN_WAIVER_REASON = 20  # infra.waivers.Waiver's minimum
LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:(?P<region>[a-z0-9-]+):\d{12}:layer:[A-Za-z0-9_-]+:\d+$")
SCHEDULE = re.compile(r"^(rate|cron)\(.+\)$")
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


class ConfigError(UserError):
    """Unusable `bucketwatch` context: one line naming the key path (exit code 2)."""


@dataclass(frozen=True)
class DataEvents:
    """The trail's data-event choice, and the written reason when it narrows what the gate wants."""

    scope: DataEventScope = field(default_factory=DataEventScope.all_buckets)
    waiver_reason: str | None = None


@dataclass(frozen=True)
class Notifier:
    """The webhook notifier: where its URL is kept, which topic it reads, from which severity."""

    secret_arn: str | None = None
    parameter_name: str | None = None
    key_arn: str | None = None
    destination: str | None = None  # None: the alerts topic (every alert)
    min_severity: str = "Info"


@dataclass(frozen=True)
class Deployment:
    """One stage with Lambdas: a single-account stage, or the organization's central stage."""

    account: str | None = None
    region: str | None = None
    trail: bool = True
    data_events: DataEvents = field(default_factory=DataEvents)
    posture: bool = True
    scan_regions: tuple[str, ...] = ()
    posture_schedule: str = "rate(1 day)"
    detector_reserved_concurrency: int = 5
    detector_memory_mb: int = 1024
    pyarrow_layer_arn: str | None = None
    config_file: str | None = None
    object_lock_days: int | None = None
    scheduled_analysis: bool = True
    notifier: Notifier | None = None
    # Every region of this account in the app: its trail excludes the monitoring's buckets there.
    account_regions: tuple[str, ...] = ()

    @property
    def stage_id(self) -> str:
        return stage_id(self.account, self.region)


@dataclass(frozen=True)
class Member:
    """A member account: regional access-log buckets replicating to the center, a trail delivering
    to the center (home region, the first listed) and the read-only audit role."""

    account: str
    regions: tuple[str, ...]
    trail: bool = True
    data_events: DataEvents = field(default_factory=DataEvents)

    @property
    def home_region(self) -> str:
        return self.regions[0]


@dataclass(frozen=True)
class Organization:
    organization_id: str
    central: Deployment
    members: tuple[Member, ...]
    audit_role_name: str = DEFAULT_AUDIT_ROLE_NAME
    trusted_accounts: tuple[str, ...] = ()

    @property
    def central_account(self) -> str:
        assert self.central.account is not None
        return self.central.account

    @property
    def central_region(self) -> str:
        assert self.central.region is not None
        return self.central.region

    @property
    def accounts(self) -> tuple[str, ...]:
        """Every account of the organization that Bucketwatch watches, the central one first."""
        return (self.central_account, *(m.account for m in self.members))

    def settings(self) -> OrganizationSettings:
        """What the central Lambdas read from BUCKETWATCH_ORGANIZATION_FILE (detectors.common.organization)."""
        return OrganizationSettings(
            organization_id=self.organization_id,
            accounts=self.accounts,
            trusted_accounts=self.trusted_accounts,
            audit_role_name=self.audit_role_name,
        )


@dataclass(frozen=True)
class AppPlan:
    """What the context asks for: single-account deployments, or an organization."""

    deployments: tuple[Deployment, ...] = ()
    organization: Organization | None = None


def stage_id(account: str | None, region: str | None) -> str:
    return f"Bucketwatch-{account}-{region}" if account and region else "Bucketwatch"


def plan_from_context(context: Any) -> AppPlan:
    """The validated plan; raises ConfigError naming the key path."""
    try:
        return _plan(context)
    except ConfigError:
        raise
    except UserError as error:
        raise ConfigError(str(error), error.exit_code) from None


def deployments_from_context(context: Any) -> list[Deployment]:
    """The single-account deployments (empty for an organization context)."""
    return list(plan_from_context(context).deployments)


def _plan(context: Any) -> AppPlan:
    if isinstance(context, str):  # `cdk synth -c bucketwatch='{...}'` passes a string
        try:
            context = json.loads(context)
        except ValueError as error:
            raise validate.fail(WHERE, f"is not valid JSON ({error})") from None
    values = validate.section(context, ("defaults", "deployments", "organization"), WHERE)
    defaults = validate.section(values.get("defaults"), STAGE_SETTINGS, f"{WHERE}.defaults")
    _stage_settings(defaults, f"{WHERE}.defaults", None)  # a bad default is reported where it is written
    if values.get("organization") is not None:
        if values.get("deployments"):
            raise validate.fail(
                WHERE, "give either 'deployments' (single-account stages) or 'organization', not both"
            )
        return AppPlan(organization=_organization(values["organization"], defaults, f"{WHERE}.organization"))
    return AppPlan(deployments=tuple(_deployments(values.get("deployments"), defaults)))


# --- single-account stages ------------------------------------------------------------------


def _deployments(value: Any, defaults: Mapping[str, Any]) -> list[Deployment]:
    where = f"{WHERE}.deployments"
    entries = validate.listed([] if value is None else value, where, validate.mapping)
    if not entries:
        entries = [{"account": os.environ.get("CDK_DEFAULT_ACCOUNT"), "region": os.environ.get("CDK_DEFAULT_REGION")}]
    deployments = []
    trail_homes: set[str | None] = set()
    scanners: dict[str | None, int] = {}
    for index, entry in enumerate(entries):
        at = f"{where}[{index}]"
        validate.reject_unknown(entry, DEPLOYMENT_KEYS, at)
        merged = {**defaults, **{k: v for k, v in entry.items() if v is not None}}
        account = validate.optional(merged, "account", validate.account_id, at, None)
        # One trail and one posture scanner per account: by default the account's first entry.
        merged.setdefault("trail", account not in trail_homes)
        merged.setdefault("posture", account not in scanners)
        deployment = _deployment(merged, at)
        trail_homes.add(account)
        if deployment.posture:
            if deployment.account in scanners:
                raise validate.fail(
                    f"{at}.posture",
                    f"account {deployment.account} already has a posture scanner ({where}[{scanners[deployment.account]}]); "
                    "one per account, or every bucket is scanned and alerted on twice",
                )
            scanners[deployment.account] = index
        deployments.append(deployment)
    _refuse_duplicate_stages(deployments, where)
    regions_of: dict[str | None, list[str]] = {}
    for deployment in deployments:
        if deployment.region:
            regions_of.setdefault(deployment.account, []).append(deployment.region)
    return [replace(d, account_regions=tuple(regions_of.get(d.account, ()))) for d in deployments]


def _deployment(values: Mapping[str, Any], where: str) -> Deployment:
    account = validate.optional(values, "account", validate.account_id, where, None)
    region = validate.optional(values, "region", validate.region, where, None)
    return Deployment(account=account, region=region, **_stage_settings(values, where, region))


def _stage_settings(values: Mapping[str, Any], where: str, region: str | None) -> dict[str, Any]:
    lock = validate.optional(values, "objectLockDays", _days, where, None)
    config_file = validate.optional(values, "configFile", _config_file, where, None)
    return {
        "trail": validate.optional(values, "trail", validate.boolean, where, True),
        "data_events": validate.optional(values, "dataEvents", _data_events, where, DataEvents()),
        "posture": validate.optional(values, "posture", validate.boolean, where, True),
        "scan_regions": tuple(validate.optional(values, "scanRegions", _regions, where, [])),
        "posture_schedule": validate.optional(values, "postureSchedule", _schedule, where, "rate(1 day)"),
        "detector_reserved_concurrency": validate.optional(
            values, "detectorReservedConcurrency", _concurrency, where, 5
        ),
        "detector_memory_mb": validate.optional(values, "detectorMemoryMb", _memory, where, 1024),
        "pyarrow_layer_arn": _pyarrow_layer_arn(values, where, region),
        "config_file": config_file,
        "object_lock_days": lock,
        "scheduled_analysis": validate.optional(values, "scheduledAnalysis", validate.boolean, where, True),
        "notifier": validate.optional(values, "notifier", lambda v, w: _notifier(v, w, config_file), where, None),
    }


def _refuse_duplicate_stages(deployments: list[Deployment], where: str) -> None:
    seen: dict[str, int] = {}
    for index, deployment in enumerate(deployments):
        if deployment.stage_id in seen:
            raise validate.fail(
                f"{where}[{index}]", f"{deployment.stage_id} is listed twice (also at [{seen[deployment.stage_id]}])"
            )
        seen[deployment.stage_id] = index


# --- organization ---------------------------------------------------------------------------


def _organization(value: Any, defaults: Mapping[str, Any], where: str) -> Organization:
    values = validate.section(value, ORGANIZATION_KEYS, where)
    if values.get("id") is None:
        raise validate.fail(
            f"{where}.id",
            "missing: the AWS Organizations id (o-...) scopes every cross-account grant (aws:PrincipalOrgID)",
        )
    organization_id = validate.organization_id(values["id"], f"{where}.id")
    if values.get("central") is None:
        raise validate.fail(
            f"{where}.central",
            'missing: name the central security account, e.g. {"account": "999999999999", "region": "us-east-1"}',
        )
    central = _central(values["central"], defaults, f"{where}.central")
    members = _members(values.get("members"), defaults, central, f"{where}.members")
    audit_role_name = validate.optional(values, "auditRoleName", _role_name, where, DEFAULT_AUDIT_ROLE_NAME)
    trusted = validate.optional(values, "trustedAccounts", _accounts, where, [])
    for index, account in enumerate(trusted):
        if account in (central.account, *(m.account for m in members)):
            raise validate.fail(
                f"{where}.trustedAccounts[{index}]",
                f"{account!r} is in the organization already; list only partners outside it",
            )
    return Organization(organization_id, central, tuple(members), audit_role_name, tuple(trusted))


def _central(value: Any, defaults: Mapping[str, Any], where: str) -> Deployment:
    entry = validate.section(value, DEPLOYMENT_KEYS, where)
    merged = {**defaults, **{k: v for k, v in entry.items() if v is not None}}
    for key in ("account", "region"):
        if merged.get(key) is None:
            raise validate.fail(f"{where}.{key}", "missing: the central stage needs a concrete account and region")
    if merged.get("posture") is False:
        raise validate.fail(f"{where}.posture", "the central stage runs the organization's posture scan; it cannot be off")
    central = _deployment(merged, where)
    return replace(central, account_regions=(central.region,))


def _members(value: Any, defaults: Mapping[str, Any], central: Deployment, where: str) -> list[Member]:
    entries = validate.listed(value, where, validate.mapping, non_empty=True)
    members = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        at = f"{where}[{index}]"
        validate.reject_unknown(entry, MEMBER_KEYS, at)
        account = validate.account_id(entry.get("account"), f"{at}.account")
        if account == central.account:
            raise validate.fail(
                f"{at}.account",
                f"{account!r} is the central account; the central stage monitors its own region, list only other accounts",
            )
        if account in seen:
            raise validate.fail(f"{at}.account", f"{account!r} is listed twice (also at {where}[{seen[account]}])")
        seen[account] = index
        if entry.get("regions") is None:
            raise validate.fail(f"{at}.regions", 'missing: the member\'s regions, e.g. ["us-east-1", "eu-west-1"]')
        regions = validate.listed(entry["regions"], f"{at}.regions", validate.region, non_empty=True, unique=True)
        merged = {"dataEvents": defaults.get("dataEvents"), "trail": defaults.get("trail"), **entry}
        members.append(
            Member(
                account=account,
                regions=tuple(regions),
                trail=validate.optional(merged, "trail", validate.boolean, at, True),
                data_events=validate.optional(merged, "dataEvents", _data_events, at, DataEvents()),
            )
        )
    return members


# --- single settings ------------------------------------------------------------------------


def _data_events(value: Any, where: str) -> DataEvents:
    values = validate.section(value, DATA_EVENT_KEYS, where)
    read_write = ReadWrite(
        validate.optional(values, "readWrite", lambda v, w: validate.one_of(v, [rw.value for rw in ReadWrite], w), where, "all")
    )
    buckets = validate.optional(values, "buckets", _locations, where, [])
    reason = validate.optional(values, "waiverReason", validate.string, where, None)
    if read_write is not ReadWrite.ALL and reason is None:
        missing = "read" if read_write is ReadWrite.WRITE_ONLY else "write"
        raise validate.fail(
            f"{where}.readWrite",
            f"{read_write.value!r} records no S3 {missing} data events, which fails the BW.CloudTrail.S3DataEvents "
            f"gate at synthesis; use 'all', or say why in {where}.waiverReason",
        )
    if reason is not None:
        if read_write is ReadWrite.ALL:
            raise validate.fail(f"{where}.waiverReason", "only needed when readWrite is 'read' or 'write'; remove it")
        if len(reason.strip()) < MIN_WAIVER_REASON:
            raise validate.fail(f"{where}.waiverReason", f"a reason of at least {MIN_WAIVER_REASON} characters, got {reason!r}")
    scope = DataEventScope.buckets(buckets, read_write) if buckets else DataEventScope.all_buckets(read_write)
    return DataEvents(scope, reason.strip() if reason else None)


def _locations(value: Any, where: str) -> list[str]:
    return validate.listed(value, where, _location)


def _location(value: Any, where: str) -> str:
    location = validate.string(value, where)
    bucket = location.partition("/")[0]
    if not bucket:
        raise validate.fail(where, f"expected a bucket name or bucket/prefix, got {location!r}")
    if MONITORING_BUCKET_NAME.match(bucket):
        raise validate.fail(
            where, f"{bucket!r} is one of the monitoring's own buckets; recording it would make the trail log its own deliveries"
        )
    return location


def _regions(value: Any, where: str) -> list[str]:
    return validate.listed(value, where, validate.region, unique=True)


def _accounts(value: Any, where: str) -> list[str]:
    return validate.listed(value, where, validate.account_id, unique=True)


def _schedule(value: Any, where: str) -> str:
    if not isinstance(value, str) or not SCHEDULE.match(value):
        raise validate.fail(where, f"expected an EventBridge expression like 'rate(1 day)' or 'cron(0 6 * * ? *)', got {value!r}")
    return value


def _concurrency(value: Any, where: str) -> int:
    return validate.integer(value, where, 1, 1000)


def _memory(value: Any, where: str) -> int:
    return validate.integer(value, where, 128, 10240)


def _days(value: Any, where: str) -> int:
    return validate.integer(value, where, 1, 365)


def _role_name(value: Any, where: str) -> str:
    name = validate.string(value, where)
    if not ROLE_NAME.match(name):
        raise validate.fail(where, f"expected an IAM role name (letters, digits and +=,.@_-, up to 64), got {name!r}")
    return name


def _layer_arn(value: Any, where: str) -> str:
    arn = validate.string(value, where)
    if not LAYER_ARN.match(arn):
        raise validate.fail(
            where, f"expected a Lambda layer version ARN like arn:aws:lambda:<region>:336392948345:layer:AWSSDKPandas-Python314:<n>, got {arn!r}"
        )
    return arn


def _pyarrow_layer_arn(values: Mapping[str, Any], where: str, region: str | None) -> str | None:
    """The stage region's layer: `pyarrowLayerArns[region]`, else `pyarrowLayerArn`; a layer of
    another region is an error (layers are regional; the function would fail to deploy)."""
    by_region = validate.optional(values, "pyarrowLayerArns", _layer_arns, where, {})
    if region and region in by_region:
        return by_region[region]
    arn = validate.optional(values, "pyarrowLayerArn", _layer_arn, where, None)
    if arn and region:
        layer_region = LAYER_ARN.match(arn)["region"]  # type: ignore[index]
        if layer_region != region:
            raise validate.fail(
                f"{where}.pyarrowLayerArn",
                f"the layer is in {layer_region} but the stage is in {region}; layers are regional, "
                f"give one per region in pyarrowLayerArns",
            )
    return arn


def _layer_arns(value: Any, where: str) -> dict[str, str]:
    entries = validate.mapping(value, where)
    checked = {}
    for region, arn in entries.items():
        validate.region(region, f"{where} key")
        checked[region] = _layer_arn(arn, f"{where}.{region}")
        layer_region = LAYER_ARN.match(checked[region])["region"]  # type: ignore[index]
        if layer_region != region:
            raise validate.fail(f"{where}.{region}", f"the layer ARN is in {layer_region}; layers are regional")
    return checked


def _notifier(value: Any, where: str, config_file: str | None) -> Notifier:
    values = validate.section(value, NOTIFIER_KEYS, where)
    secret = validate.optional(values, "secretArn", lambda v, w: _matching(v, w, SECRET_ARN, "a Secrets Manager secret ARN"),
                               where, None)
    parameter = validate.optional(values, "parameterName",
                                  lambda v, w: _matching(v, w, PARAMETER_NAME, "an SSM parameter name"), where, None)
    if (secret is None) == (parameter is None):
        raise validate.fail(where, "give exactly one of secretArn (Secrets Manager) and parameterName (SSM SecureString): "
                                   "where the webhook URL is kept, never the URL itself")
    destination = validate.optional(values, "destination", validate.string, where, None)
    if destination is not None:
        names = load_config(config_file).alerts.names if config_file else ()
        if destination not in names:
            raise validate.fail(f"{where}.destination", f"{destination!r} is not a destination of the config file's "
                                                        f"alerts: section ({', '.join(names) or 'it has none'})")
    return Notifier(
        secret_arn=secret, parameter_name=parameter,
        key_arn=validate.optional(values, "keyArn", lambda v, w: _matching(v, w, KEY_ARN, "a KMS key ARN"), where, None),
        destination=destination,
        min_severity=validate.optional(values, "minSeverity", parse_severity, where, "Info"),
    )


def _matching(value: Any, where: str, pattern: re.Pattern[str], what: str) -> str:
    text = validate.string(value, where)
    if not pattern.match(text):
        raise validate.fail(where, f"expected {what}, got {text!r}")
    return text


def _config_file(value: Any, where: str) -> str:
    """An existing config file inside the project directory that the CLI would accept."""
    text = validate.string(value, where)
    path = (PROJECT_DIR / text).resolve()
    if not path.is_relative_to(PROJECT_DIR):
        raise validate.fail(
            where, f"{text!r} is outside the project directory {PROJECT_DIR}; the Lambda bundle only takes files inside it"
        )
    if not path.is_file():
        raise validate.fail(where, f"{text!r} does not exist; give a path relative to {PROJECT_DIR}")
    try:
        load_config(path)
    except UserError as error:
        raise validate.fail(where, f"{text}: {error}") from None
    return str(path)
