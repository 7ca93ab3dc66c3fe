"""S3 bucket has ACLs disabled: the bucket owner owns every object, and only policies grant access."""

from __future__ import annotations

from typing import Any

from policies.helpers import deep_get


def ownership(resource: dict[str, Any]) -> str | None:
    rules = deep_get(resource, "OwnershipControls", "Rules") or []
    return rules[0].get("ObjectOwnership") if rules else None


def policy(resource: dict[str, Any]) -> bool:
    return ownership(resource) == "BucketOwnerEnforced"


def reason(resource: dict[str, Any]) -> str:
    return f"object ownership is {ownership(resource) or 'not configured'}, so ACLs still grant access"
