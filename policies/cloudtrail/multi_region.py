"""CloudTrail trail records events in every region."""

from __future__ import annotations

from typing import Any


def policy(resource: dict[str, Any]) -> bool:
    return resource.get("IsMultiRegionTrail") is True


def reason(resource: dict[str, Any]) -> str:
    return "the trail records only its home region"
