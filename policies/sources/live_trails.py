"""Which CloudTrail trails record a bucket's S3 data events, for reads and for writes.

Pure functions over the shapes `cloudtrail:GetEventSelectors` returns (basic `EventSelectors`
and `AdvancedEventSelectors`), so the template source can reuse them for AWS::CloudTrail::Trail
properties, which have the same shape.

"Covers" means *every* object-level event of that kind in the bucket is recorded: a selector
limited to a key prefix, to some event names, or excluding part of the bucket does not cover it
(Security Hub S3.22/S3.23 ask for all read / all write data events).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

S3_OBJECT = "AWS::S3::Object"
_ALL_BUCKETS = ("arn:aws:s3", "arn:aws:s3:::", "arn:aws-us-gov:s3", "arn:aws-cn:s3")


_PARTITION = re.compile(r"^arn:aws(-[a-z]+)*:")


def object_arn_prefix(bucket: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{bucket}/"


def _in_aws_partition(values: Iterable[Any] | None) -> list[str]:
    """ARN values with the partition written as `aws`, so GovCloud and China trails compare alike."""
    return [_PARTITION.sub("arn:aws:", str(value)) for value in values or []]


def _basic_value_covers(value: str, bucket: str) -> bool:
    if value in _ALL_BUCKETS or value.rstrip(":") in ("arn:aws:s3", "arn:aws-us-gov:s3", "arn:aws-cn:s3"):
        return True
    # "arn:aws:s3:::bucket/" (or without the slash) selects the whole bucket; a longer value
    # is a key prefix: only part of the bucket.
    name = value.split(":::", 1)[1] if ":::" in value else ""
    return name in (bucket, f"{bucket}/")


def basic_coverage(selectors: Iterable[dict[str, Any]] | None, bucket: str) -> tuple[bool, bool]:
    """(read, write) coverage of `bucket` by basic event selectors."""
    read = write = False
    for selector in selectors or []:
        if not any(
            resource.get("Type") == S3_OBJECT and any(_basic_value_covers(v, bucket) for v in resource.get("Values") or [])
            for resource in selector.get("DataResources") or []
        ):
            continue
        kind = selector.get("ReadWriteType", "All")
        read = read or kind in ("All", "ReadOnly")
        write = write or kind in ("All", "WriteOnly")
    return read, write


def _arn_condition_covers(condition: dict[str, Any], bucket: str) -> bool:
    """Whether a `resources.ARN` field selector keeps every object of the bucket."""
    prefix = object_arn_prefix(bucket)
    if condition.get("Equals") or condition.get("EndsWith"):
        return False  # specific objects or suffixes: part of the bucket at most
    starts = _in_aws_partition(condition.get("StartsWith"))
    if starts and not any(prefix.startswith(p) for p in starts):
        return False
    for value in _in_aws_partition(condition.get("NotStartsWith")):
        if prefix.startswith(value) or value.startswith(prefix):
            return False
    if any(v.startswith(prefix) for v in _in_aws_partition(condition.get("NotEquals"))):
        return False
    return not condition.get("NotEndsWith")


def _equals_only(condition: dict[str, Any], wanted: str) -> bool:
    keys = {k for k, v in condition.items() if k != "Field" and v}
    return keys == {"Equals"} and wanted in condition["Equals"]


def advanced_selector_coverage(selector: dict[str, Any], bucket: str) -> tuple[bool, bool]:
    """(read, write) coverage of `bucket` by one advanced event selector (all fields ANDed)."""
    category = resource_type = False
    read = write = True
    for condition in selector.get("FieldSelectors") or []:
        field = condition.get("Field")
        if field == "eventCategory":
            category = _equals_only(condition, "Data")
        elif field == "resources.type":
            resource_type = _equals_only(condition, S3_OBJECT)
        elif field == "readOnly":
            values = [str(v).lower() for v in condition.get("Equals") or []]
            not_values = [str(v).lower() for v in condition.get("NotEquals") or []]
            read = read and ("true" in values or (not values and "true" not in not_values))
            write = write and ("false" in values or (not values and "false" not in not_values))
        elif field == "resources.ARN":
            if not _arn_condition_covers(condition, bucket):
                return False, False
        elif field == "eventSource" and _equals_only(condition, "s3.amazonaws.com"):
            continue
        else:
            return False, False  # eventName, userIdentity, ...: only some events are recorded
    if not (category and resource_type):
        return False, False
    return read, write


def selectors_coverage(event_selectors: Iterable[dict[str, Any]] | None,
                       advanced_selectors: Iterable[dict[str, Any]] | None, bucket: str) -> tuple[bool, bool]:
    """(read, write): whether the trail's selectors record all of the bucket's data events.

    A trail uses either basic or advanced selectors; both are honoured if both are given.
    """
    read, write = basic_coverage(event_selectors, bucket)
    for selector in advanced_selectors or []:
        r, w = advanced_selector_coverage(selector, bucket)
        read, write = read or r, write or w
    return read, write


def trail_reaches_region(trail: dict[str, Any], region: str | None) -> bool:
    """Data events are regional: a single-region trail records only its home region's."""
    return bool(trail.get("IsMultiRegionTrail")) or (region is not None and trail.get("HomeRegion") == region)
