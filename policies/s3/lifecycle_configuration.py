"""S3 bucket has an enabled lifecycle rule expiring objects after 90 to 365 days."""

from __future__ import annotations

from typing import Any

from policies.helpers import deep_get

MIN_DAYS, MAX_DAYS = 90, 365


def expiring_rules(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        rule
        for rule in resource.get("LifecycleRules") or []
        if rule.get("Status") == "Enabled"
        and MIN_DAYS <= (deep_get(rule, "Expiration", "Days") or 0) <= MAX_DAYS
    ]


def policy(resource: dict[str, Any]) -> bool:
    return bool(expiring_rules(resource))


def reason(resource: dict[str, Any]) -> str:
    if not resource.get("LifecycleRules"):
        return "no lifecycle rules"
    return f"no enabled lifecycle rule expires objects within {MIN_DAYS}-{MAX_DAYS} days"
