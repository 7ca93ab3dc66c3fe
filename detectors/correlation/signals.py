"""Signals from the lake: `panther_rule_matches` rows -> what a correlation rule matches on.

`detect` (and the detector Lambda) write every event of an alerting window to
`panther_rule_matches.<table>`, also for rules with `CreateAlert: false` (signal rules). A
correlation rule reads the rows of the rules it names within its lookback window. A match field
`p_alert_context.X` is the rule's own `alert_context(event)` for that row, computed here from the
row (the lake keeps the event, not the context); any other field is a path into the event.
The rows come from an executor (DuckDB locally, Athena in AWS); nothing here knows which.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from detectors.correlation.evaluate import Signal
from detectors.engine.evaluate import parse_time
from detectors.engine.rules import Rule
from detectors.event import PantherEvent
from detectors.parsers.cloudtrail import from_row
from detectors.schema import (
    DB_RULE_MATCHES,
    LOG_TYPE_CLOUDTRAIL,
    LOG_TYPES,
    PARTITION_COLUMNS,
    TABLE_OF_LOG_TYPE,
    rule_matches_schema,
)
from detectors.sql.executors import QueryExecutor
from detectors.sql.macros import timestamp_literal
from detectors.sql.transpile import transpile

CONTEXT_PREFIX = "p_alert_context."


@dataclass
class SignalErrors:
    """Rows that could not become signals (their rule is not loaded, or its alert_context raised)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, why: str) -> None:
        self.counts[why] = self.counts.get(why, 0) + 1


def signals_sql(rule_ids: Iterable[str], start: datetime, end: datetime) -> dict[str, str]:
    """Per log type, the Snowflake SQL for the rule-match rows of `rule_ids` in [start, end]."""
    ids = ", ".join("'" + r.replace("'", "''") + "'" for r in sorted(set(rule_ids)))
    low, high = timestamp_literal(start).sql("snowflake"), timestamp_literal(end).sql("snowflake")
    return {log_type: f"SELECT * FROM {DB_RULE_MATCHES}.public.{TABLE_OF_LOG_TYPE[log_type]} "
                      f"WHERE p_rule_id IN ({ids}) AND p_event_time BETWEEN {low} AND {high}"
            for log_type in LOG_TYPES}


def read_signals(executor: QueryExecutor, rules_by_id: Mapping[str, Rule], fields: Mapping[str, tuple[str, ...]],
                 start: datetime, end: datetime, errors: SignalErrors | None = None) -> list[Signal]:
    """The signals of the rules in `fields` (rule id -> match fields) between `start` and `end`."""
    signals: list[Signal] = []
    seen: set[tuple[str, str]] = set()
    for log_type, sql in signals_sql(fields, start, end).items():
        rows = executor.run(transpile(sql, read="snowflake", write=executor.dialect, now=end))
        for row in rows:
            ref = (str(row.get("p_rule_id")), str(row.get("p_row_id")))
            if ref in seen:  # the same event in two alerts of one rule: one signal
                continue
            seen.add(ref)
            signal = row_signal(row, log_type, rules_by_id, fields, errors)
            if signal is not None:
                signals.append(signal)
    return signals


def row_signal(row: Mapping[str, Any], log_type: str, rules_by_id: Mapping[str, Rule],
               fields: Mapping[str, tuple[str, ...]], errors: SignalErrors | None = None) -> Signal | None:
    rule_id = str(row.get("p_rule_id"))
    rule = rules_by_id.get(rule_id)
    time = parse_time(str(row.get("p_event_time") or ""))
    if rule is None or time is None:
        if errors is not None:
            errors.add(f"rule {rule_id} is not loaded" if rule is None else "row without p_event_time")
        return None
    event = PantherEvent(lake_record(row, log_type), log_type)
    values: dict[str, frozenset[str]] = {}
    context: Any = None
    for name in fields.get(rule_id, ()):
        if name.startswith(CONTEXT_PREFIX):
            if context is None:
                try:
                    context = rule.call("alert_context", event) or {}
                except Exception as exc:  # a rule's bug must not stop the correlation
                    if errors is not None:
                        errors.add(f"rule {rule_id} alert_context raised {type(exc).__name__}")
                    return None
            value = _path(context, name[len(CONTEXT_PREFIX):])
        else:
            value = event.deep_get(*name.split("."))
        values[name] = field_values(value)
    return Signal(rule_id, time, values, str(row.get("p_row_id")), record=event.to_dict())


def lake_record(row: Mapping[str, Any], log_type: str) -> dict[str, Any]:
    """A lake row as the event its rule saw: CloudTrail's nested JSON parsed back; access-log
    rows without their null fields (as parsed events omit them). Column names are the schema's
    (Athena, like Glue, returns them lower-cased: `useridentity`)."""
    names = _column_names(log_type)
    row = {names.get(str(name).lower(), name): value for name, value in row.items()}
    if log_type == LOG_TYPE_CLOUDTRAIL:
        return from_row(dict(row))
    return {k: v for k, v in row.items() if v is not None and k not in PARTITION_COLUMNS}


@functools.cache
def _column_names(log_type: str) -> dict[str, str]:
    return {name.lower(): name for name in rule_matches_schema(log_type).names}


def field_values(value: Any) -> frozenset[str]:
    """A match field's value(s) as strings; a list matches each of its scalar items."""
    if value is None:
        return frozenset()
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(v) for v in value if v is not None and not isinstance(v, Mapping | list | tuple))
    if isinstance(value, Mapping):
        return frozenset()  # objects cannot be matched on (as in Panther)
    return frozenset({str(value)})


def _path(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
