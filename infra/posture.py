"""The posture scanner: an EventBridge schedule runs the live scan with a read-only role."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from detectors.common.organization import FILE_VARIABLE as ORGANIZATION_FILE_VARIABLE
from detectors.common.organization import OrganizationSettings
from infra.function import MonitoredFunction
from infra.posture_fanout import WORKER_CONCURRENCY, WORKER_HANDLER, PostureFanOut
from infra.waivers import (
    ASSUME_AUDIT_ROLES_BY_ORGANIZATION,
    POSTURE_READS_EVERY_BUCKET,
    apply_waiver,
    iam5_resource,
    nag_arn,
)
from policies.model import BUCKET_FIELDS
from policies.posture_handler import QUEUE_VARIABLE

POSTURE_HANDLER = "policies.posture_handler.handler"
POSTURE_LAKE_PREFIX = "bucketwatch/posture_findings/"
SCAN_TIMEOUT = Duration.minutes(15)
# The fan-out's scheduled run only sends one SQS message per account (ten per call).
DISPATCH_TIMEOUT = Duration.minutes(2)

# The IAM actions behind each API call the live source makes (policies/model.py BUCKET_FIELDS
# names the call per field). A new call in the model without an entry here fails synthesis,
# so the role cannot silently lag behind the scanner.
API_CALL_ACTIONS: dict[str, tuple[str, ...]] = {
    "ListBuckets": ("s3:ListAllMyBuckets",),
    "GetBucketAcl": ("s3:GetBucketAcl",),
    "GetBucketLocation": ("s3:GetBucketLocation",),
    "GetBucketEncryption": ("s3:GetEncryptionConfiguration",),
    "GetBucketLogging": ("s3:GetBucketLogging",),
    "GetBucketVersioning": ("s3:GetBucketVersioning",),
    "GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock",),
    "GetBucketPolicy": ("s3:GetBucketPolicy",),
    "GetObjectLockConfiguration": ("s3:GetBucketObjectLockConfiguration",),
    "GetBucketTagging": ("s3:GetBucketTagging",),
    "GetBucketLifecycleConfiguration": ("s3:GetLifecycleConfiguration",),
    "GetBucketPolicyStatus": ("s3:GetBucketPolicyStatus",),
    "GetBucketOwnershipControls": ("s3:GetBucketOwnershipControls",),
    "s3control:GetPublicAccessBlock": ("s3:GetAccountPublicAccessBlock",),
    # The logging target is described with the same calls as any bucket.
    "GetBucketLogging (target bucket)": (),
    "cloudtrail:DescribeTrails/GetEventSelectors/GetTrailStatus": (
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetEventSelectors",
        "cloudtrail:GetTrailStatus",
    ),
}
# Actions that IAM only grants on "*" (they have no resource type).
S3_ANY_BUCKET = f"arn:{Aws.PARTITION}:s3:::*"
TRAIL_ANY = f"arn:{Aws.PARTITION}:cloudtrail:*:*:trail/*"
# The same ARNs as cdk-nag prints them (pseudo parameters in angle brackets).
S3_ANY_BUCKET_NAG = "arn:<AWS::Partition>:s3:::*"
TRAIL_ANY_NAG = "arn:<AWS::Partition>:cloudtrail:*:*:trail/*"
RESOURCELESS_ACTIONS = frozenset({"s3:ListAllMyBuckets", "s3:GetAccountPublicAccessBlock", "cloudtrail:DescribeTrails"})


def audit_roles_anywhere(role_name: str, partition: str = Aws.PARTITION) -> str:
    """The audit role in any account; the statement's aws:ResourceOrgID narrows it to the organization."""
    return f"arn:{partition}:iam::*:role/{role_name}"


def scan_actions() -> list[str]:
    """Sorted IAM actions needed by every call the live source makes."""
    missing = sorted({call for call in BUCKET_FIELDS.values() if call not in API_CALL_ACTIONS})
    if missing:
        raise RuntimeError(f"posture role: no IAM actions known for live-source calls {missing}; add them to API_CALL_ACTIONS")
    return sorted({action for call in BUCKET_FIELDS.values() for action in API_CALL_ACTIONS[call]})


def read_only_statements() -> list[iam.PolicyStatement]:
    actions = scan_actions()
    s3_bucket_actions = [a for a in actions if a.startswith("s3:") and a not in RESOURCELESS_ACTIONS]
    trail_actions = [a for a in actions if a.startswith("cloudtrail:") and a not in RESOURCELESS_ACTIONS]
    return [
        iam.PolicyStatement(
            sid="DescribeAnyBucket", actions=s3_bucket_actions, resources=[S3_ANY_BUCKET]
        ),
        # Trails of other accounts (organization trails) cover buckets here too.
        iam.PolicyStatement(
            sid="DescribeAnyTrail",
            actions=trail_actions,
            resources=[TRAIL_ANY],
        ),
        iam.PolicyStatement(
            sid="ListWithoutResourceTypes", actions=sorted(a for a in actions if a in RESOURCELESS_ACTIONS), resources=["*"]
        ),
    ]


