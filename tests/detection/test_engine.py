"""Engine: pre-filters, dedup grouping, thresholds, event-time windows, unique(), errors."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from detectors.engine.evaluate import Engine
from detectors.engine.rules import load_rules
from detectors.engine.stores import MemoryStore

T0 = datetime(2020, 5, 10, 12, 0, tzinfo=UTC)


def make_pack(tmp_path, rules):
    """rules: {rule_id: (python body, extra yaml)} -> loaded Rule objects."""
    for i, (rule_id, (body, extra)) in enumerate(rules.items()):
        (tmp_path / f"r{i}.py").write_text(textwrap.dedent(body))
        (tmp_path / f"r{i}.yml").write_text(
            f"AnalysisType: rule\nFilename: r{i}.py\nRuleID: {rule_id}\nEnabled: true\nSeverity: Low\n"
            f"LogTypes: [AWS.S3ServerAccess]\n" + textwrap.dedent(extra))
    return {r.id: r for r in load_rules([tmp_path], include_builtin=False)}


def access(minutes, requester="alice", operation="REST.GET.OBJECT", **fields):
    when = T0 + timedelta(minutes=minutes)
    return {"p_log_type": "AWS.S3ServerAccess", "p_event_time": when.strftime("%Y-%m-%d %H:%M:%S.000000000"),
            "requester": requester, "operation": operation, "bucket": "b", **fields}


GET_RULE = ("""
    def rule(event):
        return event.get("operation") == "REST.GET.OBJECT"
    def title(event):
        return f"reads by {event.get('requester')}"
    def dedup(event):
        return event.get("requester")
