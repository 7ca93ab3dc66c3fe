"""Anonymous (unauthenticated) requests to a bucket."""

from bucketwatch_helpers import s3_access, s3_match, where

# Declared once: rule() and the vectorized match_table() are both derived from it. `anonymous`:
# no requester in an access log; CloudTrail's placeholder account ANONYMOUS_PRINCIPAL.
MATCH = s3_match(
    where("internal").is_(False),
    where("anonymous").is_(True),
    dedup=("bucket_label",),
)


def rule(event):
    return MATCH.rule(event)


def match_table(table, log_type):
    return MATCH.match_table(table, log_type)


def title(event):
    access = s3_access(event)
    return f"Anonymous access to S3 bucket [{access.bucket}]"


def dedup(event):
    return MATCH.dedup(event)


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "ip": access.ip, "operation": access.raw_operation}
