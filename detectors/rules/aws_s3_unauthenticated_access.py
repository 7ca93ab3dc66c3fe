"""Anonymous (unauthenticated) requests to a bucket."""

from bucketwatch_helpers import s3_access

ANONYMOUS_ACCOUNT = "ANONYMOUS_PRINCIPAL"


def rule(event):
    access = s3_access(event)
    if access is None or access.internal:
        return False
    if access.log_type == "AWS.CloudTrail":
        # CloudTrail records anonymous callers with this placeholder account id.
        return event.deep_get("userIdentity", "accountId") == ANONYMOUS_ACCOUNT
    return not access.principal


def title(event):
    access = s3_access(event)
    return f"Anonymous access to S3 bucket [{access.bucket}]"


def dedup(event):
    return s3_access(event).bucket or "<unknown bucket>"


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "ip": access.ip, "operation": access.raw_operation}
