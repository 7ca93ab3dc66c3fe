"""Requests to a bucket from outside its configured IP allowlist (CIDRs, optional bucket filter)."""

from bucketwatch_helpers import (
    NetworkSet,
    any_glob,
    cached_for_settings,
    outside_networks,
    principal_label,
    s3_access,
    settings,
)


def _networks_for(bucket):
    """The networks allowed for `bucket`, or None when no allowlist entry covers it."""
    networks = None
    for entry in settings().ip_allowlist:
        if entry.buckets and not any_glob(bucket, entry.buckets):
            continue
        networks = (networks or ()) + entry.cidrs
    return None if networks is None else NetworkSet(networks)


def rule(event):
    access = s3_access(event)
    if access is None or access.internal or not access.ip:
        return False
    bucket = access.bucket or ""
    allowed = cached_for_settings("ip_allowlist", bucket, lambda: _networks_for(bucket))
    return allowed is not None and access.ip not in allowed


def prefilter_table(table, log_type):
    """Rows that may match, computed on the whole access-log batch (IPv4 as integer masks)."""
    if log_type != "AWS.S3ServerAccess":
        return None  # the bucket is inside requestParameters (JSON) in CloudTrail: no shortcut
    return outside_networks(table, "bucket", "remoteip", lambda bucket: cached_for_settings(
        "ip_allowlist", bucket or "", lambda: _networks_for(bucket or "")))


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
