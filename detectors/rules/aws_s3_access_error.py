"""Access errors (HTTP 400/403/405) on object operations: probing, broken or revoked access."""

from bucketwatch_helpers import principal_label, s3_access, s3_match, settings, where

MONITORED_STATUS = {400, 403, 405}

# Declared once: rule() and the vectorized match_table() are both derived from it.
MATCH = s3_match(
    where("internal").is_(False),
    where("error").present(),
    # AWS's own delivery agents retry with stale signatures all the time: not a client's error.
    where("user_agent").not_starts_with("aws-internal"),
    # REST.*.OBJECT in access logs, an object call's eventName in CloudTrail.
    where("object_call").is_(True),
    where("http_status").one_of(*MONITORED_STATUS),
    dedup=("bucket", "principal_label", "error"),
)


def rule(event):
    return MATCH.rule(event)


def match_table(table, log_type):
    return MATCH.match_table(table, log_type)


def title(event):
    access = s3_access(event)
    return (f"S3 access errors ({access.error}) on objects in [{access.bucket}] "
            f"from [{principal_label(access)}]")


def dedup(event):
    return MATCH.dedup(event)


def alert_context(event):
    access = s3_access(event)
    context = {"bucket": access.bucket, "key": access.key, "principal": access.principal,
               "ip": access.ip, "operation": access.raw_operation, "error": access.error,
               "http_status": access.http_status}
    # The threshold this group alerts at when the lake's baseline says it errs every day
    # (the scheduled query "Bucketwatch S3 Access Error Baseline"; detectors/baseline/access_errors.py).
    baseline = settings().group_thresholds.get("AWS.S3.ServerAccess.Error", {}).get(dedup(event))
    if baseline:
        context["baseline_threshold"] = baseline
    return context
