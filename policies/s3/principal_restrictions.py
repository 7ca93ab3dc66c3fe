"""S3 bucket policy does not allow everyone ("*") without a condition narrowing it."""

from __future__ import annotations

from typing import Any

from policies.helpers import any_statement, is_public_principal, matching_statements


def is_open(statement: dict[str, Any]) -> bool:
    return is_public_principal(statement.get("Principal")) and not statement.get("Condition")


def policy(resource: dict[str, Any]) -> bool:
    return not any_statement(resource, "Allow", is_open)


def reason(resource: dict[str, Any]) -> str:
    return f"bucket policy allows Principal * without a Condition in {len(matching_statements(resource, 'Allow', is_open))} statement(s)"
