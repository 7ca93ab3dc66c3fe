"""MFA delete turned off on a bucket: versions can be deleted without a second factor."""

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, mfa_delete_disabled


def rule(event):
    return mfa_delete_disabled(event)


def title(event):
    return f"MFA delete disabled on S3 bucket [{bucket_name(event)}] by [{actor(event)}]"


def alert_context(event):
    return bucket_change_context(event)
