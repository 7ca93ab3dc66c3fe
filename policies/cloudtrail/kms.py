"""CloudTrail trail encrypts its logs with a KMS key."""

from __future__ import annotations

from typing import Any


def policy(resource: dict[str, Any]) -> bool:
    return bool(resource.get("KmsKeyId"))


def reason(resource: dict[str, Any]) -> str:
    return "the trail's log files are not encrypted with a KMS key"
