"""Server access logging switched off on a bucket: the attacker's first step to go unseen."""

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, logging_disabled


def rule(event):
    return logging_disabled(event)


def title(event):
    return f"Server access logging disabled on S3 bucket [{bucket_name(event)}] by [{actor(event)}]"


def alert_context(event):
    return bucket_change_context(event)
