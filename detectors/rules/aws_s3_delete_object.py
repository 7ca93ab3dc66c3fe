"""Mass deletion: many objects deleted from one bucket by one principal (threshold 50/hour)."""

import pyarrow as pa
import pyarrow.compute as pc
from bucketwatch_helpers import access_log_columns, joined, matched, principal_label, s3_access

DELETE_OPERATIONS = {"DeleteObject"}  # BATCH.DELETE.OBJECT (one per key of a DeleteObjects) maps here too


def rule(event):
    access = s3_access(event)
    return (access is not None and not access.internal and not access.error
            and access.operation in DELETE_OPERATIONS)


def match_table(table, log_type):
    """Exact vectorized rule()/dedup() for access-log batches (None: use rule() per event)."""
    if log_type != "AWS.S3ServerAccess":
        return None
    c = access_log_columns(table)
    deletes = pc.is_in(c["operation"], value_set=pa.array(["REST.DELETE.OBJECT", "BATCH.DELETE.OBJECT"]))
    return matched(pc.and_(pc.fill_null(deletes, False), c["no_error"]), joined(c["bucket"], c["principal"]))


def title(event):
    access = s3_access(event)
    return f"Many objects deleted from S3 bucket [{access.bucket}] by [{principal_label(access)}]"


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}"


def alert_context(event):
    access = s3_access(event)
    # bucketName and principal: what correlation rules match on (Panther's names)
    return {"bucket": access.bucket, "bucketName": access.bucket, "key": access.key,
            "principal": principal_label(access), "ip": access.ip, "operation": access.raw_operation}
