"""Glue between parsed batches (detectors.pipeline) and the engine: events for candidate rows
only, and the rule-match rows written to `panther_rule_matches.<table>`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from detectors.engine.evaluate import Engine, FlushResult
from detectors.engine.rows import LazyRows
from detectors.pipeline import ParsedBatch
from detectors.schema import DB_RULE_MATCHES, LOG_TYPE_CLOUDTRAIL, TABLE_OF_LOG_TYPE, rule_matches_schema


def row_events(batch: ParsedBatch) -> Callable[[list[int]], list[Any]]:
    """Lazy events for some rows of `batch`, shaped like `batch.events()` gives them."""

    def rows(indices: list[int]) -> list[Any]:
        records = batch.records if batch.log_type == LOG_TYPE_CLOUDTRAIL else None
        return LazyRows(batch.table, indices, records).rows()

    return rows


def evaluate_batch(engine: Engine, batch: ParsedBatch) -> None:
    engine.process_table(batch.log_type, batch.table, row_events(batch))


def rule_matches_table(batch: ParsedBatch, result: FlushResult) -> pa.Table | None:
    """The batch's rows that belong to alerts, one row per (event, rule), with alert fields."""
    indices: list[int] = []
    extra: dict[str, list[Any]] = {name: [] for name in (
        "p_rule_id", "p_alert_id", "p_rule_severity", "p_alert_creation_time", "p_alert_update_time", "p_rule_tags")}
    for rule, change in result.changes:
        state = change.state
        refs = []
        for match in change.matches:
            if hasattr(match, "refs"):  # a MatchBlock from a vectorized rule
                refs.extend(match.refs.tolist())
            elif isinstance(match.ref, int):
                refs.append(match.ref)
        n = len(refs)
        indices.extend(refs)
        extra["p_rule_id"].extend([rule.id] * n)
        extra["p_alert_id"].extend([state.alert_id] * n)
        extra["p_rule_severity"].extend([state.severity] * n)
        extra["p_alert_creation_time"].extend([_utc(state.alert_created)] * n)
        extra["p_alert_update_time"].extend([_utc(state.alert_updated)] * n)
        extra["p_rule_tags"].extend([list(rule.tags)] * n)
    if not indices:
        return None
    rows = batch.table.take(indices)
    schema = rule_matches_schema(batch.log_type)
    for name, values in extra.items():
        rows = rows.append_column(schema.field(name), pa.array(values, schema.field(name).type))
    return rows.select(schema.names).cast(schema)


def write_rule_matches(writer: Any, batch: ParsedBatch, result: FlushResult) -> int:
    table = rule_matches_table(batch, result)
    if table is None:
        return 0
    writer.write(DB_RULE_MATCHES, TABLE_OF_LOG_TYPE[batch.log_type], table)
    return table.num_rows


def _utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
