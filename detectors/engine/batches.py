"""Glue between parsed batches (detectors.pipeline) and the engine: events for candidate rows
only, and the rule-match rows written to `panther_rule_matches.<table>`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
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
    """The batch's rows that belong to alerts, one row per (event, rule), with alert fields.

    Built with one Arrow `take` of the matched rows plus the alert fields, gathered from one
    small array per alert change. Rows are in batch order (a row matched by several alerts
    repeats, alert by alert), so the lake writer cuts hours as slices of long runs."""
    parts: list[np.ndarray] = []
    values: dict[str, list[Any]] = {name: [] for name in ALERT_FIELDS}
    rule_of: dict[str, int] = {}  # rule id -> its number; tags are built once per rule
    tags: list[list[str]] = []
    when: dict[float | None, datetime | None] = {}  # epoch -> UTC time: a batch's changes share a few
    for rule, change in result.changes:
        refs = _refs(change.matches)
        if not len(refs):
            continue
        state = change.state
        if rule.id not in rule_of:
            rule_of[rule.id] = len(tags)
            tags.append(list(rule.tags))
        values["p_rule_id"].append(rule.id)
        values["p_alert_id"].append(state.alert_id)
        values["p_rule_severity"].append(state.severity)
        values["p_alert_creation_time"].append(state.alert_created)
        values["p_alert_update_time"].append(state.alert_updated)
        values["p_rule_tags"].append(rule_of[rule.id])
        parts.append(refs)
    if not parts:
        return None
    for name in ("p_alert_creation_time", "p_alert_update_time"):
        values[name] = [when[epoch] if epoch in when else when.setdefault(epoch, _utc(epoch))
                        for epoch in values[name]]
    indices = np.concatenate(parts)
    owner = np.repeat(np.arange(len(parts)), [len(refs) for refs in parts])  # the change each row is for
    order = np.argsort(indices, kind="stable")
    indices, owner = indices[order], pa.array(owner[order])
    # One take from the whole (many-chunk) table gives one chunk: the lake writer gathers the rows
    # around each hour boundary with a `take`, and a take from a many-chunk table concatenates
    # every chunk first (pyarrow 26: 0.04 s for 22,500 of 100,000 rows, vs 0.13 s taking per
    # record batch and combining the chunks after).
    rows = batch.table.take(pa.array(indices))
    schema = rule_matches_schema(batch.log_type)
    for name in ALERT_FIELDS:
        field = schema.field(name)
        if name == "p_rule_tags":
            column = pa.array(tags, field.type).take(pa.array(values[name]).take(owner))
        else:
            column = pa.array(values[name], field.type).take(owner)
        rows = rows.append_column(field, column)
    return rows.select(schema.names).cast(schema).combine_chunks()  # already one chunk: no copy


ALERT_FIELDS = ("p_rule_id", "p_alert_id", "p_rule_severity", "p_alert_creation_time", "p_alert_update_time",
                "p_rule_tags")


def _refs(matches: list[Any]) -> np.ndarray:
    """Row numbers of an alert change's matches (MatchBlocks from vectorized rules, or Matches)."""
    if len(matches) == 1 and hasattr(matches[0], "refs"):
        return np.asarray(matches[0].refs, dtype=np.int64)
    refs: list[int] = []
    for match in matches:
        if hasattr(match, "refs"):
            refs.extend(match.refs.tolist())
        elif isinstance(match.ref, int):
            refs.append(match.ref)
    return np.asarray(refs, dtype=np.int64)


def write_rule_matches(writer: Any, batch: ParsedBatch, result: FlushResult) -> int:
    table = rule_matches_table(batch, result)
    if table is None:
        return 0
    writer.write(DB_RULE_MATCHES, TABLE_OF_LOG_TYPE[batch.log_type], table)
    return table.num_rows


def _utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
