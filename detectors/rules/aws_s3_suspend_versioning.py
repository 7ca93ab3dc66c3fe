"""Bucket versioning suspended: overwritten and deleted objects can no longer be recovered."""

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, versioning_suspended


def rule(event):
    return versioning_suspended(event)


def title(event):
    return f"Versioning suspended on S3 bucket [{bucket_name(event)}] by [{actor(event)}]"


def alert_context(event):
    return bucket_change_context(event)
