"""Requests made over plain HTTP (no TLS) to S3, as server access logs record them.

Access logs write '-' as the cipher suite of an HTTP request; lines of the older formats that end
before that column cannot tell, and are not judged. CloudTrail cannot tell either: it leaves
tlsDetails out for plain HTTP and for many other reasons, so the rule does not read it.
"""

from bucketwatch_helpers import principal_label, s3_access, s3_match, where

# Declared once: rule() and the vectorized match_table() are both derived from it.
MATCH = s3_match(
    where("internal").is_(False),
    # Website endpoints only speak HTTP; that is a hosting choice, not an insecure client.
    where("raw_operation").not_starts_with("WEBSITE."),
    where("tls").is_(False),  # None (the record cannot tell) is not judged
    # One alert per bucket, as Panther's rule (its title names only the bucket): the fix is the
    # bucket's policy (deny aws:SecureTransport false). Per principal, a bucket that takes some
    # plain HTTP from each of its clients raised one alert per client every 12 hours: 363 Low
    # alerts in 150,000 generated lines (docs/detection.md, "Alert volume").
    dedup=("bucket",),
)


def rule(event):
    return MATCH.rule(event)


def match_table(table, log_type):
    return MATCH.match_table(table, log_type)


def title(event):
    access = s3_access(event)
    return f"S3 bucket [{access.bucket}] accessed without TLS (first by [{principal_label(access)}])"


def dedup(event):
    return MATCH.dedup(event)


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "ip": access.ip,
            "principal": access.principal, "operation": access.raw_operation,
            "user_agent": access.user_agent}
