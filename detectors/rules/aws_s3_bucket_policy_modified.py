"""Access-related bucket configuration changed: policy, ACL, CORS, lifecycle or replication."""

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, s3_call_succeeded

POLICY_CHANGE_EVENTS = (
    "PutBucketAcl", "PutBucketPolicy", "DeleteBucketPolicy", "PutBucketCors", "DeleteBucketCors",
    "PutBucketLifecycle", "DeleteBucketLifecycle", "PutBucketReplication", "DeleteBucketReplication",
)


def rule(event):
    return s3_call_succeeded(event, *POLICY_CHANGE_EVENTS)


def title(event):
    return f"S3 bucket [{bucket_name(event)}] modified by [{actor(event)}] ({event.get('eventName')})"


def dedup(event):
    return f"{bucket_name(event)}:{actor(event)}"


def alert_context(event):
    return bucket_change_context(event)
