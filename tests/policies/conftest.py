"""Fixtures for the posture tests: the built-in policies and a real `cdk synth` of a small app."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"


@pytest.fixture(scope="session")
def policies():
    from policies.registry import load_policies

    return load_policies()


def _build_app(outdir: Path) -> None:
    """A small CDK app: good, bad and suppressed buckets, a nested stack and a data-event trail."""
    import aws_cdk as cdk
    from aws_cdk import Duration, RemovalPolicy
    from aws_cdk import aws_cloudtrail as cloudtrail
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    # Log delivery through the bucket policy, not ACLs (what Bucketwatch's own log buckets use).
    app = cdk.App(outdir=str(outdir), context={"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True})
    stack = cdk.Stack(app, "BwPosture")
    logs = s3.Bucket(stack, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
                     versioned=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                     object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                     lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
                     removal_policy=RemovalPolicy.DESTROY)
    logs.node.default_child.add_metadata("bucketwatch", {"suppressions": [
        {"id": "BW.S3.Logging", "reason": "the access-log bucket cannot log into itself"},
        {"id": "BW.S3.EncryptionKMS", "reason": "log delivery cannot write to SSE-KMS buckets"},
    ]})
    key = kms.Key(stack, "DataKey", enable_key_rotation=True)
    s3.Bucket(stack, "Secure", encryption=s3.BucketEncryption.KMS, encryption_key=key, enforce_ssl=True,
              versioned=True, server_access_logs_bucket=logs, server_access_logs_prefix="secure/",
              block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
              object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
              lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(180))])
    s3.Bucket(stack, "Public", public_read_access=True,
              block_public_access=s3.BlockPublicAccess(block_public_policy=False, restrict_public_buckets=False,
                                                       block_public_acls=True, ignore_public_acls=True))
    nested = cdk.NestedStack(stack, "Inner")
    s3.Bucket(nested, "NestedPlain")
    trail = cloudtrail.Trail(stack, "DataTrail", is_multi_region_trail=True)
    trail.add_s3_event_selector([cloudtrail.S3EventSelector(bucket=logs)])
    app.synth()


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cdk.out directory from a real synth of `_build_app` (jsii runs the CDK in Node)."""
    outdir = tmp_path_factory.mktemp("cdk") / "cdk.out"
    _build_app(outdir)
    return outdir
