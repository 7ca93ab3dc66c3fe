"""S3 bucket policy statements for AWS service principals name the source account or resource."""

from __future__ import annotations

from typing import Any

from policies.helpers import statements

SOURCE_KEYS = ("aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths", "aws:sourceowner")


def unprotected(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for statement in statements(resource, "Allow"):
        principal = statement.get("Principal")
        if not (isinstance(principal, dict) and principal.get("Service")):
            continue
        keys = {key.lower() for clause in (statement.get("Condition") or {}).values() for key in (clause or {})}
        if not keys & set(SOURCE_KEYS):
            found.append(statement)
    return found


def policy(resource: dict[str, Any]) -> bool:
    return not unprotected(resource)


def reason(resource: dict[str, Any]) -> str:
    services = sorted({str(s["Principal"]["Service"]) for s in unprotected(resource)})
    return f"service principal(s) {', '.join(services)} allowed without aws:SourceAccount/aws:SourceArn"
