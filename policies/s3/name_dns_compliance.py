"""S3 bucket name has no periods, so virtual-hosted HTTPS requests match the wildcard certificate."""

from __future__ import annotations

from typing import Any


def policy(resource: dict[str, Any]) -> bool:
    return "." not in str(resource.get("Name") or "")


def reason(resource: dict[str, Any]) -> str:
    return f"bucket name {resource.get('Name')!r} contains periods"
