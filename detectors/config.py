"""The `detections:` section of the Bucketwatch config file, validated into typed settings.

    detections:
      known_good_access:            # who may read which buckets (globs); anyone else alerts
        - bucket: "finance-*"
          principals: ["arn:aws:sts::*:assumed-role/finance-etl/*"]
      ip_allowlist:                 # where requests may come from; optional bucket filter
        - cidrs: ["10.0.0.0/8", "203.0.113.0/24"]
          buckets: ["internal-*"]
      rules:                        # per-rule overrides, by rule id
        AWS.S3.ServerAccess.Error: {threshold: 10, dedup_period_minutes: 60}
        Bucketwatch.S3.MassGetObject: {threshold: 500}
        AWS.S3.ServerAccess.Unauthenticated: {enabled: true}
      cloudtrail_buckets: ["org-trail-logs"]   # buckets known to hold CloudTrail logs

Configuring `known_good_access` or `ip_allowlist` enables the rule that uses it. Without them,
those rules stay disabled and carry Panther's example values only so their tests can run.
Errors name the offending key path, e.g. `detections.ip_allowlist[1].cidrs[0]`.

Which buckets hold CloudTrail logs (`DetectionSettings.cloudtrail_buckets`, read by
AWS.CloudTrail.ShortLifecycle through `bucketwatch_helpers.is_cloudtrail_bucket`) comes from this
section's `cloudtrail_buckets`, the deployed stack's BUCKETWATCH_TRAIL_BUCKETS (its own trail's
bucket), and the lake (detectors.baseline.trail_buckets); the rules add the trails they see.

Rules also see the organization (`DetectionSettings.organization`: the config file's
`organization:` section plus the deployed stack's BUCKETWATCH_ORGANIZATION, see
`load_detection_settings`), so the cross-account rules treat its accounts as internal.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from detectors.common.errors import UserError
from detectors.common.organization import OrganizationSettings, organization_from_environment
from detectors.common.severity import parse_severity

KNOWN_GOOD_RULE = "AWS.S3.ServerAccess.UnknownRequester"
IP_ALLOWLIST_RULE = "AWS.S3.ServerAccess.IPWhitelist"
TRAIL_BUCKETS_VARIABLE = "BUCKETWATCH_TRAIL_BUCKETS"  # set by infra for the Lambdas: a JSON list
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class KnownGoodAccess:
    bucket: str
    principals: tuple[str, ...]


@dataclass(frozen=True)
class IPAllowlist:
    cidrs: tuple[Network, ...]
    buckets: tuple[str, ...] = ()  # empty: every bucket


@dataclass(frozen=True)
class RuleOverride:
    enabled: bool | None = None
    severity: str | None = None
    threshold: int | None = None
    dedup_period_minutes: int | None = None


# Panther's example values: used only while the user has not configured these detections
# (the rules are then disabled), so Panther's own test cases for those ids keep passing.
EXAMPLE_KNOWN_GOOD = (
    KnownGoodAccess(
        bucket="panther-bootstrap-processeddata-*",
        principals=(
            "arn:aws:sts::*:assumed-role/panther-log-analysis-AthenaApiFunctionRole-*/panther-athena-api",
            "arn:aws:sts::*:assumed-role/panther-snowflake-logprocessing-role-*/snowflake",
        ),
    ),
)
EXAMPLE_IP_ALLOWLIST = (
    IPAllowlist(cidrs=tuple(ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))),
)


@dataclass(frozen=True)
class DetectionSettings:
    known_good_access: tuple[KnownGoodAccess, ...] = EXAMPLE_KNOWN_GOOD
    ip_allowlist: tuple[IPAllowlist, ...] = EXAMPLE_IP_ALLOWLIST
    rules: Mapping[str, RuleOverride] = field(default_factory=dict)
    # Unknown by default: the cross-account rules then call every other account external.
    organization: OrganizationSettings = field(default_factory=OrganizationSettings)
    # Not from the config file: per rule id and dedup string, a threshold learned from the lake
    # (the AccessError baseline of detectors.baseline.access_errors); empty = the rules' own.
    group_thresholds: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # Buckets known to hold CloudTrail logs (config, the deployed stack's trail, the lake).
    cloudtrail_buckets: tuple[str, ...] = ()


_active = DetectionSettings()


def activate(settings: DetectionSettings) -> None:
    """Make `settings` the ones rules read through `bucketwatch_helpers.settings()`."""
    global _active
    _active = settings


def active() -> DetectionSettings:
    return _active


@contextmanager
def activated(settings: DetectionSettings) -> Iterator[DetectionSettings]:
    """`settings` active inside the block, whatever was active before is restored after it."""
    previous = _active
    activate(settings)
    try:
        yield settings
    finally:
        activate(previous)


def load_detection_settings(path: str | None) -> DetectionSettings:
    """The config file's `detections:` section (defaults without a file), with the organization
    from its `organization:` section and BUCKETWATCH_ORGANIZATION."""
    from detectors.common.config_file import load_config

    config = load_config(path)
    settings = config.detections
    buckets = (*settings.cloudtrail_buckets, *trail_buckets_from_environment())
    return replace(settings, organization=organization_from_environment(config.organization),
                   cloudtrail_buckets=tuple(dict.fromkeys(buckets)))


def trail_buckets_from_environment() -> list[str]:
    """BUCKETWATCH_TRAIL_BUCKETS: the deployed stack's trail bucket(s), a JSON list of names."""
    text = os.environ.get(TRAIL_BUCKETS_VARIABLE)
    if not text:
        return []
    try:
        names = json.loads(text)
    except ValueError:
        raise UserError(f"{TRAIL_BUCKETS_VARIABLE}: expected a JSON list of bucket names, got {text[:80]!r}") from None
    return _bucket_names(names, TRAIL_BUCKETS_VARIABLE)


