"""S3 bucket blocks public access with all four Block Public Access settings."""

from __future__ import annotations

from typing import Any

from policies.helpers import BPA_FLAGS


def missing_flags(resource: dict[str, Any]) -> list[str]:
    config = resource.get("PublicAccessBlockConfiguration") or {}
    return [flag for flag in BPA_FLAGS if config.get(flag) is not True]


def policy(resource: dict[str, Any]) -> bool:
    return not missing_flags(resource)


def reason(resource: dict[str, Any]) -> str:
    return f"Block Public Access settings off: {', '.join(missing_flags(resource))}"
