"""Objects copied between a bucket of this account and a bucket of another account."""

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, s3_call_succeeded


def _own_account(event):
    return event.deep_get("userIdentity", "accountId") or event.get("recipientAccountId")


def _external_buckets(event):
    own = _own_account(event)
    return [
        resource.get("ARN") or resource.get("arn")
        for resource in event.get("resources") or ()
        if resource.get("type") == "AWS::S3::Bucket" and resource.get("accountId") not in (None, "", own)
    ]


def rule(event):
    return s3_call_succeeded(event, "CopyObject") and bool(_external_buckets(event))


def title(event):
    return f"S3 object copied across accounts ({', '.join(_external_buckets(event))}) by [{actor(event)}]"


def dedup(event):
    return f"{bucket_name(event)}:{actor(event)}"


def alert_context(event):
    context = bucket_change_context(event)
    context["externalBuckets"] = _external_buckets(event)
    context["copySource"] = event.deep_get("requestParameters", "x-amz-copy-source")
    return context
