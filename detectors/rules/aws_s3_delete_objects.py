"""A multi-object delete (DeleteObjects) on a bucket: many keys gone in one request."""

import pyarrow.compute as pc
from bucketwatch_helpers import access_log_columns, joined, matched, principal_label, s3_access


def rule(event):
    access = s3_access(event)
    return (access is not None and not access.internal and not access.error
            and access.operation == "DeleteObjects")


def match_table(table, log_type):
    """Exact vectorized rule()/dedup() for access-log batches (None: use rule() per event)."""
    if log_type != "AWS.S3ServerAccess":
        return None
    c = access_log_columns(table)
    mask = pc.and_(pc.equal(c["operation"], "REST.POST.MULTI_OBJECT_DELETE"), c["no_error"])
    return matched(mask, joined(c["bucket"], c["principal"]))


def title(event):
    access = s3_access(event)
    return f"Multi-object delete on S3 bucket [{access.bucket}] by [{principal_label(access)}]"


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}"


def alert_context(event):
    access = s3_access(event)
    # bucketName and principal: what correlation rules match on (Panther's names)
    return {"bucket": access.bucket, "bucketName": access.bucket, "principal": principal_label(access),
            "ip": access.ip, "operation": access.raw_operation}
