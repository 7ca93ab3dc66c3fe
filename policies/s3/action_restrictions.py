"""S3 bucket policy does not allow every action ("s3:*" or "*")."""

from __future__ import annotations

from typing import Any

from policies.helpers import as_list, statements

WILDCARD_ACTIONS = ("*", "s3:*")


def wildcard_statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for statement in statements(resource, "Allow")
        if any(str(action).lower() in WILDCARD_ACTIONS for action in as_list(statement.get("Action")))
    ]


def policy(resource: dict[str, Any]) -> bool:
    return not wildcard_statements(resource)


def reason(resource: dict[str, Any]) -> str:
    count = len(wildcard_statements(resource))
    return f"bucket policy has {count} Allow statement(s) with Action s3:* or *"
