"""S3 bucket policy allows no principal from another account unless the account is allowlisted
or inside the organization.

Reads `cross_account_allowlist` (account ids) and `organization_accounts` (the organization's
accounts and trusted accounts; empty when the organization is unknown) from the configuration.
"""

from __future__ import annotations

import re
from typing import Any

from policies.helpers import CannotDecide, as_list, require, statements

ACCOUNT_ID = re.compile(r"^\d{12}$")


def principal_account(value: str) -> str | None:
    """The account a principal string belongs to; None for '*' (public, judged elsewhere)."""
    if value == "*":
        return None
    if ACCOUNT_ID.match(value):
        return value
    parts = value.split(":")
    if value.startswith("arn:") and len(parts) >= 6 and parts[2] in ("iam", "sts"):
        return parts[4]
    raise CannotDecide(f"cannot tell which account principal {value!r} belongs to")


def foreign_accounts(resource: dict[str, Any], config: dict[str, Any]) -> list[str]:
    allowed = {str(a) for a in config.get("cross_account_allowlist") or []}
    allowed |= {str(a) for a in config.get("organization_accounts") or []}
    own = resource.get("AccountId")
    found: set[str] = set()
    for statement in statements(resource, "Allow"):
        principal = statement.get("Principal")
        if not isinstance(principal, dict):
            continue  # "*" is public access, not cross-account: PrincipalRestrictions judges it
        for value in as_list(principal.get("AWS")):
            account = principal_account(str(value))
            if account and account != own and account not in allowed:
                found.add(account)
    if found:
        require(resource, "AccountId")
        if not own:
            raise CannotDecide("the bucket's own account id is not known")
        if not ACCOUNT_ID.match(str(own)):
            # An environment-agnostic stack: it may be deployed into one of these accounts.
            raise CannotDecide(f"the bucket's account is only known at deploy time, so whether "
                               f"{', '.join(sorted(found))} is another account cannot be told")
    return sorted(found)


def policy(resource: dict[str, Any], config: dict[str, Any]) -> bool:
    return not foreign_accounts(resource, config)


def reason(resource: dict[str, Any], config: dict[str, Any]) -> str:
    where = "outside the organization and the allowlist" if config.get("organization_accounts") else "not in the allowlist"
    return f"bucket policy allows principals of account(s) {where}: {', '.join(foreign_accounts(resource, config))}"
