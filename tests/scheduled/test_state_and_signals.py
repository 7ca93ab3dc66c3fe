"""The scheduler's state store, and signals read back from the rule-match lake."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from cloudtrail_events import identity, s3_event, utc, write_trail_file

from bucketwatch.cli import main
from detectors.correlation.signals import SignalErrors, read_signals, row_signal
from detectors.engine.rules import load_rules
from detectors.parsers.cloudtrail import from_row, to_row
from detectors.scheduled.state import MemoryStateStore, SQLiteStateStore, update
from detectors.sql.executors import DuckDBLakeExecutor

T0 = utc("2024-05-14T10:00:00Z")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_state_store_is_versioned(kind, tmp_path):
    store = MemoryStateStore() if kind == "memory" else SQLiteStateStore(tmp_path / "s.sqlite")
    assert store.get("k") == (None, 0)
    assert store.put("k", {"a": 1}, 0)
    assert not store.put("k", {"a": 2}, 0)  # someone else created it first
    assert store.get("k") == ({"a": 1}, 1)
    assert not store.put("k", {"a": 3}, 5)
    assert update(store, "k", lambda doc: {**doc, "b": 2}) == {"a": 1, "b": 2}
    assert store.get("k") == ({"a": 1, "b": 2}, 2)


def test_sqlite_state_survives_reopening(tmp_path):
    SQLiteStateStore(tmp_path / "s.sqlite").put("schedule#query#q", {"last_run": 1.5}, 0)
    assert SQLiteStateStore(tmp_path / "s.sqlite").get("schedule#query#q") == ({"last_run": 1.5}, 1)


def test_cloudtrail_row_reads_back_as_the_record():
    record = s3_event("DeleteObject", identity("AssumedRole", "app"), "b", "k", T0)
    record["someNewField"] = {"x": [1, 2]}
    row = to_row(record, datetime(2024, 5, 14, 10, 0))
    back = from_row({**row, "eventTime": "2024-05-14 10:00:00.000000000", "p_rule_id": "R", "year": 2024})
    assert {k: v for k, v in back.items() if k != "p_rule_id"} == {k: v for k, v in record.items() if v is not None}
    assert back["p_rule_id"] == "R" and "year" not in back


def test_signals_carry_the_rules_alert_context(tmp_path):
    attacker = identity("IAMUser", "leaked-ci")
    records = [s3_event("DeleteObject", attacker, "customer-archive", f"k{i}", T0 + timedelta(seconds=i))
               for i in range(55)]
    write_trail_file(tmp_path / "logs", records, T0)
    assert main(["detect", str(tmp_path / "logs"), "--lake", str(tmp_path / "lake"), "-q"]) == 0
    rules = {r.id: r for r in load_rules()}
    fields = {"AWS.S3.DeleteObject": ("p_alert_context.bucketName", "p_alert_context.principal",
                                      "requestParameters.key")}
    errors = SignalErrors()
    signals = read_signals(DuckDBLakeExecutor(tmp_path / "lake"), rules, fields, T0, T0 + timedelta(hours=1), errors)
    assert len(signals) == 55 and errors.counts == {}
    first = min(signals, key=lambda s: s.time)
    assert first.time == T0.timestamp()
    assert first.values == {"p_alert_context.bucketName": frozenset({"customer-archive"}),
                            "p_alert_context.principal": frozenset({attacker["arn"]}),
                            "requestParameters.key": frozenset({"k0"})}
    # Outside the window: nothing; a rule that is not loaded: counted, not raised.
    assert read_signals(DuckDBLakeExecutor(tmp_path / "lake"), rules, fields, T0 - timedelta(hours=2),
                        T0 - timedelta(hours=1)) == []
    assert row_signal({"p_rule_id": "Gone.Rule", "p_event_time": "2024-05-14 10:00:00"}, "AWS.CloudTrail",
                      rules, fields, errors) is None
    assert errors.counts == {"rule Gone.Rule is not loaded": 1}
