"""The read-only role the organization's central posture scan assumes in a member account."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.posture import S3_ANY_BUCKET_NAG, TRAIL_ANY_NAG, read_only_statements
from infra.waivers import ORGANIZATION_AUDIT_READS, apply_waiver, iam5_resource

MAX_SESSION = Duration.hours(1)  # one scan of one account fits in the posture Lambda's 15 minutes


class AuditRole(Construct):
    """`role_name` in this account: exactly the configuration reads the live scan makes
    (`infra.posture.scan_actions`, Get/List/Describe only, no object data), assumable only by
    `trusted_role_arn` and only while that principal is in `organization_id` (aws:PrincipalOrgID).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        trusted_role_arn: str,
        organization_id: str,
        max_session: Duration = MAX_SESSION,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            description="Bucketwatch: read-only posture audit by the organization's central scanner",
            max_session_duration=max_session,
            assumed_by=iam.ArnPrincipal(trusted_role_arn).with_conditions(
                {"StringEquals": {"aws:PrincipalOrgID": organization_id}}
            ),
        )
        for statement in read_only_statements():
            self.role.add_to_policy(statement)
        apply_waiver(
            self.role, ORGANIZATION_AUDIT_READS, *(iam5_resource(r) for r in (S3_ANY_BUCKET_NAG, TRAIL_ANY_NAG, "*"))
        )
