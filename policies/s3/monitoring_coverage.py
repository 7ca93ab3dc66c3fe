"""Every object-level read and write on the bucket is recorded: by server access logging, or by
S3 data events of logging, multi-region CloudTrail trails (Security Hub S3.22 and S3.23)."""

from __future__ import annotations

from typing import Any

from policies.coverage import trail_coverage
from policies.helpers import require


def policy(resource: dict[str, Any]) -> bool:
    if resource.get("LoggingPolicy"):
        return True
    require(resource, "CoveringTrails", "Name")
    return all(trail_coverage(resource))


def reason(resource: dict[str, Any]) -> str:
    read, write = trail_coverage(resource)
    missing = [kind for kind, covered in (("read", read), ("write", write)) if not covered]
    return f"server access logging is off and no logging multi-region trail records {' or '.join(missing)} data events"
