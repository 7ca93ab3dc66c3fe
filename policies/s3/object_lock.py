"""S3 bucket has Object Lock with a COMPLIANCE-mode default retention (write once, read many)."""

from __future__ import annotations

from typing import Any

from policies.helpers import deep_get


def policy(resource: dict[str, Any]) -> bool:
    config = resource.get("ObjectLockConfiguration") or {}
    return (
        config.get("ObjectLockEnabled") == "Enabled"
        and deep_get(config, "Rule", "DefaultRetention", "Mode") == "COMPLIANCE"
    )


def reason(resource: dict[str, Any]) -> str:
    config = resource.get("ObjectLockConfiguration") or {}
    if config.get("ObjectLockEnabled") != "Enabled":
        return "Object Lock is not enabled"
    mode = deep_get(config, "Rule", "DefaultRetention", "Mode")
    return f"default retention mode is {mode or 'not set'}, not COMPLIANCE"
