"""The regional server-access-log bucket: every monitored bucket in the region logs into it."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct, IConstruct

from infra.buckets import monitoring_bucket, retention_rule
from infra.naming import ACCESS_LOG_BUCKET_PREFIX, regional_bucket_name
from infra.waivers import (
    ACCESS_LOG_BUCKET_NO_OBJECT_LOCK,
    ACCESS_LOG_BUCKET_SELF_LOGGING,
    ACCESS_LOG_BUCKET_SSE_S3,
    ACCESS_LOG_BUCKET_UNRECORDED,
    BUCKETWATCH_METADATA_KEY,
    apply_waiver,
)

# Template metadata key marking a bucket as an access-log target (read by the logging Aspect).
ROLE_METADATA_KEY = BUCKETWATCH_METADATA_KEY
ACCESS_LOG_TARGET_ROLE = "access-log-target"
LOGGING_SERVICE = "logging.s3.amazonaws.com"
LOG_RETENTION = Duration.days(365)
NONCURRENT_RETENTION = Duration.days(30)


def is_access_log_target(bucket: s3.CfnBucket) -> bool:
    marker = bucket.get_metadata(ROLE_METADATA_KEY)
    return isinstance(marker, dict) and marker.get("role") == ACCESS_LOG_TARGET_ROLE


class AccessLogBucket(Construct):
    """One per region: SSE-S3 (access-log targets cannot use SSE-KMS), versioned, no public access,
    SSL only, ACLs disabled, S3 log delivery allowed by bucket policy for this account only, and
    every new log object announced on `notification_topic`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        notification_topic: sns.ITopic | None = None,
        retention: Duration = LOG_RETENTION,
        noncurrent_retention: Duration = NONCURRENT_RETENTION,
        bucket_name: str | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # SSE-S3: S3 log delivery cannot write to SSE-KMS target buckets.
        self.bucket = monitoring_bucket(
            self,
            "Bucket",
            bucket_name=bucket_name or regional_bucket_name(ACCESS_LOG_BUCKET_PREFIX, stack),
            object_lock_waiver=ACCESS_LOG_BUCKET_NO_OBJECT_LOCK,
            removal_policy=removal_policy,
            lifecycle_rules=[
                retention_rule("expire-access-logs", retention, noncurrent_retention)
            ],
        )
        # Bucket policy, not the log-delivery ACL: S3 delivers logs as the logging service
        # principal, and only for source buckets owned by this account.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="S3ServerAccessLogsPolicy",
                principals=[iam.ServicePrincipal(LOGGING_SERVICE)],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        cfn_bucket = self.cfn_bucket
        # Same metadata entry as Bucketwatch suppressions: merge, never replace.
        marker = {**(cfn_bucket.get_metadata(ROLE_METADATA_KEY) or {}), "role": ACCESS_LOG_TARGET_ROLE}
        cfn_bucket.add_metadata(ROLE_METADATA_KEY, marker)
        apply_waiver(self.bucket, ACCESS_LOG_BUCKET_SELF_LOGGING)
        apply_waiver(self.bucket, ACCESS_LOG_BUCKET_SSE_S3)
        apply_waiver(self.bucket, ACCESS_LOG_BUCKET_UNRECORDED)
        if notification_topic is not None:
            add_object_created_notification(self.bucket, notification_topic)

    @property
    def cfn_bucket(self) -> s3.CfnBucket:
        child = self.bucket.node.default_child
        assert isinstance(child, s3.CfnBucket)
        return child


def add_object_created_notification(
    bucket: s3.Bucket, topic: sns.ITopic, *, prefix: str | None = None
) -> None:
    """Object-created events to `topic`, as a plain bucket property.

    CDK's `add_event_notification` goes through a custom-resource Lambda; a native
    `NotificationConfiguration` needs no extra function and deploys anywhere CloudFormation does.
    The topic policy must allow S3 first, so the bucket depends on it.
    """
    cfn_bucket = bucket.node.default_child
    assert isinstance(cfn_bucket, s3.CfnBucket)
    key_filter = (
        s3.CfnBucket.NotificationFilterProperty(
            s3_key=s3.CfnBucket.S3KeyFilterProperty(
                rules=[s3.CfnBucket.FilterRuleProperty(name="prefix", value=prefix)]
            )
        )
        if prefix
        else None
    )
    cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
        topic_configurations=[
            s3.CfnBucket.TopicConfigurationProperty(
                event="s3:ObjectCreated:*", topic=topic.topic_arn, filter=key_filter
            )
        ]
    )
    for dependency in _topic_policies(topic):
        cfn_bucket.node.add_dependency(dependency)


def _topic_policies(topic: sns.ITopic) -> list[IConstruct]:
    return [child for child in topic.node.children if isinstance(child, sns.TopicPolicy)]
