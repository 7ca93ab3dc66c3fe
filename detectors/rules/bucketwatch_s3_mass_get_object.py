"""Exfiltration: one principal downloads many objects from one bucket (threshold per hour)."""

from bucketwatch_helpers import principal_label, s3_access, s3_match, where

# Declared once: rule() and the vectorized match_table() are both derived from it.
MATCH = s3_match(
    where("internal").is_(False),
    where("error").blank(),
    where("operation").one_of("GetObject"),
    dedup=("bucket", "principal_label"),
)


def rule(event):
    return MATCH.rule(event)


def match_table(table, log_type):
    return MATCH.match_table(table, log_type)


def title(event):
    access = s3_access(event)
    return f"Mass download from S3 bucket [{access.bucket}] by [{principal_label(access)}]"


def dedup(event):
    return MATCH.dedup(event)


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "principal": access.principal, "ip": access.ip,
            "user_agent": access.user_agent}
