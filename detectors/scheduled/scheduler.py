"""The local scheduler: run what is due over the lake, as `bucketwatch schedule run` does.

Items are the enabled scheduled queries that something reads (an enabled scheduled rule, or
their own `ResultTable`) and the enabled correlation rules. Each has a schedule; every tick since
its last run is run in order, as of that tick (no backfill on a first run: only the newest tick,
unless `since` is given). Queries run first (their rows go to their scheduled rules, their
results to their ResultTable), then correlation rules (over `panther_rule_matches`). Alerts go
through one detection engine (the same dedup, thresholds and store as `detect`); the last run of
each item and the correlation progress are kept in the state store, so a second run with
nothing new raises nothing new. A failing run is reported and retried at the next run (its
tick is not marked done).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detectors.common.errors import UserError
from detectors.config import DetectionSettings, activate
from detectors.correlation.alerting import engine_rule, log_type_of
from detectors.correlation.run import run_correlation
from detectors.correlation.spec import CorrelationRule, load_correlation_rules
from detectors.engine.evaluate import Engine, rule_error_lines
from detectors.engine.rules import Rule, load_rules, override_changes
from detectors.engine.stores import DedupStore
from detectors.scheduled.queries import ScheduledQuery, load_queries
from detectors.scheduled.results import write_result_table
from detectors.scheduled.run import evaluate_result, load_scheduled_rules, run_query
from detectors.scheduled.schedule import Schedule, due_ticks
from detectors.scheduled.state import StateStore, update
from detectors.sql.executors import QueryExecutor


@dataclass
class Item:
    kind: str  # "query" | "correlation"
    name: str
    schedule: Schedule
    query: ScheduledQuery | None = None
    correlation: CorrelationRule | None = None
    readers: tuple[str, ...] = ()  # scheduled rules reading the query

    @property
    def state_key(self) -> str:
        return f"schedule#{self.kind}#{self.name}"


@dataclass
class ItemRun:
    item: Item
    at: datetime
    rows: int = 0  # query result rows, or correlation signals read
    matches: int = 0  # scheduled-rule matches / correlation matches
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # rows that could not be used


@dataclass
class ScheduleReport:
    runs: list[ItemRun] = field(default_factory=list)
    skipped_ticks: dict[str, int] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # created by this run
    updated: int = 0  # alerts already raised that gained events
    warnings: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[ItemRun]:
        return [r for r in self.runs if r.error]


class LocalScheduler:
    """The scheduler over any engine: `executor` runs the SQL (DuckDB locally, Athena in AWS),
    `state` and `dedup_store` keep progress and alerts (SQLite or DynamoDB), `result_writer(database,
    table, rows)` keeps a ResultTable (default: the local lake at `lake_root`), and `on_created(rule,
    state)` runs for each new alert before its dedup state is stored (the Lambda publishes there)."""

    def __init__(self, lake_root: str | Path | None, executor: QueryExecutor, state: StateStore,
                 dedup_store: DedupStore, settings: DetectionSettings | None = None,
                 rule_dirs: Iterable[str | Path] = (), result_writer: Callable[..., Any] | None = None,
                 on_created: Callable[..., None] | None = None) -> None:
        self.lake_root = Path(lake_root) if lake_root is not None else None
        self.write_result = result_writer or self._write_local_result
        self.executor, self.state = executor, state
        settings = settings or DetectionSettings()
        activate(settings)  # rules read their configured lists through bucketwatch_helpers.settings()
        rule_dirs = list(rule_dirs)
        self.detection_rules = {r.id: r for r in load_rules(rule_dirs, settings=settings)}
        self.scheduled_rules, self.queries, self.correlations = _scheduled(rule_dirs, settings)
        engine_rules: list[Rule] = [*self.scheduled_rules, *(engine_rule(c) for c in self.correlations)]
        self.engine = Engine(engine_rules, dedup_store, on_created=on_created)

    def _write_local_result(self, database: str, table: str, rows: list[dict[str, Any]]) -> None:
        if self.lake_root is None:
            raise UserError(f"ResultTable {database}.{table}: no lake to keep it in")
        write_result_table(self.lake_root, database, table, rows)

    # -- what runs ------------------------------------------------------------------------------
    def items(self) -> list[Item]:
        return _items(self.scheduled_rules, self.queries, self.correlations)

    def warnings(self) -> list[str]:
        known = {q.name for q in self.queries}
        out = [f"scheduled rule {r.id} reads '{name}', which is not an enabled scheduled query"
               for r in self.scheduled_rules for name in r.log_types if name not in known]
        for corr in self.correlations:
            missing = [rule_id for rule_id in corr.rule_ids if rule_id not in self.detection_rules]
            if missing:
                out.append(f"correlation rule {corr.id} names rules that are not loaded: {', '.join(missing)}")
        return out

    def last_run(self, item: Item) -> datetime | None:
        doc, _ = self.state.get(item.state_key)
        return None if not doc else datetime.fromtimestamp(float(doc["last_run"]), UTC)

    def plan(self, now: datetime, since: datetime | None = None,
             only: Sequence[str] = ()) -> list[tuple[Item, list[datetime], int]]:
        items = self.items()
        if only:
            names = {i.name for i in items}
            unknown = [n for n in only if n not in names]
            if unknown:
                raise UserError(f"nothing scheduled is called {', '.join(map(repr, unknown))}; "
                                f"see `bucketwatch schedule list`")
            items = [i for i in items if i.name in only]
        planned = []
        for item in items:
            last = self.last_run(item) or since  # `since`: backfill an item that never ran
            ticks, skipped = due_ticks(item.schedule, last, now)
            planned.append((item, ticks, skipped))
        return planned

    # -- running --------------------------------------------------------------------------------
    def run(self, now: datetime, since: datetime | None = None, only: Sequence[str] = ()) -> ScheduleReport:
        report = ScheduleReport(warnings=self.warnings())
        for item, ticks, skipped in self.plan(now, since, only):
            if skipped:
                report.skipped_ticks[item.name] = skipped
            for tick in ticks:
                run = self._run_one(item, tick)
                report.runs.append(run)
                report.warnings += [f"{item.kind} '{item.name}': {note}" for note in run.notes
                                    if f"{item.kind} '{item.name}': {note}" not in report.warnings]
                if run.error:
                    break  # this tick and later ones are retried at the next run
                update(self.state, item.state_key, lambda doc, t=tick: {**doc, "last_run": t.timestamp()})
        report.warnings += rule_error_lines(self.engine)
        for message in self.engine.alert_messages():
            if message["status"] == "created":
                report.alerts.append(message)
            else:
                report.updated += 1
        return report

    def _run_one(self, item: Item, tick: datetime) -> ItemRun:
        run = ItemRun(item, tick)
        try:
            if item.query is not None:
                result = run_query(item.query, self.executor, tick)
                run.rows = len(result.rows)
                if item.query.result_table:
                    self.write_result(*item.query.result_table, result.rows)
                before = self.engine.stats.matches
                evaluate_result(self.engine, result)
                run.matches = self.engine.stats.matches - before
            else:
                corr = item.correlation
                found = run_correlation(corr, self.executor, tick, self.detection_rules, self.state)  # type: ignore[arg-type]
                run.rows, run.matches = found.signals, len(found.matches)
                run.notes = [f"{why} ({count} rule-match row(s) skipped)" for why, count in found.errors.counts.items()]
                self.engine.clock = lambda: tick.timestamp()
                self.engine.process_events(found.events, log_type=log_type_of(corr))  # type: ignore[arg-type]
                self.engine.flush()
                found.commit()
        except UserError as exc:
            run.error = str(exc)
        return run


def scheduled_items(settings: DetectionSettings | None = None, rule_dirs: Iterable[str | Path] = ()) -> list[Item]:
    """What a scheduler runs (for infra: one EventBridge schedule per item), without running it."""
    return _items(*_scheduled(list(rule_dirs), settings or DetectionSettings()))


def _scheduled(rule_dirs: list[str | Path], settings: DetectionSettings
               ) -> tuple[list[Rule], list[ScheduledQuery], list[CorrelationRule]]:
    """The enabled scheduled rules, scheduled queries and correlation rules."""
    scheduled_rules = load_scheduled_rules(rule_dirs, settings=settings, only_enabled=True)
    queries = [q for q in load_queries(rule_dirs) if q.enabled]
    correlations = [c for c in (_override(c, settings) for c in load_correlation_rules(rule_dirs)) if c.enabled]
    return scheduled_rules, queries, correlations


def _items(scheduled_rules: list[Rule], queries: list[ScheduledQuery], correlations: list[CorrelationRule]) -> list[Item]:
    """Queries that something reads (a scheduled rule, or their ResultTable), then correlation rules."""
    readers: dict[str, list[str]] = {}
    for rule in scheduled_rules:
        for name in rule.log_types:
            readers.setdefault(name, []).append(rule.id)
    items = [Item("query", q.name, q.schedule, query=q, readers=tuple(readers.get(q.name, ())))
             for q in queries if readers.get(q.name) or q.result_table]
    items += [Item("correlation", c.id, c.schedule, correlation=c) for c in correlations]
    return items


def _override(rule: CorrelationRule, settings: DetectionSettings) -> CorrelationRule:
    """`detections.rules.<id>` (enabled, severity, dedup_period_minutes) applies to correlation rules too."""
    return replace(rule, **override_changes(rule.id, settings, ("enabled", "severity", "dedup_minutes")))
