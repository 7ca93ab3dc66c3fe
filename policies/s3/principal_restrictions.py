"""S3 bucket policy does not allow everyone ("*") without a condition narrowing it."""

from __future__ import annotations

from typing import Any

from policies.helpers import is_public_principal, statements


def open_statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for statement in statements(resource, "Allow")
        if is_public_principal(statement.get("Principal")) and not statement.get("Condition")
    ]


def policy(resource: dict[str, Any]) -> bool:
    return not open_statements(resource)


def reason(resource: dict[str, Any]) -> str:
    return f"bucket policy allows Principal * without a Condition in {len(open_statements(resource))} statement(s)"
