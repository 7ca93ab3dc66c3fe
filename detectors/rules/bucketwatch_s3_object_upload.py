"""Every successful object upload, as a signal for correlation rules (CreateAlert: false).

Alone an upload means nothing; after a bulk deletion by the same principal it is how a ransom
note arrives, whatever the note is called (Bucketwatch.S3.BulkDeletionThenUpload and
Bucketwatch.S3.MultiObjectDeleteThenUpload). Its matches go to panther_rule_matches only.
"""

from bucketwatch_helpers import principal_label, s3_access, s3_match, where

UPLOADS = {"PutObject", "PostObject", "CopyObject", "CompleteMultipartUpload"}

# Declared once: rule() and the vectorized match_table() are both derived from it.
MATCH = s3_match(
    where("internal").is_(False),
    where("error").blank(),
    where("operation").one_of(*UPLOADS),
    dedup=("bucket", "principal_label"),
)


def rule(event):
    return MATCH.rule(event)


def match_table(table, log_type):
    return MATCH.match_table(table, log_type)


def title(event):
    access = s3_access(event)
    return f"Object uploaded to S3 bucket [{access.bucket}] by [{principal_label(access)}]"


def dedup(event):
    return MATCH.dedup(event)


def alert_context(event):
    access = s3_access(event)
    return {"bucketName": access.bucket, "principal": principal_label(access), "key": access.key,
            "ip": access.ip, "operation": access.raw_operation}
