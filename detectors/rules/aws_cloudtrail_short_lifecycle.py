"""A lifecycle rule that deletes CloudTrail logs after a short time (Panther's rule).

Which buckets hold CloudTrail logs is known the way Panther's `is_cloudtrail_bucket` lookup
knows it: the configured and deployed trail buckets, the lake's trails
(`bucketwatch.cloudtrail_buckets`), and what this run saw (CreateTrail/UpdateTrail, and the
bucket each CloudTrail log file came from). A known log bucket alerts at the spec's severity
(High); a bucket that only looks like one (its name says "trail") alerts Low, as in Panther.
"""

from datetime import UTC, datetime, timedelta

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, note_trail_bucket
from bucketwatch_helpers import is_cloudtrail_bucket as _known_trail_bucket
from panther_aws_helpers import aws_cloudtrail_success

MINIMUM_RETENTION_DAYS = 7  # Panther's: how long logs must stay at least
LIFECYCLE_EVENTS = ("PutBucketLifecycle", "PutBucketLifecycleConfiguration")


def is_cloudtrail_bucket(bucket):
    """Known to hold CloudTrail logs (module-level, so tests can mock it as in Panther)."""
    return _known_trail_bucket(bucket)


def guess_is_cloudtrail_bucket(bucket):
    return "trail" in (bucket or "").lower()


def _rules(event):
    rules = event.deep_get("requestParameters", "LifecycleConfiguration", "Rule") or ()
    rules = [rules] if hasattr(rules, "get") else rules
    return [r for r in rules if hasattr(r, "get") and r.get("Status") == "Enabled"]


def _days(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _retention(event, lifecycle_rule):
    """Days objects (current or earlier versions) are kept by this rule, if it deletes them."""
    expiration = lifecycle_rule.get("Expiration") or {}
    noncurrent = lifecycle_rule.get("NoncurrentVersionExpiration") or {}
    days = [d for d in (_days(expiration.get("Days")), _days(noncurrent.get("NoncurrentDays"))) if d is not None]
    date = expiration.get("Date")
    when = _time(event.get("eventTime")) if date else None
    until = _time(date) if date else None
    if when is not None and until is not None:
        days.append(max(0, (until - when) // timedelta(days=1)))
    return min(days) if days else None


def _time(text):
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _shortest(event):
    """(days, lifecycle rule id) of the enabled rule that deletes soonest, if under the minimum."""
    found = [(days, str(r.get("ID") or "<no id>")) for r in _rules(event)
             if (days := _retention(event, r)) is not None and days < MINIMUM_RETENTION_DAYS]
    return min(found) if found else None


def rule(event):
    note_trail_bucket(event)  # CreateTrail/UpdateTrail, and this record's own log bucket
    if event.get("eventName") not in LIFECYCLE_EVENTS or not aws_cloudtrail_success(event):
        return False
    bucket = event.deep_get("requestParameters", "bucketName")
    if not bucket or not (is_cloudtrail_bucket(bucket) or guess_is_cloudtrail_bucket(bucket)):
        return False
    return _shortest(event) is not None


def severity(event):
    return "DEFAULT" if is_cloudtrail_bucket(bucket_name(event)) else "LOW"


def title(event):
    days, rule_id = _shortest(event)
    what = "CloudTrail logs" if is_cloudtrail_bucket(bucket_name(event)) else "objects (named like a trail bucket)"
    return (f"S3 bucket [{bucket_name(event)}] now deletes its {what} after {days} day{'s' if days != 1 else ''} "
            f"(lifecycle rule [{rule_id}]), changed by [{actor(event)}]")


def dedup(event):
    return bucket_name(event)


def alert_context(event):
    days, rule_id = _shortest(event)
    context = bucket_change_context(event)
    context.update(lifecycleRuleID=rule_id, lifecycleRuleDurationDays=days,
                   knownCloudTrailBucket=is_cloudtrail_bucket(bucket_name(event)))
    return context
