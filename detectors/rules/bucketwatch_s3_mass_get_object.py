"""Exfiltration: one principal downloads many objects from one bucket (threshold per hour)."""

from bucketwatch_helpers import principal_label, s3_access


def rule(event):
    access = s3_access(event)
    return (access is not None and not access.internal and not access.error
            and access.operation == "GetObject")


def title(event):
    access = s3_access(event)
    return f"Mass download from S3 bucket [{access.bucket}] by [{principal_label(access)}]"


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}"


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "principal": access.principal, "ip": access.ip,
            "user_agent": access.user_agent}
