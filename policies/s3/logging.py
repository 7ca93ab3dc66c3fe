"""S3 bucket has server access logging on."""

from __future__ import annotations

from typing import Any


def policy(resource: dict[str, Any]) -> bool:
    return bool(resource.get("LoggingPolicy"))


def reason(resource: dict[str, Any]) -> str:
    return "server access logging is not enabled"