""", "DedupPeriodMinutes: 60\nThreshold: 3\n")


@pytest.fixture
def rules(tmp_path):
    return make_pack(tmp_path, {"Test.Get": GET_RULE})


def run(engine, events):
    engine.process_events(events)
    return engine.flush()


def test_alert_raised_when_threshold_reached_not_before(rules):
    engine = Engine(rules.values(), MemoryStore())
    assert run(engine, [access(0), access(1)]).changes == []
    result = run(engine, [access(2)])
    assert [(c.created, c.state.count) for _, c in result.changes] == [(True, 3)]
    state = result.changes[0][1].state
    assert state.first_seen == T0.timestamp() and state.last_seen == (T0 + timedelta(minutes=2)).timestamp()


def test_later_matches_update_the_same_alert(rules):
    engine = Engine(rules.values(), MemoryStore())
    first = run(engine, [access(0), access(1), access(2)]).changes[0][1].state
    later = run(engine, [access(30), access(40)]).changes
    assert [(c.created, c.state.alert_id, c.state.count) for _, c in later] == [(False, first.alert_id, 5)]
    messages = engine.alert_messages()
    assert len(messages) == 1 and messages[0]["status"] == "created" and messages[0]["event_count"] == 5


def test_dedup_strings_group_separately(rules):
    engine = Engine(rules.values(), MemoryStore())
    result = run(engine, [access(i, "alice") for i in range(3)] + [access(i, "bob") for i in range(2)])
    assert [c.state.dedup for _, c in result.changes] == ["alice"]


def test_window_is_event_time_and_closes_after_the_period(rules):
    engine = Engine(rules.values(), MemoryStore(), clock=lambda: datetime(2031, 1, 1, tzinfo=UTC).timestamp())
    run(engine, [access(0), access(10), access(20)])
    # 61 minutes after the window opened: a new window, below threshold, no alert.
    assert run(engine, [access(61), access(62)]).changes == []
    result = run(engine, [access(63)])
    assert [(c.created, c.state.count) for _, c in result.changes] == [(True, 3)]
    assert len({m["alert_id"] for m in engine.alert_messages()}) == 2


def test_matches_spread_over_more_than_a_period_never_reach_threshold(rules):
    engine = Engine(rules.values(), MemoryStore())
    assert run(engine, [access(0), access(50), access(100), access(150)]).changes == []


def test_out_of_order_event_joins_the_open_window(rules):
    engine = Engine(rules.values(), MemoryStore())
    run(engine, [access(30), access(40)])
    result = run(engine, [access(5)])
    state = result.changes[0][1].state
    assert state.count == 3 and state.first_seen == (T0 + timedelta(minutes=5)).timestamp()


def test_replayed_history_in_one_batch_forms_its_own_windows(rules):
    engine = Engine(rules.values(), MemoryStore())
    events = [access(m) for m in (0, 1, 2, 300, 301, 302)]
    result = run(engine, events)
    assert sorted(c.state.first_seen for _, c in result.changes) == [
        (T0 + timedelta(minutes=m)).timestamp() for m in (0, 300)]


def test_unique_counts_distinct_values(tmp_path):
    rules = make_pack(tmp_path, {"Test.Unique": ("""
        def rule(event):
            return True
        def unique(event):
            return event.get("key")
        def dedup(event):
            return "one"
    """, "Threshold: 2\n")})
    engine = Engine(rules.values(), MemoryStore())
    assert run(engine, [access(0, key="a"), access(1, key="a"), access(2, key="a")]).changes == []
    result = run(engine, [access(3, key="b")])
    assert [(c.created, c.state.uniques, c.state.count) for _, c in result.changes] == [(True, ["a", "b"], 4)]


def test_defaults_and_dynamic_severity(tmp_path):
    rules = make_pack(tmp_path, {"Test.Plain": ("""
        def rule(event):
            return True
        def severity(event):
            return "CRITICAL" if event.get("requester") == "root" else "DEFAULT"
    """, "DisplayName: Plain rule\n")})
    engine = Engine(rules.values(), MemoryStore())
    result = run(engine, [access(0, "root"), access(1, "alice")])
    (_, change), = result.changes
    assert change.state.dedup == "defaultDedupString:Test.Plain"
    assert change.state.title == "Plain rule"
    assert change.state.severity == "Low"  # the newest event's severity describes the alert
    assert [m.details().severity for m in change.matches] == ["Critical", "Low"]


def test_a_failing_title_still_gives_an_alert(tmp_path):
    rules = make_pack(tmp_path, {"Test.BadTitle": ("""
        def rule(event):
            return True
        def dedup(event):
            return "d"
        def title(event):
            return event["missing"]
    """, "DisplayName: Fallback title\n")})
    engine = Engine(rules.values(), MemoryStore())
    (_, change), = run(engine, [access(0)]).changes
    assert change.state.title == "Fallback title" and change.state.dedup == "d"
    assert [e.rule_id for e in engine.errors.values()] == ["Test.BadTitle"]


def test_a_failing_rule_does_not_stop_others(tmp_path):
    rules = make_pack(tmp_path, {
        "Test.Broken": ("def rule(event):\n    return event['nope'] == 1\n", ""),
        "Test.Fine": ("def rule(event):\n    return True\n", ""),
    })
    engine = Engine(rules.values(), MemoryStore())
    result = run(engine, [access(0), access(1)])
    assert [r.id for r, _ in result.changes] == ["Test.Fine"]
    (error,) = engine.errors.values()
    assert error.rule_id == "Test.Broken" and error.count == 2 and "KeyError" in error.error


def test_alert_is_not_saved_when_publishing_fails(rules):
    store = MemoryStore()
    calls = []

    def failing(rule, state):
        calls.append(state.alert_id)
        raise RuntimeError("topic unavailable")

    engine = Engine(rules.values(), store, on_created=failing)
    engine.process_events([access(0), access(1), access(2)])
    with pytest.raises(RuntimeError):
        engine.flush()
    retry = Engine(rules.values(), store)
    result = run(retry, [access(0), access(1), access(2)])
    assert [(c.created, c.state.count) for _, c in result.changes] == [(True, 3)]
    assert calls == [result.changes[0][1].state.alert_id]


def test_vectorized_prefilter_evaluates_only_candidate_rows(tmp_path):
    rules = make_pack(tmp_path, {"Test.Pre": ("""
        def rule(event):
            return event.get("httpstatus") == 403
        def dedup(event):
            return event.get("operation")
    """, "Prefilter:\n  AWS.S3ServerAccess:\n    operation: ['REST.*.OBJECT']\n")})
    rows = [access(0, operation="REST.GET.OBJECT", httpstatus=403), access(1, operation="REST.GET.BUCKET", httpstatus=403),
            access(2, operation="REST.PUT.OBJECT", httpstatus=200), access(3, operation=None, httpstatus=403)]
    table = pa.Table.from_pylist(rows)
    seen = []

    def row_events(indices):
        seen.extend(indices)
        return [rows[i] for i in indices]

    engine = Engine(rules.values(), MemoryStore())
    engine.process_table("AWS.S3ServerAccess", table, row_events)
    result = engine.flush()
    assert seen == [0, 2]
    assert [c.state.dedup for _, c in result.changes] == ["REST.GET.OBJECT"]
    assert [m.ref for m in result.changes[0][1].matches] == [0]
    # The per-event path applies the same pre-filter.
    dict_engine = Engine(rules.values(), MemoryStore())
    dict_engine.process_events(rows)
    assert dict_engine.stats.candidates == 2


def test_prefilter_field_missing_from_table_filters_nothing(tmp_path):
    rules = make_pack(tmp_path, {"Test.Pre": ("def rule(event):\n    return True\n",
                                              "Prefilter:\n  AWS.S3ServerAccess:\n    nosuchcolumn: [x]\n")})
    engine = Engine(rules.values(), MemoryStore())
    table = pa.Table.from_pylist([access(0), access(1)])
    engine.process_table("AWS.S3ServerAccess", table, lambda idx: [table.slice(i, 1).to_pylist()[0] for i in idx])
    assert engine.stats.candidates == 2


def test_rules_for_other_log_types_are_skipped(rules):
    engine = Engine(rules.values(), MemoryStore())
    engine.process_events([{"p_log_type": "AWS.CloudTrail", "eventName": "GetObject", "operation": "REST.GET.OBJECT"}])
    assert engine.stats.evaluations == 0


def test_create_alert_false_matches_without_alerting(tmp_path):
    """A signal rule (Panther's CreateAlert: false): its matches count and reach the rule-match
    rows (the flush result), but it sends nothing and keeps no samples or title."""
    rules = make_pack(tmp_path, {"Test.Signal": (GET_RULE[0], "DedupPeriodMinutes: 60\nCreateAlert: false\n"),
                                 "Test.Get": GET_RULE})
    created = []
    engine = Engine(rules.values(), MemoryStore(), on_created=lambda rule, state: created.append(rule.id))
    result = run(engine, [access(0), access(1), access(2)])
    signal = [c for r, c in result.changes if r.id == "Test.Signal"]
    assert [c.state.count for c in signal] == [3] and len(signal[0].matches) == 3
    assert signal[0].state.samples == [] and signal[0].state.title == ""
    assert created == ["Test.Get"]
    assert [m["rule_id"] for m in engine.alert_messages()] == ["Test.Get"]


def test_group_thresholds_replace_the_rules_for_one_group(rules):
    engine = Engine(rules.values(), MemoryStore(), group_thresholds={"Test.Get": {"alice": 5}})
    result = run(engine, [access(i) for i in range(4)] + [access(i, requester="bob") for i in range(3)])
    assert [(c.state.dedup, c.state.count) for _, c in result.changes] == [("bob", 3)]
    assert [c.state.count for _, c in run(engine, [access(5)]).changes] == [5]
