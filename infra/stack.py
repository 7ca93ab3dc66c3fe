"""The monitoring stack for one account and region, and the stages that deploy the app's stacks."""

from __future__ import annotations

from aws_cdk import Aspects, CfnParameter, Environment, Stack, Stage
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from detectors.common.organization import BUNDLED_FILE_NAME as ORGANIZATION_FILE
from detectors.common.organization import FILE_VARIABLE as ORGANIZATION_FILE_VARIABLE
from detectors.config import TRAIL_BUCKETS_VARIABLE
from detectors.engine.routing import TOPICS_VARIABLE, load_routing
from infra.access_logs import AccessLogBucket
from infra.archive import LogArchive
from infra.bundling import BUNDLED_CONFIG_NAME, lambda_code
from infra.config import Deployment, Organization
from infra.destinations import AlertDestinations
from infra.detector import TOPIC_PUBLISHERS, DetectorPipeline, MonitoringKey
from infra.function import MonitoredFunction
from infra.lake import Lake
from infra.logging_aspect import AccessLoggingAspect
from infra.naming import ACCESS_LOG_BUCKET_PREFIX, LAKE_BUCKET_PREFIX, bucket_name
from infra.notifier import WebhookNotifier, WebhookSource
from infra.posture import PostureScanner
from infra.scheduler import ScheduledAnalysis, scheduled_items
from infra.trail import DataEventTrail
from infra.waivers import Waiver, narrowed_data_events

PYARROW_LAYER_PARAMETER = "PyarrowLayerArn"


