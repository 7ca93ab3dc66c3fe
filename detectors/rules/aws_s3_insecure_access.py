"""Requests made over plain HTTP (no TLS) to S3, as server access logs record them.

Access logs write '-' as the cipher suite of an HTTP request; lines of the older formats that end
before that column cannot tell, and are not judged. CloudTrail cannot tell either: it leaves
tlsDetails out for plain HTTP and for many other reasons, so the rule does not read it.
"""

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
    # Only lines long enough to have the cipher suite column (see s3_access(...).tls).
    has_column = pc.invert(pc.and_(blank(text(table, "authenticationtype")), blank(text(table, "hostheader"))))
    no_tls = pc.and_(no_tls, has_column)
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
