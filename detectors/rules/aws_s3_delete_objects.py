"""A multi-object delete (DeleteObjects) on a bucket: many keys gone in one request."""

from bucketwatch_helpers import principal_label, s3_access, s3_match, where

# Declared once: rule() and the vectorized match_table() are both derived from it (the access
# log's REST.POST.MULTI_OBJECT_DELETE is DeleteObjects through ACCESS_LOG_OPERATIONS).
MATCH = s3_match(
    where("internal").is_(False),
    where("error").blank(),
    where("operation").one_of("DeleteObjects"),
    dedup=("bucket", "principal_label"),
)


def rule(event):
    return MATCH.rule(event)


def match_table(table, log_type):
    return MATCH.match_table(table, log_type)


def title(event):
    access = s3_access(event)
    return f"Multi-object delete on S3 bucket [{access.bucket}] by [{principal_label(access)}]"


def dedup(event):
    return MATCH.dedup(event)


def alert_context(event):
    access = s3_access(event)
    # bucketName and principal: what correlation rules match on (Panther's names)
    return {"bucket": access.bucket, "bucketName": access.bucket, "principal": principal_label(access),
            "ip": access.ip, "operation": access.raw_operation}
