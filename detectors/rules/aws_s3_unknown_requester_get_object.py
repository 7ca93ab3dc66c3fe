"""Reads of a bucket by a principal outside its known-good list (bucket -> principal globs)."""

import pyarrow.compute as pc
from bucketwatch_helpers import (
    access_log_columns,
    any_glob,
    cached_for_settings,
    joined,
    matched,
    principal_label,
    rows_where,
    s3_access,
    settings,
)


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
    bucket = access.bucket or ""
    allowed = cached_for_settings("known_good", bucket, lambda: _allowed_principals(bucket))
    if allowed is None:
        return False
    return not cached_for_settings("known_good_principal", f"{bucket}\x00{access.principal}",
                                   lambda: any_glob(access.principal, allowed))


def prefilter_table(table, log_type):
    """Rows that may match, decided once per distinct (bucket, requester) of an access-log batch."""
    if log_type != "AWS.S3ServerAccess":
        return None

    def unknown(bucket, requester):
        allowed = cached_for_settings("known_good", bucket or "", lambda: _allowed_principals(bucket or ""))
        return allowed is not None and not any_glob(requester, allowed)

    return rows_where(table, ("bucket", "requester"), unknown)


def match_table(table, log_type):
    """Exact vectorized rule()/dedup() for access-log batches (None: use rule() per event)."""
    if log_type != "AWS.S3ServerAccess":
        return None
    unknown = prefilter_table(table, log_type)
    if unknown is None:
        return None
    c = access_log_columns(table)
    reads = pc.and_(pc.equal(c["operation"], "REST.GET.OBJECT"), c["no_error"])
    return matched(pc.and_(reads, unknown), joined(c["bucket"], c["principal"]))


def title(event):
    access = s3_access(event)
    return f"Unknown principal [{principal_label(access)}] read objects in [{access.bucket}]"


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}"


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "principal": access.principal, "ip": access.ip}
