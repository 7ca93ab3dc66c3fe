"""Access errors (HTTP 400/403/405) on object operations: probing, broken or revoked access."""

from bucketwatch_helpers import OBJECT_EVENT_NAMES, principal_label, s3_access
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


def title(event):
    access = s3_access(event)
    return (f"S3 access errors ({access.error}) on objects in [{access.bucket}] "
            f"from [{principal_label(access)}]")


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}:{access.error}"


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "principal": access.principal,
            "ip": access.ip, "operation": access.raw_operation, "error": access.error,
            "http_status": access.http_status}
