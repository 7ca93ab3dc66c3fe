"""A member account's region in the organization: logs replicate to the center, nothing runs here."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from infra.access_logs import AccessLogBucket
from infra.alarm_forwarder import AlarmForwarder
from infra.audit_role import AuditRole
from infra.central import central_bucket_names
from infra.config import Member, Organization, stage_id
from infra.naming import (
    ACCESS_LOG_BUCKET_PREFIX,
    ALARM_NAME_PREFIX,
    ARCHIVE_BUCKET_PREFIX,
    POSTURE_ROLE_NAME,
    archive_key_alias_arn,
    bucket_name,
    default_event_bus_arn,
    replication_role_name,
    role_arn,
)
from infra.replication import CrossAccountReplication
from infra.stack import MonitoringStage
from infra.trail import DataEventTrail, TrailDestination
from infra.waivers import narrowed_data_events


class MemberStack(Stack):
    """In every member region: the regional access-log bucket (S3 delivers access logs only within
    the source bucket's account and region), replicated into the central archive, with an alarm on
    failed replication forwarded to the central account. In the member's home region (its first
    listed) also: the account's trail, delivering into the central archive, and the read-only audit
    role the central posture scan assumes. No Lambda, topic or key of its own.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, organization: Organization, member: Member, region: str, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, description="Bucketwatch: member account log delivery and audit role", **kwargs)
        central_account, central_region = organization.central_account, organization.central_region
        archive = bucket_name(ARCHIVE_BUCKET_PREFIX, central_account, central_region)
        self.access_logs = AccessLogBucket(self, "AccessLogs")
        self.replication = CrossAccountReplication(
            self,
            "Replication",
            source=self.access_logs.bucket,
            destination_bucket_name=archive,
            destination_account=central_account,
            role_name=replication_role_name(region),
            alarm_name=f"{ALARM_NAME_PREFIX}replication-failed-{region}",
        )
        self.alarm_forwarder = AlarmForwarder(
            self,
            "AlarmForwarder",
            alarms=[self.replication.alarm],
            central_bus_arn=default_event_bus_arn(central_account, central_region),
        )
        self.trail: DataEventTrail | None = None
        self.audit_role: AuditRole | None = None
        if region != member.home_region:
            return
        if member.trail:
            own = [bucket_name(ACCESS_LOG_BUCKET_PREFIX, member.account, r) for r in member.regions]
            self.trail = DataEventTrail(
                self,
                "DataEventTrail",
                data_events=member.data_events.scope,
                excluded_buckets=[*own, *central_bucket_names(organization)],
                destination=TrailDestination(archive, archive_key_alias_arn(central_account, central_region)),
                data_events_waiver=narrowed_data_events(member.data_events.waiver_reason)
                if member.data_events.waiver_reason
                else None,
            )
        self.audit_role = AuditRole(
            self,
            "AuditRole",
            role_name=organization.audit_role_name,
            trusted_role_arn=role_arn(central_account, POSTURE_ROLE_NAME),
            organization_id=organization.organization_id,
        )


class MemberStage(MonitoringStage):
    """`Bucketwatch-<member account>-<region>`, stack `Member`: deployed after the central stage."""

    def __init__(self, scope: Construct, organization: Organization, member: Member, region: str) -> None:
        super().__init__(scope, stage_id(member.account, region), account=member.account, region=region)
        self.stack = MemberStack(self, "Member", organization=organization, member=member, region=region)
