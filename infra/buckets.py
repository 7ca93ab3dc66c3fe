"""The settings every bucket of the monitoring itself shares, in one place."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.waivers import OBJECT_LOCK_OPT_IN, Waiver, apply_waiver

NONCURRENT_RETENTION = Duration.days(30)
ABORT_UPLOADS_AFTER = Duration.days(7)


def retention_rule(rule_id: str, expiration: Duration, noncurrent: Duration = NONCURRENT_RETENTION) -> s3.LifecycleRule:
    """Objects expire after `expiration`, replaced versions after `noncurrent`, and unfinished
    multipart uploads are aborted: what every monitoring bucket's data rule says."""
    return s3.LifecycleRule(
        id=rule_id,
        expiration=expiration,
        noncurrent_version_expiration=noncurrent,
        abort_incomplete_multipart_upload_after=ABORT_UPLOADS_AFTER,
    )


def monitoring_bucket(
    scope: Construct,
    construct_id: str,
    *,
    bucket_name: str,
    lifecycle_rules: Sequence[s3.LifecycleRule],
    key: kms.IKey | None = None,
    object_lock_days: int | None = None,
    object_lock_waiver: Waiver = OBJECT_LOCK_OPT_IN,
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
) -> s3.Bucket:
    """Versioned, no public access, SSL only, ACLs disabled, retained on stack deletion;
    SSE-KMS with `key` (SSE-S3 without); Object Lock in COMPLIANCE mode when asked for."""
    lock = (
        {"object_lock_enabled": True, "object_lock_default_retention": s3.ObjectLockRetention.compliance(Duration.days(object_lock_days))}
        if object_lock_days
        else {}
    )
    bucket = s3.Bucket(
        scope,
        construct_id,
        bucket_name=bucket_name,
        encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=key,
        bucket_key_enabled=True if key else None,
        versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=removal_policy,
        lifecycle_rules=list(lifecycle_rules),
        **lock,
    )
    if not object_lock_days:
        apply_waiver(bucket, object_lock_waiver)
    return bucket
