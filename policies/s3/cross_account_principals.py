"""S3 bucket policy allows no principal from another account unless the account is allowlisted
or inside the organization.

Reads `cross_account_allowlist` (account ids, and CloudFront origin access identities) and
`organization_accounts` (the organization's accounts and trusted accounts; empty when the
organization is unknown) from the configuration. A CloudFront origin access identity is not an
account: its ARN (`arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E...`) does not
name the account that owns it, so it is allowed when allowlisted (by ARN or id) or defined in the
bucket's own stack (a `${...}` token), and UNKNOWN otherwise.
"""

from __future__ import annotations

import re
from typing import Any

from policies.helpers import CannotDecide, as_list, each_statement, known, require

ACCOUNT_ID = re.compile(r"^\d{12}$")
OAI_PREFIX = "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity "


def principal_account(value: str) -> str | None:
    """The account a principal string belongs to; None for '*' (public, judged elsewhere)."""
    if value == "*":
        return None
    if ACCOUNT_ID.match(value):
        return value
    parts = value.split(":")
    if value.startswith("arn:") and len(parts) >= 6 and parts[2] in ("iam", "sts") and ACCOUNT_ID.match(parts[4]):
        return parts[4]
    if value.startswith("arn:") and len(parts) >= 6 and parts[2] in ("iam", "sts") and "${" in parts[4]:
        return parts[4]  # a deploy-time account token
    raise CannotDecide(f"cannot tell which account principal {value!r} belongs to")


def _statement_principals(statement: dict[str, Any]) -> list[str]:
    principal = known(statement.get("Principal"))
    if not isinstance(principal, dict):
        return []  # "*" is public access, not cross-account: PrincipalRestrictions judges it
    return [str(known(value)) for value in as_list(known(principal.get("AWS")))]


def _outsiders(resource: dict[str, Any], config: dict[str, Any]) -> tuple[set[str], set[str], CannotDecide | None]:
    """(foreign accounts, unlisted origin access identities, first undecided statement)."""
    allowed = {str(a) for a in config.get("cross_account_allowlist") or []}
    allowed |= {str(a) for a in config.get("organization_accounts") or []}
    own = resource.get("AccountId")
    accounts: set[str] = set()
    identities: set[str] = set()
    results, undecided = each_statement(resource, "Allow", _statement_principals)
    for _, principals in results:
        for value in principals:
            if value.startswith(OAI_PREFIX):
                oai = value[len(OAI_PREFIX):]
                if not (value in allowed or oai in allowed or "${" in oai):
                    identities.add(value)
                continue
            try:
                account = principal_account(value)
            except CannotDecide as exc:
                undecided = undecided or exc
                continue
            if account and account != own and account not in allowed:
                accounts.add(account)
    return accounts, identities, undecided


def foreign_accounts(resource: dict[str, Any], config: dict[str, Any]) -> list[str]:
    accounts, identities, undecided = _outsiders(resource, config)
    if accounts:
        require(resource, "AccountId")
        own = resource.get("AccountId")
        if not own:
            raise CannotDecide("the bucket's own account id is not known")
        if not ACCOUNT_ID.match(str(own)):
            # An environment-agnostic stack: it may be deployed into one of these accounts.
            raise CannotDecide(f"the bucket's account is only known at deploy time, so whether "
                               f"{', '.join(sorted(accounts))} is another account cannot be told")
        return sorted(accounts)
    if identities:
        raise CannotDecide(f"CloudFront origin access identity {', '.join(sorted(i[len(OAI_PREFIX):] for i in identities))} "
                           "is not an account, and its ARN does not name the account that owns it; list it in "
                           "posture.cross_account_allowlist if it is yours")
    if undecided is not None:
        raise undecided
    return []


def policy(resource: dict[str, Any], config: dict[str, Any]) -> bool:
    return not foreign_accounts(resource, config)


def reason(resource: dict[str, Any], config: dict[str, Any]) -> str:
    where = "outside the organization and the allowlist" if config.get("organization_accounts") else "not in the allowlist"
    return f"bucket policy allows principals of account(s) {where}: {', '.join(foreign_accounts(resource, config))}"
