"""The organization's central log archive: every account's CloudTrail files and access logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.access_logs import add_object_created_notification
from infra.buckets import monitoring_bucket, retention_rule
from infra.naming import ARCHIVE_BUCKET_PREFIX, ARCHIVE_KEY_ALIAS, account_root, regional_bucket_name
from infra.trail import allow_cloudtrail_delivery
from infra.waivers import LOG_OBJECTS_READ, apply_waiver, iam5_resource, nag_arn

ARCHIVE_RETENTION = Duration.days(365)
# What a member's replication role needs on the destination (its replicas, owned by the archive's
# account); no ReplicateDelete: deleting in a member never deletes the archived copy.
REPLICA_ACTIONS = ("s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner")


class LogArchive(Construct):
    """`bucketwatch-archive-<account>-<region>`: SSE-KMS with its own key (alias
    `alias/bucketwatch-archive`, so members can name it), versioned, private, SSL only, Object Lock
    when asked for, every new object announced on `notification_topic`.

    Writers, each admitted by the narrowest condition that works across accounts:
    - CloudTrail, for exactly the trails in `trails` (`{account: trail ARN}`, `aws:SourceArn`),
      each under its own `AWSLogs/<account>/`;
    - S3 replication, for exactly the roles in `replication_roles` (`aws:PrincipalArn`), named
      through their accounts' roots (a role that does not exist yet is not a valid principal, and
      the center deploys first) and only from inside the organization (`aws:PrincipalOrgID`).

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
        trails: Mapping[str, str],
        replication_roles: Sequence[str],
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
        if trails:
            allow_cloudtrail_delivery(self.bucket, self.key, trails)
        if replication_roles:
            self._allow_replication(organization_id, replication_roles)
        if notification_topic is not None:
            add_object_created_notification(self.bucket, notification_topic)

    def _allow_replication(self, organization_id: str, roles: Sequence[str]) -> None:
        accounts = sorted({role.split(":")[4] for role in roles})
        principals = [iam.ArnPrincipal(account_root(account)) for account in accounts]
        in_organization = {"StringEquals": {"aws:PrincipalOrgID": organization_id}}
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MemberReplicationRolesWriteReplicas",
                principals=principals,
                actions=list(REPLICA_ACTIONS),
                resources=[self.bucket.arn_for_objects("*")],
                conditions={**in_organization, "ArnEquals": {"aws:PrincipalArn": sorted(roles)}},
            )
        )
        # S3 checks that the destination is versioned when a member sets up replication.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MemberReplicationRolesCheckVersioning",
                principals=principals,
                actions=["s3:GetBucketVersioning"],
                resources=[self.bucket.bucket_arn],
                conditions={**in_organization, "ArnEquals": {"aws:PrincipalArn": sorted(roles)}},
            )
        )

    def grant_read_logs(self, grantee: iam.IGrantable) -> None:
        """Read any archived log object and decrypt CloudTrail files."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects("*")])
        )
        self.key.grant_decrypt(grantee)
        apply_waiver(grantee, LOG_OBJECTS_READ, iam5_resource(f"{nag_arn(self.bucket)}/*"))
