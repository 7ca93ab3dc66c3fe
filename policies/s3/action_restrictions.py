"""S3 bucket policy does not allow every action ("s3:*" or "*")."""

from __future__ import annotations

from typing import Any

from policies.helpers import any_of, any_statement, matching_statements

WILDCARD_ACTIONS = ("*", "s3:*")


def allows_everything(statement: dict[str, Any]) -> bool:
    return any_of(statement.get("Action"), lambda action: str(action).lower() in WILDCARD_ACTIONS)


def policy(resource: dict[str, Any]) -> bool:
    return not any_statement(resource, "Allow", allows_everything)


def reason(resource: dict[str, Any]) -> str:
    count = len(matching_statements(resource, "Allow", allows_everything))
    return f"bucket policy has {count} Allow statement(s) with Action s3:* or *"
