"""Deterministic names of the monitoring's own resources.

Names are derived from account and region (tokens in an environment-agnostic stack), so any
stack can point at another's resources without cross-stack references: a bucket's access logs at
its region's log bucket, a member's trail and replication at the central archive, the central
posture scan at every member's audit role, and the trail can exclude the monitoring's buckets by
exact name.
"""

from __future__ import annotations

import re

from aws_cdk import Aws, Stack

ACCESS_LOG_BUCKET_PREFIX = "bucketwatch-access-logs"
LAKE_BUCKET_PREFIX = "bucketwatch-lake"
TRAIL_BUCKET_PREFIX = "bucketwatch-trail"
ARCHIVE_BUCKET_PREFIX = "bucketwatch-archive"
TRAIL_NAME = "bucketwatch-data-events"
# The central archive's key, by alias: members name it before they can know its key id.
ARCHIVE_KEY_ALIAS = "alias/bucketwatch-archive"
# The central posture scanner's role, named so that members' audit roles can trust exactly it.
POSTURE_ROLE_NAME = "bucketwatch-posture-scanner"
# Members' replication roles, one per region (IAM names are account-wide).
REPLICATION_ROLE_PREFIX = "bucketwatch-replication"
# Alarm names the central account accepts from members (EventBridge).
ALARM_NAME_PREFIX = "bucketwatch-"
MONITORING_PREFIXES = (ACCESS_LOG_BUCKET_PREFIX, LAKE_BUCKET_PREFIX, TRAIL_BUCKET_PREFIX, ARCHIVE_BUCKET_PREFIX)
# `<prefix>-<account>-<region>`: any of the monitoring's own buckets, in any account.
MONITORING_BUCKET_NAME = re.compile(
    rf"^({'|'.join(map(re.escape, MONITORING_PREFIXES))})-\d{{12}}-[a-z]{{2}}(-[a-z]+)+-\d+$"
)


def bucket_name(prefix: str, account: str, region: str) -> str:
    """`<prefix>-<account>-<region>`."""
    return f"{prefix}-{account}-{region}"


def regional_bucket_name(prefix: str, stack: Stack) -> str:
    """`<prefix>-<account>-<region>` for the stack's environment."""
    return bucket_name(prefix, stack.account, stack.region)


def replication_role_name(region: str) -> str:
    return f"{REPLICATION_ROLE_PREFIX}-{region}"


def s3_arn(name_or_key: str) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{name_or_key}"


def role_arn(account: str, name: str) -> str:
    return f"arn:{Aws.PARTITION}:iam::{account}:role/{name}"


def account_root(account: str) -> str:
    return f"arn:{Aws.PARTITION}:iam::{account}:root"


def trail_arn(account: str, region: str, name: str = TRAIL_NAME) -> str:
    return f"arn:{Aws.PARTITION}:cloudtrail:{region}:{account}:trail/{name}"


def archive_key_alias_arn(account: str, region: str) -> str:
    return f"arn:{Aws.PARTITION}:kms:{region}:{account}:{ARCHIVE_KEY_ALIAS}"


def default_event_bus_arn(account: str, region: str) -> str:
    return f"arn:{Aws.PARTITION}:events:{region}:{account}:event-bus/default"
