"""Scheduled analysis in AWS: one EventBridge schedule per scheduled item (a scheduled query that
something reads, or a correlation rule) invokes the scheduled Lambda
(`detectors.scheduled.lambda_handler`), which runs it in the lake's Athena workgroup, keeps its
progress in its own DynamoDB table and alerts through the detector's dedup table and topics.

Schedules fire on the items' own UTC ticks where EventBridge can say so (a RateMinutes that
divides an hour or a day becomes a cron at those minutes; a CronExpression becomes EventBridge's
cron); the Lambda runs every tick due since the item's last run, so a late or repeated
invocation neither skips nor repeats a tick.

The role is least privilege: Athena in the one workgroup; Glue reads of the lake's own
databases and tables (named exactly); S3 reads of the lake's table prefixes and the Athena
results prefix (results written only there); ResultTables written at their exact keys; its state
table and the dedup table; publish to the alerts topic and the destinations' topics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from detectors.common.errors import UserError
from detectors.engine.routing import TOPICS_VARIABLE
from detectors.scheduled.results import result_key
from detectors.scheduled.schedule import Schedule
from infra.detector import state_table
from infra.function import MonitoredFunction
from infra.lake import ATHENA_RESULTS_PREFIX, Lake
from infra.waivers import SCHEDULED_QUERIES_READ_THE_LAKE, apply_waiver, iam5_resource, nag_arn

SCHEDULER_HANDLER = "detectors.scheduled.lambda_handler.handler"
SCHEDULER_TIMEOUT = Duration.minutes(15)
ATHENA_ACTIONS = ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
                  "athena:StopQueryExecution")
GLUE_READ_ACTIONS = ("glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions",
                     "glue:BatchGetPartition")
RESULT_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
STATE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class ScheduledItem:
    """What infra needs of one scheduled item: its name (the Lambda's input), its EventBridge
    schedule expression(s) and the ResultTable it keeps, if any."""

    name: str
    kind: str  # "query" | "correlation"
    expressions: tuple[str, ...]
    result_table: tuple[str, str] | None = None


def eventbridge_expressions(schedule: Schedule, where: str = "Schedule") -> tuple[str, ...]:
    """The EventBridge schedule expression(s) that fire on `schedule`'s ticks (two when a cron
    restricts both day fields: cron matches either, EventBridge takes one of them per rule)."""
    if schedule.rate_minutes:
        minutes = schedule.rate_minutes
        if minutes < 60 and 60 % minutes == 0:
            return (f"cron(0/{minutes} * * * ? *)",)
        if minutes % 60 == 0 and 1440 % minutes == 0:
            return (f"cron(0 0/{minutes // 60} * * ? *)",)
        return (f"rate({minutes} minutes)",)  # ticks are still the item's own; runs lag them by < rate
    assert schedule.cron is not None
    minute, hour, day, month, weekday = (_steps(f, start) for f, start in zip(
        schedule.cron.text.split(), ("0", "0", "1", "1", "0"), strict=True))
    if weekday == "*":
        return (f"cron({minute} {hour} {day} {month} ? *)",)
    weekday = _weekdays(weekday, where)
    if day == "*":
        return (f"cron({minute} {hour} ? {month} {weekday} *)",)
    return (f"cron({minute} {hour} {day} {month} ? *)", f"cron({minute} {hour} ? {month} {weekday} *)")


def _steps(field: str, start: str) -> str:
    """`*/5` is `<first>/5` in EventBridge."""
    return ",".join(f"{start}/{part[2:]}" if part.startswith("*/") else part for part in field.split(","))


def _weekdays(field: str, where: str) -> str:
    """cron's day numbers (0 or 7 = Sunday) as names, which EventBridge reads the same way."""
    out = []
    for part in field.split(","):
        if "/" in part:
            raise UserError(f"{where}: the day-of-week step '{part}' cannot be expressed as an EventBridge schedule")
        bounds = [_day(token) for token in part.split("-")]
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            raise UserError(f"{where}: the day-of-week range '{part}' wraps around the week; list it as two ranges")
        out.append("-".join(_WEEKDAYS[b] for b in bounds))
    return ",".join(out)


def _day(token: str) -> int:
    return int(token) % 7 if token.isdigit() else _WEEKDAYS.index(token.upper()[:3])


def scheduled_items(config_file: str | None = None) -> list[ScheduledItem]:
    """The built-in scheduled items with the config file's overrides (disabled ones are left out)."""
    from detectors.config import load_detection_settings
    from detectors.scheduled.scheduler import scheduled_items as items

    return [ScheduledItem(i.name, i.kind, eventbridge_expressions(i.schedule, f"scheduled item '{i.name}'"),
                          i.query.result_table if i.query else None)
            for i in items(load_detection_settings(config_file))]


