"""S3 bucket policy denies requests that do not use TLS (aws:SecureTransport = false)."""

from __future__ import annotations

from typing import Any

from policies.helpers import any_of, any_statement, known

BOOL_OPERATORS = ("Bool", "BoolIfExists")


def denies_insecure_transport(statement: dict[str, Any]) -> bool:
    condition = known(statement.get("Condition")) or {}
    if not isinstance(condition, dict):
        return False
    for operator in BOOL_OPERATORS:
        clause = known(condition.get(operator))
        if not isinstance(clause, dict):
            continue
        # Condition key names are case-insensitive in IAM (AWS:SecureTransport is the same key).
        for key, values in clause.items():
            if str(key).lower() == "aws:securetransport" and any_of(values, lambda v: str(v).lower() == "false"):
                return True
    return False


def policy(resource: dict[str, Any]) -> bool:
    return any_statement(resource, "Deny", denies_insecure_transport)


def reason(resource: dict[str, Any]) -> str:
    if not resource.get("Policy"):
        return "no bucket policy, so plain-HTTP requests are allowed"
    return "bucket policy has no Deny statement for aws:SecureTransport = false"
