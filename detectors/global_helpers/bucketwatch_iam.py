"""Reading resource policies as CloudTrail records them (importable by user packs too).

A policy arrives as a JSON object or as JSON text (S3's bucketPolicy is parsed, SQS's Policy
attribute and KMS's policy are text). These helpers answer two questions the rules ask:

- `open_statements(policy)`: which Allow statements let anyone in: a wildcard principal without
  a condition that pins callers to an address, network, account or organization;
- `granted_accounts(statement)`: which AWS accounts a statement lets in (principal ARNs and ids,
  and `aws:PrincipalAccount` conditions on a wildcard principal).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

ACCOUNT_ID = re.compile(r"^\d{12}$")
# Condition keys that pin a wildcard principal to known callers (policyuniverse's list, in short).
RESTRICTIVE_CONDITION_KEYS = frozenset({
    "aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceaccount", "aws:sourcearn",
    "aws:sourceorgid", "aws:sourceorgpaths", "aws:principalorgid", "aws:principalaccount",
    "aws:principalarn", "aws:userid", "aws:sourceowner", "aws:principalorgpaths",
    "aws:resourceorgid", "aws:resourceaccount", "kms:calleraccount", "kms:viaservice",
})
ACCOUNT_CONDITION_KEYS = frozenset({"aws:principalaccount"})


def policy_document(value: Any) -> Mapping[str, Any] | None:
    """The policy as a mapping (None for empty, unreadable or non-object policies)."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def statements(policy: Any) -> list[Mapping[str, Any]]:
    document = policy_document(policy)
    raw = document.get("Statement") if document is not None else None
    if isinstance(raw, Mapping):
        raw = [raw]
    return [s for s in raw or () if isinstance(s, Mapping)]


def allows(statement: Mapping[str, Any]) -> bool:
    return str(statement.get("Effect") or "").lower() == "allow"


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None]
    return []


def aws_principals(statement: Mapping[str, Any]) -> list[str]:
    """The AWS principals of a statement ("*" for `Principal: "*"`)."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return _values(principal.get("AWS")) + [v for v in _values(principal.get("CanonicalUser")) if v == "*"]
    return []


def wildcard(principal: str) -> bool:
    """`*`, or an ARN that names every account (`arn:aws:iam::*:root`)."""
    parts = principal.split(":")
    return principal == "*" or (principal.startswith("arn:") and len(parts) >= 5 and parts[4] == "*")


def _conditions(statement: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(lower-cased key, values) of every condition of the statement."""
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return []
    return [(str(key).lower(), _values(values)) for operator in condition.values() if isinstance(operator, Mapping)
            for key, values in operator.items()]


def _pins(key: str, values: list[str]) -> bool:
    """Whether a condition really narrows who may call (a wildcard or 0.0.0.0/0 does not)."""
    if key not in RESTRICTIVE_CONDITION_KEYS or not values:
        return False
    if any(v.strip() in ("*", "") for v in values):
        return False
    if key == "aws:sourceip":
        return not any(_everywhere(v) for v in values)
    return True


def _everywhere(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def open_to_everyone(statement: Mapping[str, Any]) -> bool:
    """An Allow statement for any principal that no condition pins down."""
    if not allows(statement) or not any(wildcard(p) for p in aws_principals(statement)):
        return False
    return not any(_pins(key, values) for key, values in _conditions(statement))


def open_statements(policy: Any) -> list[Mapping[str, Any]]:
    return [s for s in statements(policy) if open_to_everyone(s)]


def principal_account(principal: str) -> str | None:
    """The account an AWS principal belongs to (an account id, or an iam/sts ARN); None for
    wildcards and ids that do not say (unique ids such as AIDA...)."""
    if ACCOUNT_ID.match(principal):
        return principal
    parts = principal.split(":")
    if principal.startswith("arn:") and len(parts) >= 6 and parts[2] in ("iam", "sts") and ACCOUNT_ID.match(parts[4]):
        return parts[4]
    return None


def granted_accounts(statement: Mapping[str, Any]) -> set[str]:
    """The accounts an Allow statement lets in: named principals' accounts, and for a wildcard
    principal the accounts an `aws:PrincipalAccount` condition lists."""
    if not allows(statement):
        return set()
    principals = aws_principals(statement)
    accounts = {a for a in map(principal_account, principals) if a}
    if any(wildcard(p) for p in principals):
        accounts |= {v for key, values in _conditions(statement) if key in ACCOUNT_CONDITION_KEYS
                     for v in values if ACCOUNT_ID.match(v)}
    return accounts


def actions(statement: Mapping[str, Any]) -> list[str]:
    return _values(statement.get("Action"))
