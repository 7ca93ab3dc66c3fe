"""CloudTrail trail is logging."""

from __future__ import annotations

from typing import Any


def policy(resource: dict[str, Any]) -> bool:
    return bool((resource.get("Status") or {}).get("IsLogging"))


def reason(resource: dict[str, Any]) -> str:
    return "the trail is not logging"
