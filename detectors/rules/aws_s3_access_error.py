"""Access errors (HTTP 400/403/405) on object operations: probing, broken or revoked access."""

import pyarrow as pa
import pyarrow.compute as pc
from bucketwatch_helpers import (
    OBJECT_EVENT_NAMES,
    access_log_columns,
    blank,
    column_ci,
    joined,
    matched,
    principal_label,
    s3_access,
    settings,
    starts,
    text,
)
from panther_base_helpers import pattern_match

MONITORED_STATUS = {400, 403, 405}


def rule(event):
    access = s3_access(event)
    if access is None or access.internal or not access.error:
        return False
    # AWS's own delivery agents retry with stale signatures all the time: not a client's error.
    if (access.user_agent or "").startswith("aws-internal"):
        return False
    if access.log_type == "AWS.CloudTrail":
        object_call = access.operation in OBJECT_EVENT_NAMES
    else:
        object_call = pattern_match(access.raw_operation, "REST.*.OBJECT")
    return object_call and access.http_status in MONITORED_STATUS


def match_table(table, log_type):
    """Exact vectorized rule()/dedup() for access-log batches (None: use rule() per event)."""
    if log_type != "AWS.S3ServerAccess":
        return None
    c = access_log_columns(table)
    error = text(table, "errorcode")
    status = column_ci(table, "httpstatus")
    if status is None:
        return None
    status = pc.cast(status, pa.int64())
    mask = pc.and_(pc.invert(blank(error)), pc.invert(c["internal"]))
    mask = pc.and_(mask, pc.invert(starts(text(table, "useragent"), "aws-internal")))
    mask = pc.and_(mask, pc.fill_null(pc.match_substring_regex(c["operation"], r"^REST\..*\.OBJECT$"), False))
    mask = pc.and_(mask, pc.fill_null(pc.is_in(status, value_set=pa.array(sorted(MONITORED_STATUS))), False))
    return matched(mask, joined(c["bucket"], c["principal"], pc.fill_null(error, "None")))


def title(event):
    access = s3_access(event)
    return (f"S3 access errors ({access.error}) on objects in [{access.bucket}] "
            f"from [{principal_label(access)}]")


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}:{access.error}"


def alert_context(event):
    access = s3_access(event)
    context = {"bucket": access.bucket, "key": access.key, "principal": access.principal,
               "ip": access.ip, "operation": access.raw_operation, "error": access.error,
               "http_status": access.http_status}
    # The threshold this group alerts at when the lake's baseline says it errs every day
    # (the scheduled query "Bucketwatch S3 Access Error Baseline"; detectors/baseline/access_errors.py).
    baseline = settings().group_thresholds.get("AWS.S3.ServerAccess.Error", {}).get(dedup(event))
    if baseline:
        context["baseline_threshold"] = baseline
    return context
