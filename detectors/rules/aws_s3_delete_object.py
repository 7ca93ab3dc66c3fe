"""Mass deletion: many objects deleted from one bucket by one principal (threshold 50/hour)."""

from bucketwatch_helpers import principal_label, s3_access, s3_match, where

DELETE_OPERATIONS = {"DeleteObject"}  # BATCH.DELETE.OBJECT (one per key of a DeleteObjects) maps here too

# Declared once: rule() and the vectorized match_table() are both derived from it.
MATCH = s3_match(
    where("internal").is_(False),
    where("error").blank(),
    where("operation").one_of(*DELETE_OPERATIONS),
    dedup=("bucket", "principal_label"),
)


def rule(event):
    return MATCH.rule(event)


def match_table(table, log_type):
    return MATCH.match_table(table, log_type)


def title(event):
    access = s3_access(event)
    return f"Many objects deleted from S3 bucket [{access.bucket}] by [{principal_label(access)}]"


def dedup(event):
    return MATCH.dedup(event)


def alert_context(event):
    access = s3_access(event)
    # bucketName and principal: what correlation rules match on (Panther's names)
    return {"bucket": access.bucket, "bucketName": access.bucket, "key": access.key,
            "principal": principal_label(access), "ip": access.ip, "operation": access.raw_operation}
