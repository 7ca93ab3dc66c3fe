"""The `posture:` section of the Bucketwatch configuration file, validated.

    posture:
      pack: baseline                    # which policies run: baseline (default), strict, or a pack file
      policies: [BW.S3.Versioning]      # run only these (ids, Panther ids or globs), instead of the pack
      disabled_policies: [BW.S3.ObjectLock]   # never run these (ids, Panther ids or globs)
      severity_threshold: medium        # FAILs below it do not fail `check`/`scan` (default: info)
      cross_account_allowlist: ["111122223333"]   # accounts, and CloudFront origin access identities
      policy_dirs: [my_policies/]       # Panther-format .py + .yml, loaded beside the built-ins
      synth_trails_complete: false      # templates hold every trail (no org trail elsewhere)
      template_assume_aws_defaults: true  # absent settings get S3's defaults for new buckets
      suppressions:
        - policy: BW.S3.Logging         # our id or Panther id; globs allowed
          resource: "LogBucket*"        # logical id, construct path, ARN or name; globs allowed
          reason: "access-log bucket cannot log to itself"
          owner: platform-team          # optional: who answers for it
          expires: 2026-12-31           # optional: after this day it no longer applies

One suppression model for every way of writing one: this file, a resource's template metadata
(`Metadata.bucketwatch.suppressions`) and CDK's `Validations.of(c).acknowledge(...)` all become
`Suppression`s, which the runner applies and reports (used, unused, expired, naming no policy).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from detectors.common import validate
from detectors.common.errors import UserError
from detectors.common.organization import OrganizationSettings
from detectors.common.severity import parse_severity

MIN_REASON = 10
DEFAULT_PACK = "baseline"
_KEYS = (
    "pack", "policies", "disabled_policies", "severity_threshold", "cross_account_allowlist", "policy_dirs",
    "synth_trails_complete", "template_assume_aws_defaults", "suppressions",
)
SUPPRESSION_KEYS = ("policy", "resource", "reason", "owner", "expires")
CONFIG, METADATA, CDK = "config", "resource metadata", "cdk acknowledgement"
OAI_ARN = "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity "
_OAI_ID = re.compile(r"^E[A-Z0-9]{6,}$")


@dataclass(frozen=True, eq=False)
class Suppression:
    """An acknowledged finding: which policy (id, Panther id or glob), on which resource, why.

    Equality is identity: the runner counts, per suppression, the findings it suppressed."""

    policy: str
    resource: str
    reason: str
    origin: str = CONFIG  # CONFIG | METADATA | CDK
    owner: str | None = None
    expires: dt.date | None = None
    where: str = ""  # where it is written: "posture.suppressions[2]", "<file>: <logical id>", a construct path
    panther_ids: bool = True  # whether `policy` may also name a policy by its Panther id (CDK: rule names only)
    problem: str | None = None  # set when it can never apply (reported, never used), e.g. a mis-prefixed CDK id

    def names_policy(self, policy_id: str, panther_id: str | None) -> bool:
        ids = (policy_id, panther_id) if self.panther_ids else (policy_id,)
        return any(fnmatchcase(i, self.policy) for i in ids if i)

    def matches(self, policy_ids: tuple[str, ...], names: tuple[str, ...]) -> bool:
        return self.names_policy(*policy_ids[:2]) and any(fnmatchcase(n, self.resource) for n in names if n)

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "resource": self.resource, "reason": self.reason, "origin": self.origin,
                "owner": self.owner, "expires": self.expires.isoformat() if self.expires else None,
                "where": self.where}


@dataclass
class PostureSettings:
    pack: str = DEFAULT_PACK
    policies: list[str] = field(default_factory=list)  # only these, instead of the pack
    disabled_policies: list[str] = field(default_factory=list)
    severity_threshold: str = "Info"
    cross_account_allowlist: list[str] = field(default_factory=list)
    policy_dirs: list[str] = field(default_factory=list)
    synth_trails_complete: bool = False
    template_assume_aws_defaults: bool = True
    suppressions: list[Suppression] = field(default_factory=list)
    # Not a posture key: the config file's `organization:` section (plus BUCKETWATCH_ORGANIZATION,
    # plus the accounts AWS Organizations lists in `scan --organization`).
    organization: OrganizationSettings = field(default_factory=OrganizationSettings)

    def policy_config(self) -> dict[str, Any]:
        """What policies taking a `config` argument see. `organization_accounts` is empty when the
        organization is unknown; its accounts and trusted accounts are not "another account"."""
        internal = (*self.organization.accounts, *self.organization.trusted_accounts) if self.organization.known else ()
        return {"cross_account_allowlist": list(self.cross_account_allowlist),
                "organization_accounts": list(dict.fromkeys(internal))}


def check_reason(reason: Any, where: str) -> str:
    if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON:
        raise validate.fail(where, f"a suppression needs a reason of at least {MIN_REASON} characters saying why, "
                                   f"got {reason!r}")
    return reason.strip()


def expiry_date(value: Any, where: str) -> dt.date:
    """A day (YAML date or "YYYY-MM-DD"); a suppression stops applying after it."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise validate.fail(where, f"expected a date like 2026-12-31, got {value!r}")


