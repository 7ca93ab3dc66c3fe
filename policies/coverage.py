"""What "recorded by CloudTrail" means for one bucket, shared by the MonitoringCoverage policy
and the template source (which uses it to decide whether trails outside the templates matter)."""

from __future__ import annotations

from typing import Any

from policies.helpers import CannotDecide, deep_get
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
