"""The engine-independent core of a scheduled run: a query -> its rows -> the scheduled rules
that read them -> alerts through the detection engine (its dedup, thresholds and store).

Used by the local scheduler (DuckDB over the lake) and meant for the AWS scheduled Lambda (an
Athena executor, the DynamoDB stores): neither the query engine nor the sinks are chosen here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from detectors.config import DetectionSettings
from detectors.engine.evaluate import Engine, FlushResult
from detectors.engine.rules import Rule, load_rules
from detectors.scheduled.queries import BUILTIN_QUERIES_DIR, ScheduledQuery
from detectors.sql.executors import QueryExecutor

SCHEDULED_RULE_TYPES = frozenset({"scheduled_rule"})


@dataclass
class QueryResult:
    query: ScheduledQuery
    at: datetime  # the tick the query ran as of
    sql: str  # what the executor ran
    rows: list[dict[str, Any]] = field(default_factory=list)


def run_query(query: ScheduledQuery, executor: QueryExecutor, at: datetime) -> QueryResult:
    """Run `query` as of `at` (its time macros and CURRENT_TIMESTAMP), within its TimeoutMinutes."""
    sql = query.sql_for(executor.dialect, at)
    rows = executor.run(sql, timeout_s=query.schedule.timeout_minutes * 60)
    return QueryResult(query=query, at=at, sql=sql, rows=rows)


def evaluate_result(engine: Engine, result: QueryResult) -> FlushResult:
    """The scheduled rules of `result.query` over its rows; alerts dated as of the run. A row's
    own p_event_time (if the query selects one) is its event time, else the run's time."""
    engine.clock = lambda: result.at.timestamp()
    engine.process_events(result.rows, log_type=result.query.name)
    return engine.flush()


def load_scheduled_rules(dirs: Iterable[str | Path] = (), include_builtin: bool = True,
                         settings: DetectionSettings | None = None, only_enabled: bool = False,
                         on_error: Any = None) -> list[Rule]:
    """Scheduled rules (`AnalysisType: scheduled_rule`): Panther rules whose events are a scheduled
    query's result rows; their `ScheduledQueries` are their log types."""
    return load_rules(dirs, include_builtin=include_builtin, settings=settings, only_enabled=only_enabled,
                      on_error=on_error, analysis_types=SCHEDULED_RULE_TYPES, builtin_dir=BUILTIN_QUERIES_DIR)
