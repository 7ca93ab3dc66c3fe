"""S3 bucket has a Block Public Access configuration (Panther-compatible: any configuration)."""

from __future__ import annotations

from typing import Any


def policy(resource: dict[str, Any]) -> bool:
    return bool(resource.get("PublicAccessBlockConfiguration"))


def reason(resource: dict[str, Any]) -> str:
    return "no bucket-level Block Public Access configuration"