def parse_detections(section: Mapping[str, Any] | None) -> DetectionSettings:
    """Validate the raw `detections:` mapping; raises UserError naming the bad key."""
    section = section or {}
    _expect_mapping(section, "detections")
    allowed = {"known_good_access", "ip_allowlist", "rules", "cloudtrail_buckets"}
    _reject_unknown(section, allowed, "detections")
    overrides = _parse_rules(section.get("rules"), "detections.rules")
    known_good = EXAMPLE_KNOWN_GOOD
    if "known_good_access" in section:
        known_good = _parse_known_good(section["known_good_access"], "detections.known_good_access")
        overrides.setdefault(KNOWN_GOOD_RULE, RuleOverride(enabled=True))
    allowlist = EXAMPLE_IP_ALLOWLIST
    if "ip_allowlist" in section:
        allowlist = _parse_allowlist(section["ip_allowlist"], "detections.ip_allowlist")
        overrides.setdefault(IP_ALLOWLIST_RULE, RuleOverride(enabled=True))
    buckets = _bucket_names(section.get("cloudtrail_buckets", []), "detections.cloudtrail_buckets")
    return DetectionSettings(known_good_access=known_good, ip_allowlist=allowlist, rules=overrides,
                             cloudtrail_buckets=tuple(buckets))


def _bucket_names(value: Any, path: str) -> list[str]:
    names = _expect_list(value, path)
    for i, name in enumerate(names):
        if not isinstance(name, str) or not BUCKET_NAME.match(name):
            raise UserError(f"{path}[{i}]: expected an S3 bucket name (3-63 lower-case letters, digits, "
                            f"dots and hyphens), got {name!r}")
    return list(dict.fromkeys(names))


def _parse_known_good(value: Any, path: str) -> tuple[KnownGoodAccess, ...]:
    entries = _expect_list(value, path)
    out = []
    for i, entry in enumerate(entries):
        where = f"{path}[{i}]"
        _expect_mapping(entry, where)
        _reject_unknown(entry, {"bucket", "principals"}, where)
        bucket = _expect_str(entry.get("bucket"), f"{where}.bucket")
        principals = _expect_list(entry.get("principals"), f"{where}.principals", non_empty=True)
        out.append(KnownGoodAccess(
            bucket=bucket,
            principals=tuple(_expect_str(p, f"{where}.principals[{j}]") for j, p in enumerate(principals)),
        ))
    return tuple(out)


def _parse_allowlist(value: Any, path: str) -> tuple[IPAllowlist, ...]:
    entries = _expect_list(value, path)
    out = []
    for i, entry in enumerate(entries):
        where = f"{path}[{i}]"
        _expect_mapping(entry, where)
        _reject_unknown(entry, {"cidrs", "buckets"}, where)
        cidrs = _expect_list(entry.get("cidrs"), f"{where}.cidrs", non_empty=True)
        networks = []
        for j, cidr in enumerate(cidrs):
            text = _expect_str(cidr, f"{where}.cidrs[{j}]")
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise UserError(f"{where}.cidrs[{j}]: '{text}' is not an IP network in CIDR notation "
                                "(e.g. 10.0.0.0/8 or 2001:db8::/32)") from None
        buckets = _expect_list(entry.get("buckets", []), f"{where}.buckets")
        out.append(IPAllowlist(
            cidrs=tuple(networks),
            buckets=tuple(_expect_str(b, f"{where}.buckets[{j}]") for j, b in enumerate(buckets)),
        ))
    return tuple(out)


def _parse_rules(value: Any, path: str) -> dict[str, RuleOverride]:
    if value is None:
        return {}
    _expect_mapping(value, path)
    out: dict[str, RuleOverride] = {}
    for rule_id, raw in value.items():
        where = f"{path}.{rule_id}"
        _expect_mapping(raw, where)
        _reject_unknown(raw, {"enabled", "severity", "threshold", "dedup_period_minutes"}, where)
        enabled = raw.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise UserError(f"{where}.enabled: expected true or false, got {enabled!r}")
        severity = raw.get("severity")
        if severity is not None:
            severity = parse_severity(severity, f"{where}.severity")
        out[str(rule_id)] = RuleOverride(
            enabled=enabled,
            severity=severity,
            threshold=_positive_int(raw.get("threshold"), f"{where}.threshold"),
            dedup_period_minutes=_positive_int(raw.get("dedup_period_minutes"), f"{where}.dedup_period_minutes"),
        )
    return out


def _positive_int(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{path}: expected a whole number of at least 1, got {value!r}")
    return value


def _expect_mapping(value: Any, path: str) -> None:
    if not isinstance(value, Mapping):
        raise UserError(f"{path}: expected a mapping, got {type(value).__name__}")


def _expect_list(value: Any, path: str, non_empty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        raise UserError(f"{path}: expected a list, got {'nothing' if value is None else type(value).__name__}")
    if non_empty and not value:
        raise UserError(f"{path}: must list at least one value")
    return value


def _expect_str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise UserError(f"{path}: expected a non-empty string, got {value!r}")
    return value


def _reject_unknown(mapping: Mapping[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(map(str, set(mapping) - allowed))
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}")
