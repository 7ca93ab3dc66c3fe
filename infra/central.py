"""The organization's central security account: archive, lake, detector, alerts, org-wide posture."""

from __future__ import annotations

from constructs import Construct

from infra.alarm_intake import MemberAlarmIntake
from infra.archive import LogArchive
from infra.config import Organization
from infra.detector import TOPIC_PUBLISHERS
from infra.naming import (
    ACCESS_LOG_BUCKET_PREFIX,
    ARCHIVE_BUCKET_PREFIX,
    LAKE_BUCKET_PREFIX,
    POSTURE_ROLE_NAME,
    TRAIL_NAME,
    bucket_name,
)
from infra.posture import PostureScanner
from infra.stack import BucketwatchStack, MonitoringStage
from infra.trail import DataEventTrail, TrailDestination


class CentralStack(BucketwatchStack):
    """The single-account stack's lake, detector, alerts topic and access-log bucket, plus:

    - the log archive every member's trail delivers to and every member's access-log bucket
      replicates to (also this account's own trail), feeding the detector through its
      object-created notifications;
    - the organization's one posture scan, fanned out: the schedule sends one SQS message per
      account; the worker, role `bucketwatch-posture-scanner`, which may assume the audit role (by
      name) in the organization's accounts, scans one account per message, with the organization's
      settings in the code asset (`BUCKETWATCH_ORGANIZATION_FILE`);
    - the intake of the members' forwarded alarms into the alerts topic.
    """

    def __init__(self, scope: Construct, construct_id: str, *, organization: Organization, **kwargs) -> None:
        super().__init__(scope, construct_id, deployment=organization.central, organization=organization, **kwargs)
        self.alarm_intake = MemberAlarmIntake(
            self,
            "MemberAlarms",
            organization_id=organization.organization_id,
            topic=self.detector.alerts_topic,
        )

    @property
    def org(self) -> Organization:
        assert self.organization is not None
        return self.organization

    def _topic_publishers(self) -> tuple[str, ...]:
        return (*TOPIC_PUBLISHERS, "events.amazonaws.com")  # forwarded member alarms

    def _organization_json(self) -> str | None:
        return self.org.settings().to_json()

    def _log_archive(self) -> LogArchive:
        org = self.org
        any_trail = org.central.trail or any(m.trail for m in org.members)
        archive = LogArchive(
            self,
            "Archive",
            organization_id=org.organization_id,
            trail_name=TRAIL_NAME if any_trail else None,
            notification_topic=self.detector.notification_topic,
            object_lock_days=self.deployment.object_lock_days,
        )
        archive.grant_read_logs(self.detector.monitored.role)
        return archive

    def _data_event_trail(self) -> DataEventTrail:
        """This account's own trail, delivering into the archive like the members' trails."""
        assert self.archive is not None and self.archive.bucket.policy is not None
        trail = DataEventTrail(
            self,
            "DataEventTrail",
            data_events=self.deployment.data_events.scope,
            excluded_buckets=[*self.own_bucket_names(), self.archive_name],
            destination=TrailDestination(self.archive.bucket.bucket_name, self.archive.key.key_arn),
            data_events_waiver=self._data_events_waiver(),
        )
        # CloudTrail checks the bucket policy and the key when the trail is created.
        trail.trail.node.add_dependency(self.archive.bucket.policy)
        return trail

    def _posture_scanner(self, **organization_props) -> PostureScanner:
        org = self.org
        return super()._posture_scanner(
            organization=org.settings(),
            organization_file=self.organization_file,
            role_name=POSTURE_ROLE_NAME,
        )

    @property
    def archive_name(self) -> str:
        return bucket_name(ARCHIVE_BUCKET_PREFIX, self.org.central_account, self.org.central_region)


def central_bucket_names(organization: Organization) -> list[str]:
    """The central account's monitoring buckets, which no member trail should record either."""
    account, region = organization.central_account, organization.central_region
    return [bucket_name(p, account, region) for p in (ARCHIVE_BUCKET_PREFIX, ACCESS_LOG_BUCKET_PREFIX, LAKE_BUCKET_PREFIX)]


class CentralStage(MonitoringStage):
    """`Bucketwatch-<central account>-<region>`, stack `Central`: deployed first."""

    def __init__(self, scope: Construct, organization: Organization) -> None:
        central = organization.central
        super().__init__(scope, central.stage_id, account=central.account, region=central.region)
        self.stack = CentralStack(self, "Central", organization=organization)
