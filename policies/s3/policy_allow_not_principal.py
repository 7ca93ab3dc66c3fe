"""S3 bucket policy has no Allow with NotPrincipal (which allows everyone except a few)."""

from __future__ import annotations

from typing import Any

from policies.helpers import statements


def policy(resource: dict[str, Any]) -> bool:
    return not any("NotPrincipal" in statement for statement in statements(resource, "Allow"))


def reason(resource: dict[str, Any]) -> str:
    return "bucket policy has an Allow statement with NotPrincipal"
