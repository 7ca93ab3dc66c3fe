"""The correlation evaluator's semantics, one behaviour per test (Group, Sequence, Absence,
MinMatchCount, WithinTimeFrameMinutes, list values, incremental progress)."""

from __future__ import annotations

from pathlib import Path

import yaml

from detectors.correlation.evaluate import Signal, evaluate, keys_of
from detectors.correlation.spec import correlation_from_spec

SCHEDULE = {"RateMinutes": 60, "TimeoutMinutes": 5}


def rule(detection: dict):
    spec = {"AnalysisType": "correlation_rule", "RuleID": "T.Rule", "Enabled": True, "Severity": "High",
            "Detection": [{**detection, "Schedule": SCHEDULE}]}
    return correlation_from_spec(Path("t.yml"), spec)


def sig(rule_id, minute, **values):
    return Signal(rule_id, minute * 60.0, {k.replace("__", "."): frozenset(v if isinstance(v, list) else [v])
                                           for k, v in values.items()})


GROUP = rule(yaml.safe_load("""
Group:
  - {ID: A, RuleID: R.A, MinMatchCount: 2}
  - {ID: B, RuleID: R.B}
MatchCriteria:
  bucket:
    - {GroupID: A, Match: p_alert_context.bucketName}
    - {GroupID: B, Match: bucket}
LookbackWindowMinutes: 30
"""))


def test_group_needs_every_step_with_the_same_key_in_the_window():
    signals = [sig("R.A", 1, p_alert_context__bucketName="x"), sig("R.A", 2, p_alert_context__bucketName="x"),
               sig("R.B", 3, bucket="x"), sig("R.B", 4, bucket="y")]
    matches = evaluate(GROUP, signals, end=30 * 60)
    assert [m.key for m in matches] == [("x",)]
    assert [len(s.signals) for s in matches[0].steps] == [2, 1]


def test_group_is_unordered_but_counts_min_matches():
    later_a = [sig("R.B", 1, bucket="x"), sig("R.A", 5, p_alert_context__bucketName="x")]
    assert evaluate(GROUP, later_a, end=30 * 60) == []  # one A, MinMatchCount 2
    later_a.append(sig("R.A", 6, p_alert_context__bucketName="x"))
    assert len(evaluate(GROUP, later_a, end=30 * 60)) == 1  # B before the As is fine


def test_group_window_is_the_lookback_before_end():
    signals = [sig("R.A", 0, p_alert_context__bucketName="x"), sig("R.A", 1, p_alert_context__bucketName="x"),
               sig("R.B", 40, bucket="x")]
    assert evaluate(GROUP, signals, end=40 * 60) == []  # the As are 40 minutes old: out of 30
    assert evaluate(GROUP, signals, end=31 * 60) == []  # at 31: one A left in the window, B not yet seen
    assert evaluate(GROUP, [*signals[:2], sig("R.B", 25, bucket="x")], end=30 * 60)


def test_group_absence_anywhere_in_the_window_blocks():
    absent = rule({"Group": [{"ID": "A", "RuleID": "R.A"}, {"ID": "X", "RuleID": "R.X", "Absence": True}],
                   "MatchCriteria": {"k": [{"GroupID": "A", "Match": "k"}, {"GroupID": "X", "Match": "k"}]}})
    assert evaluate(absent, [sig("R.A", 1, k="1")], end=600)
    assert not evaluate(absent, [sig("R.A", 1, k="1"), sig("R.X", 5, k="1")], end=600)
    assert not evaluate(absent, [sig("R.X", 0, k="1"), sig("R.A", 5, k="1")], end=600)
    assert evaluate(absent, [sig("R.A", 1, k="1"), sig("R.X", 5, k="2")], end=600)


SEQUENCE = rule(yaml.safe_load("""
Sequence:
  - {ID: D, RuleID: R.Delete, MinMatchCount: 3}
  - {ID: U, RuleID: R.Upload}
Transitions:
  - ID: D FOLLOWED BY U
    From: D
    To: U
    WithinTimeFrameMinutes: 10
    Match:
      - On: bucket
      - {From: actor, To: uploader}
LookbackWindowMinutes: 120
"""))


def delete(minute, bucket="b", actor="a"):
    return sig("R.Delete", minute, bucket=bucket, actor=actor)


def upload(minute, bucket="b", uploader="a"):
    return sig("R.Upload", minute, bucket=bucket, uploader=uploader)