class PostureScanner(Construct):
    """An EventBridge schedule runs the live scan (`policies.posture_handler`) with a read-only role.

    Alone it scans its own account in one invocation. Given `organization` (the organization's
    id, accounts and audit role name), it is the organization's one scanner, fanned out
    (infra/posture_fanout.py): the scheduled function only sends one message per account to a
    queue; a worker function from the same code scans one account per message. Both get
    `BUCKETWATCH_ORGANIZATION_FILE` = `organization_file`, the organization's settings as a JSON
    file in `code` (infra/bundling.py `lambda_code`). Only the worker may assume the audit role, by
    its name, in accounts of the organization (aws:ResourceOrgID), nothing else in other accounts:
    one statement whatever the number of members. `role_name` names the role of the function that
    scans, so the members' audit roles can trust exactly it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        key: kms.IKey,
        processed_bucket: s3.IBucket,
        alerts_topic: sns.ITopic,
        schedule: events.Schedule | None = None,
        scan_regions: Sequence[str] = (),
        layers: Sequence[lambda_.ILayerVersion] = (),
        timeout: Duration = SCAN_TIMEOUT,
        memory_size: int = 1024,
        config_file: str | None = None,
        organization: OrganizationSettings | None = None,
        organization_file: str | None = None,
        role_name: str | None = None,
        worker_concurrency: int = WORKER_CONCURRENCY,
    ) -> None:
        super().__init__(scope, construct_id)
        shared = {"BUCKETWATCH_CONFIG": config_file} if config_file else {}
        if organization is not None:
            if not organization_file:
                raise ValueError("the organization's posture scan needs its settings file in the code (organization_file)")
            shared[ORGANIZATION_FILE_VARIABLE] = organization_file
        environment = {
            "ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
            "PROCESSED_BUCKET": processed_bucket.bucket_name,
            **({"SCAN_REGIONS": ",".join(scan_regions)} if scan_regions else {}),
            **shared,
        }
        function = functools.partial(
            MonitoredFunction, code=code, key=key, layers=layers, alarm_topic=alerts_topic, memory_size=memory_size
        )
        # `monitored` is the scheduled function; `scanner` the one that scans (the same one alone).
        self.fan_out: PostureFanOut | None = None
        if organization is None:
            self.monitored = self.scanner = function(
                self, "Scanner", handler=POSTURE_HANDLER, environment=environment, timeout=timeout, role_name=role_name,
                reserved_concurrency=1,  # one scan at a time: a second would only repeat the first
                retry_attempts=1,
                description="Bucketwatch: scan live bucket configuration with the posture policies",
            )
        else:
            # One dispatch at a time: a second would send the same messages again.
            self.monitored = function(
                self, "Scanner", handler=POSTURE_HANDLER, environment=shared, timeout=DISPATCH_TIMEOUT,
                reserved_concurrency=1, retry_attempts=1,
                description="Bucketwatch: send one posture-scan message per organization account",
            )
            self.scanner = function(
                self, "Worker", handler=WORKER_HANDLER, environment=environment, timeout=timeout, role_name=role_name,
                reserved_concurrency=worker_concurrency,
                description="Bucketwatch: scan one organization account's live buckets with the posture policies",
            )
            self.fan_out = PostureFanOut(
                self, "FanOut", dispatcher_role=self.monitored.role, worker=self.scanner, worker_timeout=timeout,
                concurrency=worker_concurrency,
            )
            self.monitored.function.add_environment(QUEUE_VARIABLE, self.fan_out.queue.queue_url)
        self.function = self.monitored.function
        grant_scan(self.scanner.role, key, processed_bucket, alerts_topic)
        if organization is not None:
            grant_assume_audit_roles(self.scanner.role, organization)
        self.rule = events.Rule(
            self,
            "Schedule",
            description="Bucketwatch posture scan",
            schedule=schedule or events.Schedule.rate(Duration.hours(24)),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.monitored.dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=Duration.hours(2),
                )
            ],
        )


def grant_scan(role: iam.Role, key: kms.IKey, processed_bucket: s3.IBucket, alerts_topic: sns.ITopic) -> None:
    """What the function that scans may do: read configuration, write findings, publish alerts."""
    for statement in read_only_statements():
        role.add_to_policy(statement)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="WritePostureFindings",
            actions=["s3:PutObject"],
            resources=[processed_bucket.arn_for_objects(f"{POSTURE_LAKE_PREFIX}*")],
        )
    )
    role.add_to_policy(iam.PolicyStatement(sid="PublishAlerts", actions=["sns:Publish"], resources=[alerts_topic.topic_arn]))
    key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
    apply_waiver(
        role,
        POSTURE_READS_EVERY_BUCKET,
        *(iam5_resource(r) for r in (S3_ANY_BUCKET_NAG, TRAIL_ANY_NAG, "*")),
        iam5_resource(f"{nag_arn(processed_bucket)}/{POSTURE_LAKE_PREFIX}*"),
    )


def assume_audit_roles_statement(organization: OrganizationSettings) -> iam.PolicyStatement:
    """The audit role, by its fixed name, in the accounts of the organization: one statement of
    constant size, however many members (a list of ARNs passed IAM's 6,144-character managed
    policy limit at 121 members).

    aws:ResourceOrgID is the organization of the account that owns the requested resource, here
    the role to assume (IAM User Guide, "AWS global condition context keys", aws:ResourceOrgID:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceorgid).
    The member's audit role trusts only this role, and only from the organization
    (aws:PrincipalOrgID, infra/audit_role.py): both sides name the organization.
    """
    if not organization.organization_id or not organization.audit_role_name:
        raise ValueError("the organization's posture scan needs the organization id and the audit role name")
    return iam.PolicyStatement(
        sid="AssumeMemberAuditRoles",
        actions=["sts:AssumeRole"],
        resources=[audit_roles_anywhere(organization.audit_role_name)],
        conditions={"StringEquals": {"aws:ResourceOrgID": organization.organization_id}},
    )


def grant_assume_audit_roles(role: iam.Role, organization: OrganizationSettings) -> None:
    role.add_to_policy(assume_audit_roles_statement(organization))
    assert organization.audit_role_name is not None  # checked by the statement
    apply_waiver(role, ASSUME_AUDIT_ROLES_BY_ORGANIZATION,
                 iam5_resource(audit_roles_anywhere(organization.audit_role_name, "<AWS::Partition>")))
