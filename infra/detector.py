"""The detector pipeline: new log object → notification topic → detector Lambda → alerts topic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from detectors.common.organization import FILE_VARIABLE as ORGANIZATION_FILE_VARIABLE
from infra.function import MonitoredFunction
from infra.waivers import LAKE_PREFIX_WRITE, LOG_OBJECTS_READ, apply_waiver, iam5_resource, nag_arn

DETECTOR_HANDLER = "detectors.handler.handler"
DETECTOR_TIMEOUT = Duration.minutes(5)
# Prefixes the detector writes: its two lake databases, and the quarantine of unparsable lines.
DETECTOR_LAKE_PREFIXES = ("panther_logs/", "panther_rule_matches/", "_quarantine/")
# What detectors/engine/stores.py does: read a dedup group, write it back (conditional put).
DEDUP_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")


# Services that publish to the stack's encrypted topics: S3 (new log objects), CloudWatch (alarms).
TOPIC_PUBLISHERS = ("s3.amazonaws.com", "cloudwatch.amazonaws.com")


class MonitoringKey(Construct):
    """The stack's customer-managed key for topics, the dedup table, logs and Lambda environment,
    with the service grants those need (`publishers` publish to encrypted topics, for this account
    only; CloudWatch Logs encrypts log groups)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        publishers: Sequence[str] = TOPIC_PUBLISHERS,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self, "Key", description="Bucketwatch monitoring", enable_key_rotation=True, removal_policy=removal_policy
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowServicesToPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal(service) for service in publishers],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsToEncryptLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
                        )
                    }
                },
            )
        )


def state_table(scope: Construct, construct_id: str, *, key: kms.IKey,
                removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> dynamodb.Table:
    """A table of versioned JSON items (`pk` string, TTL `expires_at`): the dedup and scheduler
    stores (detectors/engine/stores.py, detectors/scheduled/state.py). On-demand, PITR, the stack's key."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        time_to_live_attribute="expires_at",
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
        removal_policy=removal_policy,
    )


def allow_alarm_notifications(topic: sns.Topic) -> None:
    """Let CloudWatch alarms of this account and region publish to `topic` (an SNS topic policy
    with only the TLS deny silently drops every alarm notification)."""
    stack = Stack.of(topic)
    alarms = stack.format_arn(service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME)
    allow_publish(
        topic,
        sid="AllowCloudWatchAlarmsOfThisAccount",
        service="cloudwatch.amazonaws.com",
        conditions={"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": alarms}},
    )


def allow_publish(topic: sns.ITopic, *, sid: str, service: str, conditions: dict[str, dict[str, Any]]) -> None:
    """Let `service` publish to `topic` under `conditions` (name the source: no confused deputy)."""
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(service)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=conditions,
        )
    )


class DetectorPipeline(Construct):
    """Topics, dedup table and the detector function with a role that can only read the log
    buckets it is given, write the detector's lake prefixes, use the dedup table and publish to
    the alerts topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        key: kms.IKey,
        processed_bucket: s3.IBucket,
        layers: Sequence[lambda_.ILayerVersion] = (),
        reserved_concurrency: int = 5,
        retry_attempts: int = 2,
        memory_size: int = 1024,
        timeout: Duration = DETECTOR_TIMEOUT,
        config_file: str | None = None,
        organization_file: str | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.notification_topic = sns.Topic(
            self, "NotificationTopic", display_name="Bucketwatch new log objects", master_key=key, enforce_ssl=True
        )
        # S3 announces new log objects; only buckets of this account may publish.
        allow_publish(
            self.notification_topic,
            sid="AllowS3ObjectCreatedNotifications",
            service="s3.amazonaws.com",
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        )
        self.alerts_topic = sns.Topic(
            self, "AlertsTopic", display_name="Bucketwatch alerts", master_key=key, enforce_ssl=True
        )
        allow_alarm_notifications(self.alerts_topic)
        self.dedup_table = state_table(self, "DedupTable", key=key, removal_policy=removal_policy)
        environment = {
            "ALERTS_TOPIC_ARN": self.alerts_topic.topic_arn,
            "PROCESSED_BUCKET": processed_bucket.bucket_name,
            "DEDUP_TABLE": self.dedup_table.table_name,
        }
        if config_file:
            environment["BUCKETWATCH_CONFIG"] = config_file
        if organization_file:  # the organization's settings, a file in `code`
            environment[ORGANIZATION_FILE_VARIABLE] = organization_file
        self.monitored = MonitoredFunction(
            self,
            "Detector",
            handler=DETECTOR_HANDLER,
            code=code,
            key=key,
            environment=environment,
            layers=layers,
            alarm_topic=self.alerts_topic,
            reserved_concurrency=reserved_concurrency,
            retry_attempts=retry_attempts,
            memory_size=memory_size,
            timeout=timeout,
            description="Bucketwatch: parse new S3 access-log and CloudTrail objects, run detections, write the lake",
        )
        self.function = self.monitored.function
        role = self.monitored.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteDetectorLakePrefixes",
                actions=["s3:PutObject"],
                resources=[processed_bucket.arn_for_objects(f"{prefix}*") for prefix in DETECTOR_LAKE_PREFIXES],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="PublishAlerts", actions=["sns:Publish"], resources=[self.alerts_topic.topic_arn])
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="DedupState", actions=list(DEDUP_ACTIONS), resources=[self.dedup_table.table_arn])
        )
        # Encrypted topic and table: publishing and item access need the data key.
        key.grant(role, "kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt")
        apply_waiver(
            role,
            LAKE_PREFIX_WRITE,
            *(iam5_resource(f"{nag_arn(processed_bucket)}/{prefix}*") for prefix in DETECTOR_LAKE_PREFIXES),
        )
        self.function.add_event_source(event_sources.SnsEventSource(self.notification_topic))

    def read_logs_from(self, bucket: s3.IBucket, prefix: str = "") -> None:
        """Let the detector read new log objects of `bucket` (objects under `prefix` only)."""
        self.monitored.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{prefix}*")])
        )
        apply_waiver(self.monitored.role, LOG_OBJECTS_READ, iam5_resource(f"{nag_arn(bucket)}/{prefix}*"))

