"""S3 bucket keeps object versions, so overwrites and deletes can be undone."""

from __future__ import annotations

from typing import Any


def policy(resource: dict[str, Any]) -> bool:
    return resource.get("Versioning") == "Enabled"


def reason(resource: dict[str, Any]) -> str:
    return f"versioning is {resource.get('Versioning') or 'not enabled'}"
