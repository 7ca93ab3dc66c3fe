"""CloudTrail trail has log file validation enabled."""

from __future__ import annotations

from typing import Any


def policy(resource: dict[str, Any]) -> bool:
    return resource.get("LogFileValidationEnabled") is True


def reason(resource: dict[str, Any]) -> str:
    return "log file validation is off"
