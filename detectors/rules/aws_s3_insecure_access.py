"""Requests made over plain HTTP (no TLS) to S3."""

import pyarrow.compute as pc
from bucketwatch_helpers import (
    access_log_columns,
    blank,
    joined,
    matched,
    principal_label,
    s3_access,
    starts,
    text,
)


def rule(event):
    access = s3_access(event)
    if access is None or access.internal:
        return False
    # Website endpoints only speak HTTP; that is a hosting choice, not an insecure client.
    if (access.raw_operation or "").startswith("WEBSITE."):
        return False
    return access.tls is False


def match_table(table, log_type):
    """Exact vectorized rule()/dedup() for access-log batches (None: use rule() per event)."""
    if log_type != "AWS.S3ServerAccess":
        return None
    c = access_log_columns(table)
    no_tls = pc.and_(blank(text(table, "tlsVersion")), blank(text(table, "ciphersuite")))
    client = pc.invert(pc.or_(c["internal"], starts(c["operation"], "WEBSITE.")))
    return matched(pc.and_(no_tls, client), joined(c["bucket"], c["principal"]))


def title(event):
    access = s3_access(event)
    return f"S3 bucket [{access.bucket}] accessed without TLS by [{principal_label(access)}]"


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}"


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "ip": access.ip,
            "principal": access.principal, "operation": access.raw_operation,
            "user_agent": access.user_agent}