def test_sequence_in_order_within_the_time_frame():
    assert evaluate(SEQUENCE, [delete(1), delete(2), delete(3), upload(8)], end=3600)
    assert not evaluate(SEQUENCE, [upload(0), delete(1), delete(2), delete(3)], end=3600)  # wrong order
    assert not evaluate(SEQUENCE, [delete(1), delete(2), delete(3), upload(14)], end=3600)  # 11 > 10 minutes
    assert not evaluate(SEQUENCE, [delete(1), delete(2), upload(3)], end=3600)  # two deletes, not three


def test_sequence_time_frame_counts_from_the_min_match_completion():
    # Deletes at 1, 2 and 30: the third completes the step at 30; the upload at 35 is within 10.
    assert evaluate(SEQUENCE, [delete(1), delete(2), delete(30), upload(35)], end=3600)


def test_sequence_keys_join_different_fields():
    assert not evaluate(SEQUENCE, [delete(1), delete(2), delete(3), upload(5, uploader="other")], end=3600)
    assert not evaluate(SEQUENCE, [delete(1), delete(2), delete(3), upload(5, bucket="c")], end=3600)
    matches = evaluate(SEQUENCE, [delete(1), delete(2), delete(3), upload(5)], end=3600)
    assert matches[0].key == ("b", "a")


def test_list_values_intersect():
    stop = rule({"Sequence": [{"ID": "S", "RuleID": "R.S"}, {"ID": "M", "RuleID": "R.M"}],
                 "Transitions": [{"ID": "t", "From": "S", "To": "M", "Match": [{"On": "ids"}]}]})
    signals = [sig("R.S", 1, ids=["i-1", "i-2"]), sig("R.M", 2, ids="i-2")]
    assert [m.key for m in evaluate(stop, signals, end=600)] == [("i-2",)]
    assert keys_of(stop.steps[0], signals[0]) == {("i-1",), ("i-2",)}


NOT_FOLLOWED = rule(yaml.safe_load("""
Sequence:
  - {ID: Login, RuleID: R.Login}
  - {ID: Push, RuleID: R.Push, Absence: true}
Transitions:
  - {ID: t, From: Login, To: Push, WithinTimeFrameMinutes: 5, Match: [{From: user, To: email}]}
"""))


def test_sequence_ending_in_absence_is_not_followed_by():
    login = sig("R.Login", 0, user="u")
    assert evaluate(NOT_FOLLOWED, [login], end=600)
    assert not evaluate(NOT_FOLLOWED, [login, sig("R.Push", 3, email="u")], end=600)
    assert evaluate(NOT_FOLLOWED, [login, sig("R.Push", 6, email="u")], end=600)  # outside its 5 minutes
    assert evaluate(NOT_FOLLOWED, [login, sig("R.Push", 3, email="v")], end=600)


def test_absence_between_two_steps_finds_a_later_start():
    middle = rule({"Sequence": [{"ID": "A", "RuleID": "R.A"}, {"ID": "B", "RuleID": "R.B", "Absence": True},
                                {"ID": "C", "RuleID": "R.C"}],
                   "Transitions": [{"ID": "1", "From": "A", "To": "B", "Match": [{"On": "k"}]},
                                   {"ID": "2", "From": "B", "To": "C", "Match": [{"On": "k"}]}]})
    a1, b, a2, c = sig("R.A", 1, k="1"), sig("R.B", 3, k="1"), sig("R.A", 5, k="1"), sig("R.C", 6, k="1")
    assert not evaluate(middle, [a1, b, c], end=600)
    found = evaluate(middle, [a1, b, a2, c], end=600)
    assert found and found[0].steps[0].signals[0].time == 5 * 60


def test_progress_makes_evaluation_incremental():
    signals = [delete(1), delete(2), delete(3), upload(5)]
    assert evaluate(SEQUENCE, signals, end=3600, after=lambda key: 5 * 60.0) == []
    assert evaluate(SEQUENCE, [*signals, upload(9)], end=3600, after=lambda key: 5 * 60.0)
    assert evaluate(SEQUENCE, signals, end=3600, after=lambda key: None)
    assert evaluate(GROUP, [sig("R.A", 1, p_alert_context__bucketName="x")] * 2 + [sig("R.B", 2, bucket="x")],
                    end=600, after=lambda key: 2 * 60.0) == []
