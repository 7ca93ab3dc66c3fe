"""Reads of a bucket by a principal outside its known-good list (bucket -> principal globs)."""

from bucketwatch_helpers import any_glob, principal_label, s3_access, settings


def _allowed_principals(bucket):
    """Principal globs allowed for `bucket`, or None when no mapping covers it."""
    allowed = None
    for mapping in settings().known_good_access:
        if any_glob(bucket, (mapping.bucket,)):
            allowed = (allowed or ()) + mapping.principals
    return allowed


def rule(event):
    access = s3_access(event)
    if access is None or access.internal or access.error or access.operation != "GetObject":
        return False
    allowed = _allowed_principals(access.bucket or "")
    return allowed is not None and not any_glob(access.principal, allowed)


def title(event):
    access = s3_access(event)
    return f"Unknown principal [{principal_label(access)}] read objects in [{access.bucket}]"


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}"


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "principal": access.principal, "ip": access.ip}
