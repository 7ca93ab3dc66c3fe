"""S3 bucket requires MFA to delete object versions or change the versioning state."""

from __future__ import annotations

from typing import Any


def policy(resource: dict[str, Any]) -> bool:
    return resource.get("MFADelete") == "Enabled"


def reason(resource: dict[str, Any]) -> str:
    return f"MFA delete is {resource.get('MFADelete') or 'not configured'}"
