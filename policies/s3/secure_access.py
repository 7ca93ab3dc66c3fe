"""S3 bucket policy denies requests that do not use TLS (aws:SecureTransport = false)."""

from __future__ import annotations

from typing import Any

from policies.helpers import as_list, statements

BOOL_OPERATORS = ("Bool", "BoolIfExists")


def denies_insecure_transport(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition") or {}
    for operator in BOOL_OPERATORS:
        clause = condition.get(operator) if isinstance(condition, dict) else None
        # Condition key names are case-insensitive in IAM (AWS:SecureTransport is the same key).
        values = [v for key, v in (clause or {}).items() if str(key).lower() == "aws:securetransport"] \
            if isinstance(clause, dict) else []
        if any(str(value).lower() == "false" for found in values for value in as_list(found)):
            return True
    return False


def policy(resource: dict[str, Any]) -> bool:
    return any(denies_insecure_transport(statement) for statement in statements(resource, "Deny"))


def reason(resource: dict[str, Any]) -> str:
    if not resource.get("Policy"):
        return "no bucket policy, so plain-HTTP requests are allowed"
    return "bucket policy has no Deny statement for aws:SecureTransport = false"
