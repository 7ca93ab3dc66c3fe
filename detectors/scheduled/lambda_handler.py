"""The scheduled Lambda: one EventBridge schedule per scheduled item invokes it with
`{"item": "<query name or correlation rule id>", "time": "<the schedule's firing time>"}`.

It runs what `bucketwatch schedule run --only <item>` runs, over the stack's lake in AWS: the
query in the stack's Athena workgroup (Snowflake SQL transpiled to Athena, as of the item's tick),
its rows through the scheduled rules, its ResultTable kept in the processed bucket, or the
correlation rule over `panther_rule_matches`; every tick since the item's last run, in order
(the first run: the newest tick only). Environment (set by infra/scheduler.py):

  ATHENA_WORKGROUP         the lake's workgroup (its results location and encryption are enforced)
  PROCESSED_BUCKET         the lake bucket: ResultTables are kept at bucketwatch/<table>/result.parquet
  STATE_TABLE              DynamoDB (pk S, TTL expires_at): last runs and correlation progress
  DEDUP_TABLE              DynamoDB dedup table (the detector's): alerts of scheduled/correlation rules
  ALERTS_TOPIC_ARN         every new alert; BUCKETWATCH_ALERT_TOPICS: the destinations' topics
  BUCKETWATCH_CONFIG, BUCKETWATCH_ORGANIZATION   as for the detector

A new alert is published before its dedup state and the correlation progress are stored: a
retry can repeat an alert, never lose one. A failed run raises (after the item's other ticks
are left for the next run), so EventBridge's retries and the dead-letter queue see it.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from detectors.config import load_detection_settings
from detectors.engine.routing import alert_publisher, load_routing, topics_from_environment
from detectors.engine.sinks import SNSSink
from detectors.engine.stores import DynamoDBStore
from detectors.scheduled.results import S3ResultWriter
from detectors.scheduled.scheduler import LocalScheduler, ScheduleReport
from detectors.scheduled.state import DynamoDBStateStore
from detectors.sql.executors import AthenaExecutor
from detectors.sql.macros import parse_utc

LOG = logging.getLogger("bucketwatch.scheduled")
LOG.setLevel(logging.INFO)


class ScheduledRunError(RuntimeError):
    """A tick failed: raised so the invocation is retried (EventBridge retries, then the DLQ)."""


def scheduler_from_environment(clients: dict[str, Any]) -> LocalScheduler:
    config = os.environ.get("BUCKETWATCH_CONFIG") or None
    sink = SNSSink(os.environ["ALERTS_TOPIC_ARN"], clients["sns"], topics_from_environment())
    return LocalScheduler(
        None,
        AthenaExecutor(os.environ["ATHENA_WORKGROUP"], clients["athena"]),
        DynamoDBStateStore(os.environ["STATE_TABLE"], clients["dynamodb"]),
        DynamoDBStore(os.environ["DEDUP_TABLE"], clients["dynamodb"]),
        load_detection_settings(config),
        result_writer=S3ResultWriter(clients["s3"], os.environ["PROCESSED_BUCKET"]),
        on_created=alert_publisher(sink, load_routing(config)),
    )


def run_item(event: dict[str, Any], clients: dict[str, Any]) -> ScheduleReport:
    item = event.get("item")
    if not isinstance(item, str) or not item:
        raise ValueError('the event must name the scheduled item: {"item": "<query name or correlation rule id>"}')
    when = event.get("time")
    now = parse_utc(str(when), "time") if when else datetime.now(UTC)
    report = scheduler_from_environment(clients).run(now, only=[item])
    for run in report.runs:
        LOG.info("%s '%s' at %s: %d row(s), %d match(es)%s", run.item.kind, run.item.name, run.at.isoformat(),
                 run.rows, run.matches, f"; error: {run.error}" if run.error else "")
    for line in report.warnings:
        LOG.warning("%s", line)
    return report


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    import boto3

    clients = {name: boto3.client(name) for name in ("athena", "dynamodb", "s3", "sns")}
    report = run_item(event, clients)
    if report.errors:
        raise ScheduledRunError("; ".join(f"{r.item.name} at {r.at.isoformat()}: {r.error}" for r in report.errors))
    return {"runs": len(report.runs), "alerts": len(report.alerts), "updated": report.updated,
            "skipped_ticks": report.skipped_ticks}
