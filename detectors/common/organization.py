"""What Bucketwatch knows of the organization: which accounts are inside it.

Detections and policies use it to tell an internal cross-account grant or copy from one to an
account outside the organization. It comes from the config file's `organization:` section, from
the deployed stack, or from AWS Organizations (`bucketwatch scan --organization`).

The deployed stack writes the CDK context's organization as a JSON file into the Lambda code
asset and names it in ``BUCKETWATCH_ORGANIZATION_FILE`` (relative to the function's working
directory, the asset's root): a list of a thousand accounts does not fit Lambda's 4 KB of
environment variables. ``BUCKETWATCH_ORGANIZATION`` holding the same JSON is still read (tests,
the demo, stacks deployed before the file). Either is read once per process: a Lambda reads its
settings at cold start, not per invocation.

    organization:
      id: o-a1b2c3d4e5                    # optional
      accounts: ["111111111111", ...]     # every account of the organization, central included
      trusted_accounts: ["444455556666"]  # outside the organization, yet not external (partners)
      audit_role_name: BucketwatchAudit   # the read-only role the central scan assumes in members
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from detectors.common import validate
from detectors.common.errors import UserError

SECTION = "organization"
ENVIRONMENT_VARIABLE = "BUCKETWATCH_ORGANIZATION"  # the settings as JSON
FILE_VARIABLE = "BUCKETWATCH_ORGANIZATION_FILE"  # the path of a JSON file holding them (what infra sets)
BUNDLED_FILE_NAME = "bucketwatch-organization.json"  # that file in the Lambda code asset
KEYS = ("id", "accounts", "trusted_accounts", "audit_role_name")


@dataclass(frozen=True)
class OrganizationSettings:
    organization_id: str | None = None
    accounts: tuple[str, ...] = ()
    trusted_accounts: tuple[str, ...] = ()
    audit_role_name: str | None = None

    @property
    def known(self) -> bool:
        """Whether the organization's accounts are known (else nothing can be called external)."""
        return bool(self.accounts)

    def is_internal(self, account_id: str) -> bool:
        return account_id in self.accounts or account_id in self.trusted_accounts

    def is_external(self, account_id: str) -> bool | None:
        """True outside the organization and the trusted list; None when the organization is unknown."""
        if not self.known:
            return None
        return not self.is_internal(account_id)

    def with_accounts(self, accounts: Iterable[str]) -> OrganizationSettings:
        """These settings with `accounts` added (e.g. the accounts AWS Organizations lists)."""
        return replace(self, accounts=tuple(dict.fromkeys((*self.accounts, *accounts))))

    def to_json(self) -> str:
        """The section as JSON (what infra puts in BUCKETWATCH_ORGANIZATION)."""
        data = {"id": self.organization_id, "accounts": list(self.accounts),
                "trusted_accounts": list(self.trusted_accounts), "audit_role_name": self.audit_role_name}
        return json.dumps({k: v for k, v in data.items() if v})


def parse_organization(value: Mapping[str, Any] | None, where: str = SECTION) -> OrganizationSettings:
    """Validated settings from the `organization:` section (None or {} gives "unknown")."""
    values = validate.section(value, KEYS, where)
    accounts = validate.optional(values, "accounts", _accounts, where, [])
    trusted = validate.optional(values, "trusted_accounts", _accounts, where, [])
    return OrganizationSettings(
        organization_id=validate.optional(values, "id", validate.organization_id, where, None),
        accounts=tuple(accounts),
        trusted_accounts=tuple(trusted),
        audit_role_name=validate.optional(values, "audit_role_name", validate.string, where, None),
    )


def _accounts(value: Any, where: str) -> list[str]:
    return validate.listed(value, where, validate.account_id, unique=True)


def deployed_organization() -> OrganizationSettings | None:
    """The deployed stack's organization (BUCKETWATCH_ORGANIZATION_FILE or BUCKETWATCH_ORGANIZATION);
    None when neither is set: single-account mode."""
    path, text = os.environ.get(FILE_VARIABLE), os.environ.get(ENVIRONMENT_VARIABLE)
    if path and text:
        raise UserError(f"{FILE_VARIABLE} and {ENVIRONMENT_VARIABLE} are both set; set one of them")
    if path:
        path = _in_code_root(path)
        return _settings_file(path, _identity(path))
    if text:
        return _settings_json(text, ENVIRONMENT_VARIABLE)
    return None


def _in_code_root(path: str) -> str:
    """A relative name is the code asset's file: Lambda's LAMBDA_TASK_ROOT (its working directory
    too, but a handler may change directory), else the working directory (CLI, tests)."""
    root = os.environ.get("LAMBDA_TASK_ROOT")
    return os.path.join(root, path) if root and not os.path.isabs(path) else path


def _identity(path: str) -> tuple[int, int, int]:
    """What tells one file version from another without reading it: inode, size, modification time.
    In Lambda the file never changes, so it is read once; a CLI or demo that rewrites it reads it again."""
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        raise UserError(f"{FILE_VARIABLE}: {path} does not exist") from None
    except OSError as exc:
        raise UserError(f"{FILE_VARIABLE}: cannot read {path}: {exc.strerror or exc}") from None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


@functools.cache
def _settings_file(path: str, identity: tuple[int, int, int]) -> OrganizationSettings:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{FILE_VARIABLE}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    where = f"{FILE_VARIABLE} ({path})"
    settings = _settings_json(text, where)
    if not settings.known:  # the stack writes the file only for an organization, central included
        raise validate.fail(where, "lists no accounts")
    return settings


@functools.cache
def _settings_json(text: str, where: str) -> OrganizationSettings:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise validate.fail(where, "is not JSON") from None
    return parse_organization(data, where)


def organization_from_environment(base: OrganizationSettings | None = None) -> OrganizationSettings:
    """`base` (the config file's section) with the deployed stack's organization added, if any."""
    base = base or OrganizationSettings()
    deployed = deployed_organization()
    if deployed is None:
        return base
    return OrganizationSettings(
        organization_id=base.organization_id or deployed.organization_id,
        accounts=tuple(dict.fromkeys((*base.accounts, *deployed.accounts))),
        trusted_accounts=tuple(dict.fromkeys((*base.trusted_accounts, *deployed.trusted_accounts))),
        audit_role_name=base.audit_role_name or deployed.audit_role_name,
    )
