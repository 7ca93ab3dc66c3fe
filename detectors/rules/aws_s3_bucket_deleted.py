"""A bucket was deleted."""

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, s3_call_succeeded


def rule(event):
    return s3_call_succeeded(event, "DeleteBucket")


def title(event):
    return f"S3 bucket [{bucket_name(event)}] deleted by [{actor(event)}]"


def alert_context(event):
    return bucket_change_context(event)
