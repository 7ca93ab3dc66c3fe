"""Deterministic names of the monitoring's own buckets.

Names are derived from account and region (tokens in an environment-agnostic stack), so any
stack in a region can point its buckets' access logs at that region's log bucket, and the
trail can exclude all of the monitoring's buckets by name prefix without cross-stack references.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack

ACCESS_LOG_BUCKET_PREFIX = "bucketwatch-access-logs"
LAKE_BUCKET_PREFIX = "bucketwatch-lake"
TRAIL_BUCKET_PREFIX = "bucketwatch-trail"
TRAIL_NAME = "bucketwatch-data-events"


def regional_bucket_name(prefix: str, stack: Stack) -> str:
    """`<prefix>-<account>-<region>` for the stack's environment."""
    return f"{prefix}-{stack.account}-{stack.region}"


def account_bucket_name_prefix(prefix: str, stack: Stack) -> str:
    """`<prefix>-<account>-`: every region's bucket of this kind in the account."""
    return f"{prefix}-{stack.account}-"


def s3_arn(name_or_prefix: str) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{name_or_prefix}"
