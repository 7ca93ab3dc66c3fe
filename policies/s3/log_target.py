"""The bucket receiving this bucket's server access logs can actually receive them."""

from __future__ import annotations

from typing import Any

from policies.helpers import NotApplicable, deep_get, require, sse_algorithms


def problems(resource: dict[str, Any]) -> list[str]:
    if not resource.get("LoggingPolicy"):
        raise NotApplicable("server access logging is off")
    require(resource, "LoggingTarget")
    target = resource.get("LoggingTarget") or {}
    name = target.get("Name") or deep_get(resource, "LoggingPolicy", "TargetBucket")
    if not target.get("Exists"):
        return [f"target bucket {name} does not exist"]
    # "Self": the source knows the target is this very bucket (a LoggingConfiguration without a
    # destination), even when the bucket's name is only known at deploy time.
    if not target.get("Self"):
        require(resource, "Name")
    found = []
    if target.get("Self") or name == resource.get("Name"):
        found.append("the bucket logs to itself (every log delivery writes another log record)")
    require(resource, "Region")
    if target.get("Region") and resource.get("Region") and target["Region"] != resource["Region"]:
        found.append(f"target bucket {name} is in {target['Region']}, not {resource['Region']}")
    if any(a.startswith("aws:kms") for a in sse_algorithms(target.get("EncryptionRules"))):
        found.append(f"target bucket {name} uses SSE-KMS default encryption, which log delivery cannot use")
    if deep_get(target, "ObjectLockConfiguration", "Rule", "DefaultRetention"):
        found.append(f"target bucket {name} has a default Object Lock retention, which log delivery cannot use")
    return found


def policy(resource: dict[str, Any]) -> bool:
    return not problems(resource)


def reason(resource: dict[str, Any]) -> str:
    return "; ".join(problems(resource))