class BucketwatchStack(Stack):
    """Lake, detector pipeline, regional access-log bucket and, where the deployment says so (by
    default the account's first listed region), the data-event trail and the posture scanner.

    The organization's central stack (infra/central.py) is this stack plus the central archive;
    the `_log_archive`, `_data_event_trail`, `_posture_scanner` and `_organization_json` hooks are
    where it differs. The organization's settings (`_organization_json`) are a file in the code
    asset, named by BUCKETWATCH_ORGANIZATION_FILE in the detector's, scheduler's and posture
    functions' environment.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: Deployment | None = None,
        organization: Organization | None = None,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, description="Bucketwatch: S3 security monitoring", **kwargs)
        self.deployment = deployment = deployment or Deployment()
        self.organization = organization
        organization_json = self._organization_json()
        # The organization's settings ride in the code asset: a large organization's accounts do
        # not fit in Lambda's 4 KB of environment variables.
        self.code = lambda_code(self, deployment.config_file, organization_json)
        self.config_path = BUNDLED_CONFIG_NAME if deployment.config_file else None
        self.organization_file = ORGANIZATION_FILE if organization_json else None
        self.layers = [lambda_.LayerVersion.from_layer_version_arn(self, "Pyarrow", self._pyarrow_layer_arn())]
        self.key = MonitoringKey(self, "MonitoringKey", publishers=self._topic_publishers()).key
        self.lake = Lake(self, "Lake", key=self.key, object_lock_days=deployment.object_lock_days)
        self.detector = DetectorPipeline(
            self,
            "Detector",
            code=self.code,
            key=self.key,
            processed_bucket=self.lake.bucket,
            layers=self.layers,
            reserved_concurrency=deployment.detector_reserved_concurrency,
            memory_size=deployment.detector_memory_mb,
            config_file=self.config_path,
            organization_file=self.organization_file,
        )
        self.access_logs = AccessLogBucket(self, "AccessLogs", notification_topic=self.detector.notification_topic)
        self.detector.read_logs_from(self.access_logs.bucket)
        self.archive = self._log_archive()
        self.trail = self._data_event_trail() if deployment.trail else None
        self.posture = self._posture_scanner() if deployment.posture else None
        self.destinations = AlertDestinations(self, "AlertDestinations", routing=load_routing(deployment.config_file),
                                              key=self.key)
        self._route_alerts(self.detector.monitored)
        trail_buckets = self._trail_log_buckets()
        if trail_buckets:  # ShortLifecycle knows these hold CloudTrail logs (docs/detection.md)
            self.detector.function.add_environment(TRAIL_BUCKETS_VARIABLE, self.to_json_string(trail_buckets))
        self.scheduler = self._scheduled_analysis() if deployment.scheduled_analysis else None
        self.notifier = self._webhook_notifier() if deployment.notifier else None

    # --- hooks -------------------------------------------------------------------------------

    def _topic_publishers(self) -> tuple[str, ...]:
        return TOPIC_PUBLISHERS

    def _organization_json(self) -> str | None:
        return None

    def _log_archive(self) -> LogArchive | None:
        return None

    def _data_event_trail(self) -> DataEventTrail:
        """The account's trail with its own encrypted bucket, read by this stack's detector."""
        trail = DataEventTrail(
            self,
            "DataEventTrail",
            data_events=self.deployment.data_events.scope,
            excluded_buckets=self.own_bucket_names(),
            notification_topic=self.detector.notification_topic,
            data_events_waiver=self._data_events_waiver(),
            object_lock_days=self.deployment.object_lock_days,
        )
        trail.grant_read_logs(self.detector.monitored.role)
        return trail

    def _posture_scanner(self, **organization_props) -> PostureScanner:
        return PostureScanner(
            self,
            "Posture",
            code=self.code,
            key=self.key,
            processed_bucket=self.lake.bucket,
            alerts_topic=self.detector.alerts_topic,
            schedule=events.Schedule.expression(self.deployment.posture_schedule),
            scan_regions=self.deployment.scan_regions,
            layers=self.layers,
            config_file=self.config_path,
            **organization_props,
        )

    def _scheduled_analysis(self) -> ScheduledAnalysis:
        organization = self.organization_file
        return ScheduledAnalysis(
            self,
            "Scheduler",
            code=self.code,
            key=self.key,
            lake=self.lake,
            items=scheduled_items(self.deployment.config_file),
            alerts_topic=self.detector.alerts_topic,
            dedup_table=self.detector.dedup_table,
            destination_topics=self.destinations.topics,
            layers=self.layers,
            config_file=self.config_path,
            environment={ORGANIZATION_FILE_VARIABLE: organization} if organization else None,
        )

    def _webhook_notifier(self) -> WebhookNotifier:
        settings = self.deployment.notifier
        assert settings is not None
        topic = self.destinations.topics[settings.destination] if settings.destination else self.detector.alerts_topic
        return WebhookNotifier(
            self,
            "Notifier",
            code=self.code,
            key=self.key,
            topic=topic,
            source=WebhookSource(settings.secret_arn, settings.parameter_name, settings.key_arn),
            min_severity=settings.min_severity,
            alarm_topic=self.detector.alerts_topic,
        )

    # --- helpers -----------------------------------------------------------------------------

    def _route_alerts(self, function: MonitoredFunction) -> None:
        """Let a function that publishes alerts reach the destinations' topics too."""
        topics = self.destinations.environment()
        if topics:
            function.function.add_environment(TOPICS_VARIABLE, topics)
            self.destinations.grant_publish(function.role)

    def _trail_log_buckets(self) -> list[str]:
        """The buckets this stack's trails deliver to: the archive, or the trail's own bucket."""
        if self.archive is not None:
            return [self.archive.bucket.bucket_name]
        if self.trail is not None and self.trail.bucket is not None:
            return [self.trail.bucket.bucket_name]
        return []

    def own_bucket_names(self) -> list[str]:
        """The exact names of this account's access-log and lake buckets in every region it deploys
        to (this stack's region when the environment is unknown): the trail never records them,
        since each write there would cause another logged write (a feedback loop)."""
        regions = self.deployment.account_regions or (self.region,)
        return [bucket_name(prefix, self.account, region) for region in regions for prefix in (ACCESS_LOG_BUCKET_PREFIX, LAKE_BUCKET_PREFIX)]

    def _data_events_waiver(self) -> Waiver | None:
        reason = self.deployment.data_events.waiver_reason
        return narrowed_data_events(reason) if reason else None

    def _pyarrow_layer_arn(self) -> str:
        """pyarrow comes from the AWS SDK for pandas managed layer, whose ARN differs per region:
        taken from the context (`pyarrowLayerArns[region]` or `pyarrowLayerArn`), else asked for
        at deploy time."""
        if self.deployment.pyarrow_layer_arn:
            return self.deployment.pyarrow_layer_arn
        return CfnParameter(
            self,
            PYARROW_LAYER_PARAMETER,
            type="String",
            allowed_pattern=r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$",
            description="ARN of the AWS SDK for pandas layer (ships pyarrow) for this region and "
            "Python 3.14, e.g. arn:aws:lambda:<region>:336392948345:layer:AWSSDKPandas-Python314:<n>",
        ).value_as_string


class MonitoringStage(Stage):
    """One account/region; every bucket in it logs to the region's access-log bucket."""

    def __init__(self, scope: Construct, stage_id: str, *, account: str | None, region: str | None) -> None:
        super().__init__(scope, stage_id, env=Environment(account=account, region=region))
        Aspects.of(self).add(AccessLoggingAspect())


class BucketwatchStage(MonitoringStage):
    """A single-account deployment: stack `Monitoring`."""

    def __init__(self, scope: Construct, deployment: Deployment) -> None:
        super().__init__(scope, deployment.stage_id, account=deployment.account, region=deployment.region)
        self.stack = BucketwatchStack(self, "Monitoring", deployment=deployment)
