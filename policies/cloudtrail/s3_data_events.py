"""CloudTrail trail records S3 object-level data events, reads and writes."""

from __future__ import annotations

from typing import Any

S3_OBJECT = "AWS::S3::Object"


def records_s3_objects(resource: dict[str, Any]) -> tuple[bool, bool]:
    """(read, write): whether the trail records any bucket's data events of each kind."""
    read = write = False
    for selector in resource.get("EventSelectors") or []:
        if any(d.get("Type") == S3_OBJECT for d in selector.get("DataResources") or []):
            kind = selector.get("ReadWriteType", "All")
            read, write = read or kind in ("All", "ReadOnly"), write or kind in ("All", "WriteOnly")
    for selector in resource.get("AdvancedEventSelectors") or []:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors") or []}
        if S3_OBJECT in (fields.get("resources.type") or {}).get("Equals", []) and "Data" in (
            fields.get("eventCategory") or {}
        ).get("Equals", []):
            only = [str(v).lower() for v in (fields.get("readOnly") or {}).get("Equals", [])]
            read, write = read or not only or "true" in only, write or not only or "false" in only
    return read, write


def policy(resource: dict[str, Any]) -> bool:
    return all(records_s3_objects(resource))


def reason(resource: dict[str, Any]) -> str:
    read, write = records_s3_objects(resource)
    missing = [kind for kind, covered in (("read", read), ("write", write)) if not covered]
    return f"the trail records no S3 {' or '.join(missing)} data events"
