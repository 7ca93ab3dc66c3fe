"""Reads of a bucket by a principal outside its known-good list (bucket -> principal globs)."""

from bucketwatch_helpers import (
    any_glob,
    cached_for_settings,
    holds,
    principal_label,
    s3_access,
    s3_match,
    settings,
    where,
)


def _allowed_principals(bucket):
    """Principal globs allowed for `bucket`, or None when no mapping covers it."""
    allowed = None
    for mapping in settings().known_good_access:
        if any_glob(bucket, (mapping.bucket,)):
            allowed = (allowed or ()) + mapping.principals
    return allowed


def unknown_principal(bucket, principal):
    """The bucket has a known-good list (detections.known_good_access) and it does not name the principal."""
    bucket = bucket or ""
    allowed = cached_for_settings("known_good", bucket, lambda: _allowed_principals(bucket))
    if allowed is None:
        return False
    return not cached_for_settings("known_good_principal", f"{bucket}\x00{principal}",
                                   lambda: any_glob(principal, allowed))


# Declared once: rule() and the vectorized match_table() are both derived from it (the
# known-good check runs once per distinct bucket and requester of a batch).
MATCH = s3_match(
    where("internal").is_(False),
    where("error").blank(),
    where("operation").one_of("GetObject"),
    holds(("bucket", "principal"), unknown_principal, "principal outside the bucket's known-good list"),
    dedup=("bucket", "principal_label"),
)


def rule(event):
    return MATCH.rule(event)


def match_table(table, log_type):
    return MATCH.match_table(table, log_type)


def title(event):
    access = s3_access(event)
    return f"Unknown principal [{principal_label(access)}] read objects in [{access.bucket}]"


def dedup(event):
    return MATCH.dedup(event)


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "principal": access.principal, "ip": access.ip}
