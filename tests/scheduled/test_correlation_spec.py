"""Correlation rule specs: what is not supported is a one-line error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.common.errors import UserError
from detectors.correlation.spec import correlation_from_spec, load_correlation_rules

SCHEDULE = {"RateMinutes": 60, "TimeoutMinutes": 5}
STEPS = [{"ID": "A", "RuleID": "R.A"}, {"ID": "B", "RuleID": "R.B"}]
CRITERIA = {"k": [{"GroupID": "A", "Match": "f"}, {"GroupID": "B", "Match": "f"}]}


def spec(detection=None, **top):
    detection = detection if detection is not None else [{"Group": STEPS, "MatchCriteria": CRITERIA,
                                                          "Schedule": SCHEDULE}]
    return {"AnalysisType": "correlation_rule", "RuleID": "T.R", "Enabled": True, "Severity": "High",
            "Detection": detection, **top}


def item(**keys):
    return [{"Group": STEPS, "MatchCriteria": CRITERIA, "Schedule": SCHEDULE, **keys}]


@pytest.mark.parametrize(("raw", "message"), [
    (spec(item(EventEvaluationOrder="Chronological")), "EventEvaluationOrder is not supported"),
    (spec(item(Group=[{"ID": "A", "RuleID": "R.A", "MaxMatchCount": 3}, STEPS[1]])), "MaxMatchCount is not supported"),
    (spec(item() * 2), "Detection has 2 items; only one is supported"),
    (spec(item(Sequence=STEPS)), "needs exactly one of Group and Sequence"),
    (spec(item(MatchCriteria={"k": [{"GroupID": "A", "Match": "f"}]})), "every step must be listed (missing B)"),
    (spec(item(MatchCriteria={"k": [{"GroupID": "Z", "Match": "f"}]})), "GroupID 'Z' is not a step"),
    (spec(item(Transitions=[])), "Transitions belong to a Sequence"),
    (spec(item(Lookback=5)), "unknown key(s) Lookback"),
    (spec(item(LookbackWindowMinutes=0)), "LookbackWindowMinutes: expected a whole number of at least 1"),
    (spec(item(Schedule={"RateMinutes": 5, "CronExpression": "* * * * *", "TimeoutMinutes": 1})),
     "exactly one of RateMinutes and CronExpression"),
    (spec([{"Sequence": [{"ID": "A", "RuleID": "R.A", "Absence": True}, STEPS[1]], "Schedule": SCHEDULE}]),
     "cannot start with an absent step"),
    (spec([{"Sequence": STEPS, "Schedule": SCHEDULE}]), "expected 1 transition(s)"),
    (spec([{"Sequence": STEPS, "Schedule": SCHEDULE,
            "Transitions": [{"ID": "t", "From": "B", "To": "A", "Match": [{"On": "f"}]}]}]),
     "transitions must join consecutive steps in order"),
    (spec([{"Sequence": STEPS, "Schedule": SCHEDULE,
            "Transitions": [{"ID": "t", "From": "A", "To": "B", "Match": [{"Field": "f"}]}]}]),
     "expected {On: field} or {From: field, To: field}"),
    (spec(Suppressions=["x"]), "unknown key(s) Suppressions"),
    (spec(Severity="Urgent"), "Severity"),
    (spec([{"Group": [{"ID": "A", "RuleID": "R.A", "Absence": True}], "Schedule": SCHEDULE}]),
     "at least one step must be present"),
])
def test_unsupported_or_wrong_specs_are_errors(raw, message):
    with pytest.raises(UserError) as raised:
        correlation_from_spec(Path("c.yml"), raw)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_yaml_on_key_is_read_as_on(tmp_path):
    (tmp_path / "c.yml").write_text(
        "AnalysisType: correlation_rule\nRuleID: T.On\nEnabled: true\nSeverity: Low\n"
        "Detection:\n  - Sequence:\n      - {ID: A, RuleID: R.A}\n      - {ID: B, RuleID: R.B}\n"
        "    Transitions:\n      - ID: t\n        From: A\n        To: B\n        Match:\n          - On: CLIENT_IP\n"
        "    Schedule: {RateMinutes: 60, TimeoutMinutes: 5}\n")
    [loaded] = load_correlation_rules([tmp_path], include_builtin=False)
    assert [s.fields for s in loaded.steps] == [(("CLIENT_IP",),), (("CLIENT_IP",),)]
    assert loaded.lookback_s == 15 * 60  # Panther's default


def test_builtin_correlation_rules_load():
    ids = {r.id for r in load_correlation_rules()}
    assert ids == {"Bucketwatch.S3.BulkDeletionThenUpload", "Bucketwatch.S3.MultiObjectDeleteThenUpload"}
