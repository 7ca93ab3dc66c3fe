"""S3 bucket policy has no Allow with NotPrincipal (which allows everyone except a few)."""

from __future__ import annotations

from typing import Any

from policies.helpers import any_statement


def policy(resource: dict[str, Any]) -> bool:
    return not any_statement(resource, "Allow", lambda statement: "NotPrincipal" in statement)


def reason(resource: dict[str, Any]) -> str:
    return "bucket policy has an Allow statement with NotPrincipal"
