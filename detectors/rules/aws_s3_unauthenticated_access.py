"""Anonymous (unauthenticated) requests to a bucket."""

import pyarrow.compute as pc
from bucketwatch_helpers import access_log_columns, blank, matched, s3_access, text

ANONYMOUS_ACCOUNT = "ANONYMOUS_PRINCIPAL"


def rule(event):
    access = s3_access(event)
    if access is None or access.internal:
        return False
    if access.log_type == "AWS.CloudTrail":
        # CloudTrail records anonymous callers with this placeholder account id.
        return event.deep_get("userIdentity", "accountId") == ANONYMOUS_ACCOUNT
    return not access.principal


def match_table(table, log_type):
    """Exact vectorized rule()/dedup() for access-log batches (None: use rule() per event)."""
    if log_type != "AWS.S3ServerAccess":
        return None
    c = access_log_columns(table)
    raw = text(table, "bucket")
    bucket = pc.if_else(blank(raw), "<unknown bucket>", raw)
    return matched(pc.and_(c["anonymous"], pc.invert(c["internal"])), bucket)


def title(event):
    access = s3_access(event)
    return f"Anonymous access to S3 bucket [{access.bucket}]"


def dedup(event):
    return s3_access(event).bucket or "<unknown bucket>"


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "ip": access.ip, "operation": access.raw_operation}
