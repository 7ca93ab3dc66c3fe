"""Cross-account replication of a member's access-log bucket into the central archive."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.naming import s3_arn
from infra.waivers import REPLICATION_OBJECTS, apply_waiver, iam5_resource, nag_text

RULE_ID = "to-central-archive"
# CloudWatch metrics S3 publishes per rule once replication metrics are on (AWS/S3 namespace).
FAILED_METRIC = "OperationsFailedReplication"
SOURCE_ACTIONS = ("s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging")
SOURCE_BUCKET_ACTIONS = ("s3:GetReplicationConfiguration", "s3:ListBucket")
DESTINATION_ACTIONS = ("s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner")


class CrossAccountReplication(Construct):
    """Every new object of `source` is replicated to `destination_bucket_name` in
    `destination_account`, owned there by the destination account (AccessControlTranslation
    Owner=Destination), keys unchanged; deletions are not replicated (the archive keeps the copy).

    The role (S3 may assume it only for this account and bucket) reads only `source`'s object
    versions and writes only replicas into the destination. Replication metrics are on, and
    `alarm` fires when any object fails to replicate within five minutes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source: s3.Bucket,
        destination_bucket_name: str,
        destination_account: str,
        role_name: str | None = None,
        alarm_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        cfn_bucket = source.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        # ARNs from the bucket's literal name, not its Ref: the bucket depends on the role and its
        # policy, so they must not depend on the bucket.
        if stack.resolve(cfn_bucket.bucket_name) is None:
            raise ValueError(f"{source.node.path}: replication needs a source bucket with an explicit name")
        source_arn = s3_arn(cfn_bucket.bucket_name)
        destination_arn = s3_arn(destination_bucket_name)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            description="Bucketwatch: replicate access logs into the organization's central archive",
            assumed_by=iam.ServicePrincipal("s3.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": source_arn}}
            ),
        )
        policy = iam.Policy(
            self,
            "Policy",
            statements=[
                iam.PolicyStatement(sid="ReadSourceConfiguration", actions=list(SOURCE_BUCKET_ACTIONS), resources=[source_arn]),
                iam.PolicyStatement(sid="ReadSourceVersions", actions=list(SOURCE_ACTIONS), resources=[f"{source_arn}/*"]),
                iam.PolicyStatement(sid="WriteReplicas", actions=list(DESTINATION_ACTIONS), resources=[f"{destination_arn}/*"]),
            ],
        )
        policy.attach_to_role(self.role)
        apply_waiver(
            policy,
            REPLICATION_OBJECTS,
            iam5_resource(nag_text(self, f"{source_arn}/*")),
            iam5_resource(nag_text(self, f"{destination_arn}/*")),
        )
        cfn_bucket.replication_configuration = s3.CfnBucket.ReplicationConfigurationProperty(
            role=self.role.role_arn,
            rules=[
                s3.CfnBucket.ReplicationRuleProperty(
                    id=RULE_ID,
                    status="Enabled",
                    priority=0,
                    filter=s3.CfnBucket.ReplicationRuleFilterProperty(prefix=""),
                    delete_marker_replication=s3.CfnBucket.DeleteMarkerReplicationProperty(status="Disabled"),
                    destination=s3.CfnBucket.ReplicationDestinationProperty(
                        bucket=destination_arn,
                        account=destination_account,
                        access_control_translation=s3.CfnBucket.AccessControlTranslationProperty(owner="Destination"),
                        metrics=s3.CfnBucket.MetricsProperty(
                            status="Enabled",
                            event_threshold=s3.CfnBucket.ReplicationTimeValueProperty(minutes=15),
                        ),
                    ),
                )
            ],
        )
        # S3 checks that it may use the role when the replication configuration is set.
        cfn_bucket.node.add_dependency(policy)
        self.alarm = cloudwatch.Alarm(
            self,
            "FailedAlarm",
            alarm_name=alarm_name,
            alarm_description="Bucketwatch: access logs failed to replicate into the central archive",
            metric=cloudwatch.Metric(
                namespace="AWS/S3",
                metric_name=FAILED_METRIC,
                dimensions_map={
                    "SourceBucket": source.bucket_name,
                    "DestinationBucket": destination_bucket_name,
                    "RuleId": RULE_ID,
                },
                statistic="Sum",
                period=Duration.minutes(5),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
