"""Every successful object upload, as a signal for correlation rules (CreateAlert: false).

Alone an upload means nothing; after a bulk deletion by the same principal it is how a ransom
note arrives, whatever the note is called (Bucketwatch.S3.BulkDeletionThenUpload and
Bucketwatch.S3.MultiObjectDeleteThenUpload). Its matches go to panther_rule_matches only.
"""

import pyarrow as pa
import pyarrow.compute as pc
from bucketwatch_helpers import access_log_columns, joined, matched, principal_label, s3_access

UPLOADS = {"PutObject", "PostObject", "CopyObject", "CompleteMultipartUpload"}
UPLOAD_OPERATIONS = ["REST.PUT.OBJECT", "REST.POST.OBJECT", "REST.COPY.OBJECT", "REST.POST.UPLOAD"]


def rule(event):
    access = s3_access(event)
    return (access is not None and not access.internal and not access.error
            and access.operation in UPLOADS)


def match_table(table, log_type):
    """Exact vectorized rule()/dedup() for access-log batches (None: use rule() per event)."""
    if log_type != "AWS.S3ServerAccess":
        return None
    c = access_log_columns(table)
    uploads = pc.fill_null(pc.is_in(c["operation"], value_set=pa.array(UPLOAD_OPERATIONS)), False)
    return matched(pc.and_(uploads, c["no_error"]), joined(c["bucket"], c["principal"]))


def title(event):
    access = s3_access(event)
    return f"Object uploaded to S3 bucket [{access.bucket}] by [{principal_label(access)}]"


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}"


def alert_context(event):
    access = s3_access(event)
    return {"bucketName": access.bucket, "principal": principal_label(access), "key": access.key,
            "ip": access.ip, "operation": access.raw_operation}
