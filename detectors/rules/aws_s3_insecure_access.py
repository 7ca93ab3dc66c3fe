"""Requests made over plain HTTP (no TLS) to S3."""

from bucketwatch_helpers import principal_label, s3_access


def rule(event):
    access = s3_access(event)
    if access is None or access.internal:
        return False
    # Website endpoints only speak HTTP; that is a hosting choice, not an insecure client.
    if (access.raw_operation or "").startswith("WEBSITE."):
        return False
    return access.tls is False


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
