"""The engine-independent core of a correlation run: signals from an executor -> evaluation
with incremental progress in a state store -> engine events. The local scheduler runs it over
DuckDB and SQLite; the AWS scheduled Lambda can run it over Athena and DynamoDB.

Progress: per rule and match key, the time of the newest signal already alerted on
(`correlation#<rule id>#<key>`). A run raises a key only with a newer signal, so running again
over the same lake raises nothing new. The progress is stored after the alerts are handed to the
engine (`commit()`), like detect's dedup state: a crash in between may repeat an alert, never lose one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from detectors.correlation.alerting import match_event
from detectors.correlation.evaluate import CorrelationMatch, Key, evaluate
from detectors.correlation.signals import SignalErrors, read_signals
from detectors.correlation.spec import CorrelationRule
from detectors.engine.rules import Rule
from detectors.scheduled.state import StateStore, update
from detectors.sql.executors import QueryExecutor

EXPIRY_GRACE_S = 24 * 3600


def progress_key(rule: CorrelationRule, key: Key) -> str:
    return f"correlation#{rule.id}#{json.dumps(list(key))}"


@dataclass
class CorrelationRun:
    rule: CorrelationRule
    at: datetime
    store: StateStore
    signals: int = 0
    matches: list[CorrelationMatch] = field(default_factory=list)
    errors: SignalErrors = field(default_factory=SignalErrors)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [match_event(m) for m in self.matches]

    def commit(self) -> None:
        """Remember the newest signal of each match (call once its alert is handed over)."""
        expires = int(self.at.timestamp() + self.rule.lookback_s + EXPIRY_GRACE_S)
        for match in self.matches:
            newest = match.last_seen

            def advance(doc: dict[str, Any], newest: float = newest) -> dict[str, Any]:
                doc["alerted_through"] = max(float(doc.get("alerted_through") or 0), newest)
                return doc

            update(self.store, progress_key(self.rule, match.key), advance, expires)


def run_correlation(rule: CorrelationRule, executor: QueryExecutor, at: datetime,
                    rules_by_id: Mapping[str, Rule], store: StateStore) -> CorrelationRun:
    """Evaluate `rule` over the signals of its window ending at `at`."""
    run = CorrelationRun(rule=rule, at=at, store=store)
    start = at - timedelta(seconds=rule.lookback_s)
    signals = read_signals(executor, rules_by_id, rule.match_fields(), start, at, run.errors)
    run.signals = len(signals)

    def alerted_through(key: Key) -> float | None:
        doc, _ = store.get(progress_key(rule, key))
        return None if doc is None else float(doc.get("alerted_through") or 0)

    run.matches = evaluate(rule, signals, at.timestamp(), after=alerted_through)
    return run
