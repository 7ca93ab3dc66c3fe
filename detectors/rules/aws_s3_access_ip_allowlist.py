"""Requests to a bucket from outside its configured IP allowlist (CIDRs, optional bucket filter)."""

from bucketwatch_helpers import any_glob, ip_in_networks, principal_label, s3_access, settings


def _applicable_networks(bucket):
    """The networks allowed for `bucket`, or None when no allowlist entry covers it."""
    networks = None
    for entry in settings().ip_allowlist:
        if entry.buckets and not any_glob(bucket, entry.buckets):
            continue
        networks = (networks or ()) + entry.cidrs
    return networks


def rule(event):
    access = s3_access(event)
    if access is None or access.internal or not access.ip:
        return False
    networks = _applicable_networks(access.bucket or "")
    return networks is not None and not ip_in_networks(access.ip, networks)


def title(event):
    access = s3_access(event)
    return f"S3 bucket [{access.bucket}] accessed from non-allowlisted IP [{access.ip}]"


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{access.ip}"


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "ip": access.ip,
            "principal": principal_label(access), "operation": access.raw_operation}
