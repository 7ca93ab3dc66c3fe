"""Every object-level read and write on the bucket is recorded: by server access logging, or by
S3 data events of logging, multi-region CloudTrail trails (Security Hub S3.22 and S3.23)."""

from __future__ import annotations

from typing import Any

from policies.helpers import CannotDecide, deep_get, require
from policies.sources.live_trails import selectors_coverage


def trail_coverage(resource: dict[str, Any]) -> tuple[bool, bool]:
    """(read, write) recorded by logging multi-region trails; CannotDecide if a trail is unclear."""
    read = write = False
    undecided = []
    for trail in resource.get("CoveringTrails") or []:
        unknown = trail.get("Unknown") or {}
        if any(f in unknown for f in ("Status", "IsMultiRegionTrail", "EventSelectors", "AdvancedEventSelectors")):
            undecided.append(f"trail {trail.get('Name')}: {'; '.join(f'{k}: {v}' for k, v in unknown.items())}")
            continue
        if not (deep_get(trail, "Status", "IsLogging") and trail.get("IsMultiRegionTrail")):
            continue
        r, w = selectors_coverage(trail.get("EventSelectors"), trail.get("AdvancedEventSelectors"), resource.get("Name"))
        read, write = read or r, write or w
    if not (read and write) and undecided:
        raise CannotDecide("; ".join(undecided))
    return read, write


def policy(resource: dict[str, Any]) -> bool:
    if resource.get("LoggingPolicy"):
        return True
    require(resource, "CoveringTrails", "Name")
    return all(trail_coverage(resource))


def reason(resource: dict[str, Any]) -> str:
    read, write = trail_coverage(resource)
    missing = [kind for kind, covered in (("read", read), ("write", write)) if not covered]
    return f"server access logging is off and no logging multi-region trail records {' or '.join(missing)} data events"
