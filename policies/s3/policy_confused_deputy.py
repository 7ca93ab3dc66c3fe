"""S3 bucket policy statements for AWS service principals name the source account or resource."""

from __future__ import annotations

from typing import Any

from policies.helpers import any_statement, known, matching_statements

SOURCE_KEYS = ("aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths", "aws:sourceowner")


def unprotected(statement: dict[str, Any]) -> bool:
    """A service principal allowed without a condition on who the service acts for."""
    principal = known(statement.get("Principal"))
    if not (isinstance(principal, dict) and principal.get("Service")):
        return False
    condition = known(statement.get("Condition")) or {}
    keys = {str(key).lower() for clause in condition.values() for key in (known(clause) or {})}
    return not keys & set(SOURCE_KEYS)


def policy(resource: dict[str, Any]) -> bool:
    return not any_statement(resource, "Allow", unprotected)


def reason(resource: dict[str, Any]) -> str:
    services = sorted({str(s["Principal"]["Service"]) for s in matching_statements(resource, "Allow", unprotected)})
    return f"service principal(s) {', '.join(services)} allowed without aws:SourceAccount/aws:SourceArn"