class ScheduledAnalysis(Construct):
    """The scheduled Lambda, its state table and one EventBridge rule per item (retries, DLQ)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        key: kms.IKey,
        lake: Lake,
        items: Sequence[ScheduledItem],
        alerts_topic: sns.ITopic,
        dedup_table: dynamodb.ITable,
        destination_topics: Mapping[str, sns.ITopic] | None = None,
        layers: Sequence[lambda_.ILayerVersion] = (),
        config_file: str | None = None,
        environment: Mapping[str, str] | None = None,
        reserved_concurrency: int = 2,
        memory_size: int = 1024,
        timeout: Duration = SCHEDULER_TIMEOUT,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        topics = dict(destination_topics or {})
        self.state_table = state_table(self, "StateTable", key=key, removal_policy=removal_policy)
        env = {
            "ATHENA_WORKGROUP": lake.workgroup_name,
            "PROCESSED_BUCKET": lake.bucket.bucket_name,
            "STATE_TABLE": self.state_table.table_name,
            "DEDUP_TABLE": dedup_table.table_name,
            "ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
            **(environment or {}),
        }
        if topics:
            env[TOPICS_VARIABLE] = stack.to_json_string({name: t.topic_arn for name, t in topics.items()})
        if config_file:
            env["BUCKETWATCH_CONFIG"] = config_file
        self.monitored = MonitoredFunction(
            self,
            "Scheduler",
            handler=SCHEDULER_HANDLER,
            code=code,
            key=key,
            environment=env,
            layers=layers,
            alarm_topic=alerts_topic,
            reserved_concurrency=reserved_concurrency,
            retry_attempts=0,  # EventBridge retries the invocation (below); the Lambda's own would double them
            memory_size=memory_size,
            timeout=timeout,
            description="Bucketwatch: run scheduled queries, scheduled rules and correlation rules in Athena",
        )
        self.function = self.monitored.function
        self._grant(lake, items, alerts_topic, dedup_table, topics, key)
        self.rules = [self._schedule(item, index, expression)
                      for item in items for index, expression in enumerate(item.expressions)]

    def _schedule(self, item: ScheduledItem, index: int, expression: str) -> events.Rule:
        name = "".join(c if c.isalnum() else "-" for c in item.name)
        return events.Rule(
            self,
            f"Schedule-{name}" + (f"-{index}" if index else ""),
            description=f"Bucketwatch scheduled {item.kind}: {item.name}"[:512],
            schedule=events.Schedule.expression(expression),
            targets=[targets.LambdaFunction(
                self.function,
                event=events.RuleTargetInput.from_object({"item": item.name, "time": events.EventField.time}),
                dead_letter_queue=self.monitored.dead_letter_queue,
                retry_attempts=2,
                max_event_age=Duration.hours(1),
            )],
        )

    def _grant(self, lake: Lake, items: Sequence[ScheduledItem], alerts_topic: sns.ITopic,
               dedup_table: dynamodb.ITable, topics: Mapping[str, sns.ITopic], key: kms.IKey) -> None:
        role, bucket = self.monitored.role, lake.bucket
        role.add_to_policy(iam.PolicyStatement(sid="RunQueriesInTheLakeWorkgroup", actions=list(ATHENA_ACTIONS),
                                               resources=[lake.workgroup_arn]))
        role.add_to_policy(iam.PolicyStatement(sid="ReadTheLakeCatalog", actions=list(GLUE_READ_ACTIONS),
                                               resources=lake.catalog_arns()))
        role.add_to_policy(iam.PolicyStatement(
            sid="ListTheLakeTablesAndResults", actions=["s3:ListBucket", "s3:GetBucketLocation"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in (*lake.table_prefixes(), ATHENA_RESULTS_PREFIX)]}},
        ))
        role.add_to_policy(iam.PolicyStatement(sid="ReadTheLakeTables", actions=["s3:GetObject"],
                                               resources=[bucket.arn_for_objects(f"{p}*") for p in lake.table_prefixes()]))
        role.add_to_policy(iam.PolicyStatement(sid="AthenaResultsOnly", actions=list(RESULT_OBJECT_ACTIONS),
                                               resources=[bucket.arn_for_objects(f"{ATHENA_RESULTS_PREFIX}*")]))
        kept = sorted({result_key(*item.result_table) for item in items if item.result_table})
        if kept:
            role.add_to_policy(iam.PolicyStatement(sid="KeepResultTables", actions=["s3:PutObject", "s3:DeleteObject"],
                                                   resources=[bucket.arn_for_objects(k) for k in kept]))
        role.add_to_policy(iam.PolicyStatement(sid="SchedulerStateAndDedup", actions=list(STATE_ACTIONS),
                                               resources=[self.state_table.table_arn, dedup_table.table_arn]))
        role.add_to_policy(iam.PolicyStatement(
            sid="PublishAlerts", actions=["sns:Publish"],
            resources=[alerts_topic.topic_arn, *(t.topic_arn for t in topics.values())]))
        # The lake, results, tables and topics are encrypted with the monitoring key.
        key.grant(role, "kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt")
        apply_waiver(
            role,
            SCHEDULED_QUERIES_READ_THE_LAKE,
            *(iam5_resource(f"{nag_arn(bucket)}/{p}*") for p in (*lake.table_prefixes(), ATHENA_RESULTS_PREFIX)),
        )
