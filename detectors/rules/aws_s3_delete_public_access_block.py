"""Public access block removed (deleted, or a setting turned off) on a bucket or the account."""

from bucketwatch_helpers import actor, bucket_change_context, s3_call_succeeded

DELETE_EVENTS = ("DeleteBucketPublicAccessBlock", "DeleteAccountPublicAccessBlock")
PUT_EVENTS = ("PutBucketPublicAccessBlock", "PutAccountPublicAccessBlock")
SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _settings_turned_off(event):
    config = event.deep_get("requestParameters", "PublicAccessBlockConfiguration") or {}
    return [name for name in SETTINGS if str(config.get(name)).lower() == "false"]


def rule(event):
    if s3_call_succeeded(event, *DELETE_EVENTS):
        return True
    return s3_call_succeeded(event, *PUT_EVENTS) and bool(_settings_turned_off(event))


def title(event):
    scope = event.deep_get("requestParameters", "bucketName")
    target = f"S3 bucket [{scope}]" if scope else f"account [{event.get('recipientAccountId')}]"
    return f"Public access block removed from {target} by [{actor(event)}]"


def alert_context(event):
    context = bucket_change_context(event)
    context["settings_turned_off"] = _settings_turned_off(event) or list(SETTINGS)
    return context
