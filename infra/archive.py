"""The organization's central log archive: every account's CloudTrail files and access logs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.access_logs import add_object_created_notification
from infra.buckets import monitoring_bucket, retention_rule
from infra.naming import (
    ARCHIVE_BUCKET_PREFIX,
    ARCHIVE_KEY_ALIAS,
    REPLICATION_ROLE_PREFIX,
    TRAIL_NAME,
    regional_bucket_name,
    role_arn,
)
from infra.trail import allow_organization_cloudtrail_delivery
from infra.waivers import LOG_OBJECTS_READ, apply_waiver, iam5_resource, nag_arn

ARCHIVE_RETENTION = Duration.days(365)
# What a member's replication role needs on the destination (its replicas, owned by the archive's
# account); no ReplicateDelete: deleting in a member never deletes the archived copy.
REPLICA_ACTIONS = ("s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner")
# The members' replication roles, `bucketwatch-replication-<region>` (infra.naming.replication_role_name).
REPLICATION_ROLE_PATTERN = f"{REPLICATION_ROLE_PREFIX}-*"


class LogArchive(Construct):
    """`bucketwatch-archive-<account>-<region>`: SSE-KMS with its own key (alias
    `alias/bucketwatch-archive`, so members can name it), versioned, private, SSL only, Object Lock
    when asked for, every new object announced on `notification_topic`.

    Writers, each admitted by conditions that do not grow with the organization (S3 bucket
    policies are limited to 20 KB and KMS key policies to 32 KB; one statement per member trail
    and role used to hit the bucket limit at about 20 members of 3 regions):
    - CloudTrail, for the trails named `trail_name` of any account of `organization_id`
      (`aws:SourceOrgID`, `aws:SourceArn` by name), each under its own `AWSLogs/<account>/`
      (see `allow_organization_cloudtrail_delivery`); None admits no trail;
    - S3 replication, for IAM roles named `replication_role_pattern` (`aws:PrincipalArn` ArnLike,
      any account) of principals inside the organization (`aws:PrincipalOrgID`); None admits no
      replication.

    The price of constant size: an account of the organization that is not a listed member, or a
    member with `trail: false`, is admitted too if its administrator creates a trail or role of
    that name; it can only add its own logs (under its own prefix for CloudTrail), never read,
    delete or overwrite another account's objects (the bucket is versioned, and replication
    roles get no delete). Outsiders stay out: both grants require the organization.

    Replicated access-log keys keep their PartitionedPrefix layout
    (`<prefix><account>/<region>/<bucket>/YYYY/MM/DD/...`), so account and region stay readable.
    Replicas keep their source encryption (SSE-S3); CloudTrail files are encrypted with the key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        organization_id: str,
        trail_name: str | None = TRAIL_NAME,
        replication_role_pattern: str | None = REPLICATION_ROLE_PATTERN,
        notification_topic: sns.ITopic | None = None,
        retention: Duration = ARCHIVE_RETENTION,
        object_lock_days: int | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Bucketwatch organization log archive",
            enable_key_rotation=True,
            alias=ARCHIVE_KEY_ALIAS,
            removal_policy=removal_policy,
        )
        self.bucket = monitoring_bucket(
            self,
            "Bucket",
            bucket_name=regional_bucket_name(ARCHIVE_BUCKET_PREFIX, stack),
            key=self.key,
            object_lock_days=object_lock_days,
            removal_policy=removal_policy,
            lifecycle_rules=[
                retention_rule("archive-retention", retention)
            ],
        )
        if trail_name is not None:
            allow_organization_cloudtrail_delivery(self.bucket, self.key, organization_id=organization_id, trail_name=trail_name)
        if replication_role_pattern is not None:
            self._allow_replication(organization_id, replication_role_pattern)
        if notification_topic is not None:
            add_object_created_notification(self.bucket, notification_topic)

    def _allow_replication(self, organization_id: str, role_pattern: str) -> None:
        # Principal "*" narrowed by conditions, not a list of account roots: the list grew with
        # every member (and a role that does not exist yet is not a valid principal, while the
        # center deploys first). Documented behaviour relied on:
        # - aws:PrincipalOrgID compares the requesting principal's organization (IAM User Guide,
        #   "AWS global condition context keys");
        # - aws:PrincipalArn is the role's ARN, not the session's, for a role (same page), so the
        #   ArnLike pattern names the members' replication roles in any account;
        # - a statement limited by a fixed aws:PrincipalOrgID value is not "public" (S3 User
        #   Guide, "Blocking public access to your Amazon S3 storage", "The meaning of public"),
        #   so BlockPublicPolicy on the archive accepts it.
        conditions = {
            "StringEquals": {"aws:PrincipalOrgID": organization_id},
            "ArnLike": {"aws:PrincipalArn": role_arn("*", role_pattern)},
        }
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MemberReplicationRolesWriteReplicas",
                principals=[iam.AnyPrincipal()],
                actions=list(REPLICA_ACTIONS),
                resources=[self.bucket.arn_for_objects("*")],
                conditions=conditions,
            )
        )
        # S3 checks that the destination is versioned when a member sets up replication.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MemberReplicationRolesCheckVersioning",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetBucketVersioning"],
                resources=[self.bucket.bucket_arn],
                conditions=conditions,
            )
        )

    def grant_read_logs(self, grantee: iam.IGrantable) -> None:
        """Read any archived log object and decrypt CloudTrail files."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects("*")])
        )
        self.key.grant_decrypt(grantee)
        apply_waiver(grantee, LOG_OBJECTS_READ, iam5_resource(f"{nag_arn(self.bucket)}/*"))
