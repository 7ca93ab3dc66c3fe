"""The `posture:` section of the Bucketwatch configuration file, validated.

    posture:
      severity_threshold: medium        # FAILs below it do not fail `check`/`scan` (default: info)
      cross_account_allowlist: ["111122223333"]
      disabled_policies: [BW.S3.ObjectLock]
      policy_dirs: [my_policies/]       # Panther-format .py + .yml, loaded beside the built-ins
      synth_trails_complete: false      # templates hold every trail (no org trail elsewhere)
      template_assume_aws_defaults: true  # absent settings get S3's defaults for new buckets
      suppressions:
        - policy: BW.S3.Logging         # our id or Panther id; globs allowed
          resource: "LogBucket*"        # logical id, construct path, ARN or name; globs allowed
          reason: "access-log bucket cannot log to itself"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from detectors.common.errors import UserError
from detectors.common.organization import OrganizationSettings
from detectors.common.severity import parse_severity

MIN_REASON = 10
_ACCOUNT = re.compile(r"^\d{12}$")
_KEYS = {
    "severity_threshold", "cross_account_allowlist", "disabled_policies", "policy_dirs",
    "synth_trails_complete", "template_assume_aws_defaults", "suppressions",
}


@dataclass(frozen=True)
class Suppression:
    policy: str
    resource: str
    reason: str
    origin: str = "config"

    def matches(self, policy_ids: tuple[str, ...], names: tuple[str, ...]) -> bool:
        return any(fnmatchcase(p, self.policy) for p in policy_ids if p) and any(
            fnmatchcase(n, self.resource) for n in names if n
        )


@dataclass
class PostureSettings:
    severity_threshold: str = "Info"
    cross_account_allowlist: list[str] = field(default_factory=list)
    disabled_policies: list[str] = field(default_factory=list)
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


def _string_list(section: dict[str, Any], key: str) -> list[str]:
    value = section.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise UserError(f"posture.{key} must be a list of strings")
    return [str(v) for v in value]


def _bool(section: dict[str, Any], key: str, default: bool) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise UserError(f"posture.{key} must be true or false, got {value!r}")
    return value


def check_reason(reason: Any, where: str) -> str:
    if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON:
        raise UserError(f"{where}: a suppression needs a reason of at least {MIN_REASON} characters saying why")
    return reason.strip()


def _suppression(entry: Any, index: int) -> Suppression:
    where = f"posture.suppressions[{index}]"
    if not isinstance(entry, dict):
        raise UserError(f"{where} must be a mapping with policy, resource and reason")
    unknown = set(entry) - {"policy", "resource", "reason"}
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; expected policy, resource, reason")
    policy = entry.get("policy")
    if not isinstance(policy, str) or not policy:
        raise UserError(f"{where}: 'policy' (a policy id or glob) is required")
    resource = entry.get("resource", "*")
    if not isinstance(resource, str) or not resource:
        raise UserError(f"{where}: 'resource' must be a non-empty glob")
    return Suppression(policy, resource, check_reason(entry.get("reason"), where))


def parse_posture(section: dict[str, Any] | None) -> PostureSettings:
    """Validated settings from the `posture:` section ({} or None gives the defaults)."""
    section = section or {}
    if not isinstance(section, dict):
        raise UserError("posture section must be a mapping")
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise UserError(f"posture: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(_KEYS))}")
    allowlist = _string_list(section, "cross_account_allowlist")
    bad = [a for a in allowlist if not _ACCOUNT.match(a)]
    if bad:
        raise UserError(f"posture.cross_account_allowlist: not 12-digit account ids: {', '.join(bad)}")
    suppressions = section.get("suppressions") or []
    if not isinstance(suppressions, list):
        raise UserError("posture.suppressions must be a list")
    return PostureSettings(
        severity_threshold=parse_severity(section.get("severity_threshold", "info"), "posture.severity_threshold"),
        cross_account_allowlist=allowlist,
        disabled_policies=_string_list(section, "disabled_policies"),
        policy_dirs=_string_list(section, "policy_dirs"),
        synth_trails_complete=_bool(section, "synth_trails_complete", False),
        template_assume_aws_defaults=_bool(section, "template_assume_aws_defaults", True),
        suppressions=[_suppression(entry, i) for i, entry in enumerate(suppressions)],
    )


def load_settings(config_path: str | None) -> PostureSettings:
    """Posture settings from the Bucketwatch config file at `config_path` (defaults without one),
    with the organization from its `organization:` section and BUCKETWATCH_ORGANIZATION."""
    from pathlib import Path

    from detectors.common.config_file import load_config
    from detectors.common.organization import organization_from_environment

    config = load_config(config_path)
    settings: PostureSettings = config.posture
    settings.organization = organization_from_environment(config.organization)
    if config_path:  # policy directories are relative to the file that names them
        base = Path(config_path).parent
        settings.policy_dirs = [str(base / d) for d in settings.policy_dirs]
    return settings
