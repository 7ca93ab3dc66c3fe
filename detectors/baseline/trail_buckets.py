"""Which buckets hold CloudTrail logs, from the lake: the scheduled query "Bucketwatch CloudTrail
Buckets" (detectors/queries/bucketwatch_cloudtrail_buckets.yml) over the trails' own
CreateTrail/UpdateTrail events and the buckets CloudTrail files were read from.

When a rule that asks (AWS.CloudTrail.ShortLifecycle) is enabled, `detect` reads the query's kept
result (`bucketwatch.cloudtrail_buckets`, refreshed hourly by `schedule run`; by the scheduled
Lambda in AWS), or, when there is none yet, runs the query over the local lake itself (a scan of
every CloudTrail file's footer and two columns: seconds on a month of hourly files). The names join
the configured and deployed ones in `DetectionSettings.cloudtrail_buckets`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from detectors.config import DetectionSettings
from detectors.engine.rules import Rule
from detectors.scheduled.queries import load_queries
from detectors.scheduled.results import read_result_table
from detectors.schema import DB_LOGS, table_path
from detectors.sql.macros import parse_utc

RULE_IDS = frozenset({"AWS.CloudTrail.ShortLifecycle"})
QUERY_NAME = "Bucketwatch CloudTrail Buckets"
TABLE = ("bucketwatch", "cloudtrail_buckets")


def bucket_names(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted({str(row["bucket"]) for row in rows if row.get("bucket")})


def lake_rows(lake_root: str | Path, now: datetime | None = None) -> list[dict[str, Any]]:
    """The query's rows over the local lake (nothing when it has no CloudTrail table), as of
    `now`, or as of the lake's newest CloudTrail event: replayed history has its own "now"."""
    if not (Path(lake_root) / table_path(DB_LOGS, "aws_cloudtrail")).is_dir():
        return []
    from detectors.sql.executors import DuckDBLakeExecutor

    query = next(q for q in load_queries() if q.name == QUERY_NAME)
    executor = DuckDBLakeExecutor(lake_root, tables=[(DB_LOGS, "aws_cloudtrail")])
    try:
        if now is None:
            newest = executor.run(f"SELECT MAX(p_event_time) AS newest FROM {DB_LOGS}.aws_cloudtrail")[0]["newest"]
            if newest is None:
                return []
            now = parse_utc(str(newest)[:26], "p_event_time")  # microseconds at most
        return executor.run(query.sql_for(executor.dialect, now), timeout_s=query.schedule.timeout_minutes * 60)
    finally:
        executor.close()


def with_trail_buckets(settings: DetectionSettings, lake_root: str | Path, rules: Iterable[Rule],
                       now: datetime | None = None) -> DetectionSettings:
    """`settings` with the lake's CloudTrail buckets added, when an enabled rule reads them."""
    if not any(rule.id in RULE_IDS and rule.enabled for rule in rules):
        return settings
    rows = read_result_table(lake_root, *TABLE) or lake_rows(lake_root, now)
    names = bucket_names(rows)
    if not names:
        return settings
    return replace(settings, cloudtrail_buckets=tuple(dict.fromkeys((*settings.cloudtrail_buckets, *names))))
