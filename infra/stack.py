"""The monitoring stack for one account and region, and the stage that deploys it."""

from __future__ import annotations

import dataclasses

from aws_cdk import Aspects, CfnParameter, Environment, Stack, Stage
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.access_logs import AccessLogBucket
from infra.bundling import BUNDLED_CONFIG_NAME, lambda_code
from infra.config import Deployment
from infra.detector import DetectorPipeline, MonitoringKey
from infra.lake import Lake
from infra.logging_aspect import AccessLoggingAspect
from infra.naming import ACCESS_LOG_BUCKET_PREFIX, LAKE_BUCKET_PREFIX, account_bucket_name_prefix
from infra.posture import PostureScanner
from infra.trail import DataEventScope, DataEventTrail

PYARROW_LAYER_PARAMETER = "PyarrowLayerArn"


class BucketwatchStack(Stack):
    """Lake, detector pipeline, regional access-log bucket, posture scanner, and (in the
    account's home region) the data-event trail."""

    def __init__(self, scope: Construct, construct_id: str, *, deployment: Deployment | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, description="Bucketwatch: S3 security monitoring", **kwargs)
        deployment = deployment or Deployment()
        self.deployment = deployment
        code = lambda_code(self, deployment.config_file)
        config_path = BUNDLED_CONFIG_NAME if deployment.config_file else None
        layers = [lambda_.LayerVersion.from_layer_version_arn(self, "Pyarrow", self._pyarrow_layer_arn(deployment))]
        key = MonitoringKey(self, "MonitoringKey").key
        self.lake = Lake(self, "Lake", key=key, object_lock_days=deployment.object_lock_days)
        self.detector = DetectorPipeline(
            self,
            "Detector",
            code=code,
            key=key,
            processed_bucket=self.lake.bucket,
            layers=layers,
            reserved_concurrency=deployment.detector_reserved_concurrency,
            memory_size=deployment.detector_memory_mb,
            config_file=config_path,
        )
        self.access_logs = AccessLogBucket(self, "AccessLogs", notification_topic=self.detector.notification_topic)
        self.detector.read_logs_from(self.access_logs.bucket)
        self.trail: DataEventTrail | None = None
        if deployment.trail:
            self.trail = DataEventTrail(
                self,
                "DataEventTrail",
                data_events=self._with_own_buckets_excluded(deployment.data_events),
                notification_topic=self.detector.notification_topic,
                object_lock_days=deployment.object_lock_days,
            )
            self.trail.grant_read_logs(self.detector.monitored.role)
        self.posture = PostureScanner(
            self,
            "Posture",
            code=code,
            key=key,
            processed_bucket=self.lake.bucket,
            alerts_topic=self.detector.alerts_topic,
            schedule=events.Schedule.expression(deployment.posture_schedule),
            scan_regions=deployment.scan_regions,
            layers=layers,
            config_file=config_path,
        )

    def _pyarrow_layer_arn(self, deployment: Deployment) -> str:
        """pyarrow comes from the AWS SDK for pandas managed layer, whose version differs per
        region: taken from the context, else asked for at deploy time."""
        if deployment.pyarrow_layer_arn:
            return deployment.pyarrow_layer_arn
        return CfnParameter(
            self,
            PYARROW_LAYER_PARAMETER,
            type="String",
            allowed_pattern=r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$",
            description="ARN of the AWS SDK for pandas layer (ships pyarrow) for this region and "
            "Python 3.14, e.g. arn:aws:lambda:<region>:336392948345:layer:AWSSDKPandas-Python314:<n>",
        ).value_as_string

    def _with_own_buckets_excluded(self, scope: DataEventScope) -> DataEventScope:
        """The trail records no object activity on the monitoring's own log and lake buckets in any
        region: each write there would cause another logged write (a feedback loop)."""
        own = tuple(account_bucket_name_prefix(prefix, self) for prefix in (ACCESS_LOG_BUCKET_PREFIX, LAKE_BUCKET_PREFIX))
        return dataclasses.replace(scope, excluded=(*own, *scope.excluded))


class BucketwatchStage(Stage):
    """One account/region deployment; every bucket in it logs to the region's access-log bucket."""

    def __init__(self, scope: Construct, deployment: Deployment) -> None:
        env = Environment(account=deployment.account, region=deployment.region)
        super().__init__(scope, deployment.stage_id, env=env)
        self.stack = BucketwatchStack(self, "Monitoring", deployment=deployment)
        Aspects.of(self).add(AccessLoggingAspect())