def suppression(entry: Any, where: str, origin: str = CONFIG, resource: str | None = None,
                id_key: str = "policy") -> Suppression:
    """One suppression from a mapping: the config file's (`policy`, `resource` glob) or a
    resource's template metadata (`id`, bound to that `resource`)."""
    allowed = (id_key, "reason", "owner", "expires", *(() if resource else ("resource",)))
    entry = validate.section(entry, allowed, where)
    return Suppression(
        policy=validate.string(entry.get(id_key), f"{where}.{id_key}").strip(),
        resource=resource or validate.optional(entry, "resource", validate.string, where, "*"),
        reason=check_reason(entry.get("reason"), f"{where}.reason"),
        origin=origin,
        owner=validate.optional(entry, "owner", validate.string, where, None),
        expires=validate.optional(entry, "expires", expiry_date, where, None),
        where=where,
    )


def allowlisted(value: Any, where: str) -> str:
    """A 12-digit account id, or a CloudFront origin access identity (its ARN or its E... id)."""
    if isinstance(value, str) and (value.startswith(OAI_ARN) or _OAI_ID.match(value)):
        return value
    try:
        return validate.account_id(value, where)
    except UserError:
        raise validate.fail(where, f"{value!r} is neither a 12-digit account id nor a CloudFront origin access "
                                   f"identity ({OAI_ARN}E...)") from None


def _ids(value: Any, where: str) -> list[str]:
    return validate.listed(value, where, lambda item, at: validate.string(str(item), at))


def parse_posture(section: dict[str, Any] | None) -> PostureSettings:
    """Validated settings from the `posture:` section ({} or None gives the defaults)."""
    where = "posture"
    section = validate.section(section, _KEYS, where)
    return PostureSettings(
        pack=validate.optional(section, "pack", validate.string, where, DEFAULT_PACK),
        policies=validate.optional(section, "policies", _ids, where, []),
        disabled_policies=validate.optional(section, "disabled_policies", _ids, where, []),
        severity_threshold=parse_severity(section.get("severity_threshold", "info"), f"{where}.severity_threshold"),
        cross_account_allowlist=validate.optional(
            section, "cross_account_allowlist", lambda v, at: validate.listed(v, at, allowlisted), where, []),
        policy_dirs=validate.optional(section, "policy_dirs", validate.listed, where, []),
        synth_trails_complete=validate.optional(section, "synth_trails_complete", validate.boolean, where, False),
        template_assume_aws_defaults=validate.optional(section, "template_assume_aws_defaults", validate.boolean,
                                                       where, True),
        suppressions=validate.optional(
            section, "suppressions",
            lambda v, at: [suppression(entry, f"{at}[{i}]") for i, entry in enumerate(validate.listed(v, at, _any))],
            where, []),
    )


def _any(value: Any, where: str) -> Any:
    return value


def load_settings(config_path: str | None) -> PostureSettings:
    """Posture settings from the Bucketwatch config file at `config_path` (defaults without one),
    with the organization from its `organization:` section and BUCKETWATCH_ORGANIZATION."""
    from pathlib import Path

    from detectors.common.config_file import load_config
    from detectors.common.organization import organization_from_environment

    config = load_config(config_path)
    settings: PostureSettings = config.posture
    settings.organization = organization_from_environment(config.organization)
    if config_path:  # policy directories and pack files are relative to the file that names them
        base = Path(config_path).parent
        settings.policy_dirs = [str(base / d) for d in settings.policy_dirs]
        if settings.pack.endswith((".yml", ".yaml")):
            settings.pack = str(base / settings.pack)
    return settings
