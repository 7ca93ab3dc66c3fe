"""`bucketwatch test` on every kind of item: scheduled queries are checked, scheduled rules and
correlation rules run their tests, data models are compared; broken items fail, never skip."""

from __future__ import annotations

from bucketwatch.analysis_runner import run_all
from bucketwatch.cli import main

QUERY_OK = """AnalysisType: scheduled_query
QueryName: Denied Readers
Enabled: true
Query: |
  SELECT userIdentity:arn AS arn, COUNT(*) AS n FROM panther_logs.public.aws_cloudtrail
  WHERE errorCode = 'AccessDenied' AND p_occurs_since('1 day') GROUP BY 1
Schedule: {RateMinutes: 60, TimeoutMinutes: 5}
"""
QUERY_BAD_COLUMN = """AnalysisType: scheduled_query
QueryName: Bad Column
Enabled: true
Query: SELECT no_such_column FROM panther_logs.public.aws_cloudtrail
Schedule: {RateMinutes: 60, TimeoutMinutes: 5}
"""
QUERY_BAD_KEY = """AnalysisType: scheduled_query
QueryName: Typo
Enabled: true
Querry: SELECT 1
Schedule: {RateMinutes: 60, TimeoutMinutes: 5}
"""
SCHEDULED_RULE = """AnalysisType: scheduled_rule
Filename: denied.py
RuleID: Acme.Denied
Enabled: true
ScheduledQueries: [Denied Readers, Missing Query]
Severity: Low
Tests:
  - {Name: many, ExpectedResult: true, Log: {arn: "arn:aws:iam::1:user/x", n: 20}}
  - {Name: few, ExpectedResult: false, Log: {arn: "arn:aws:iam::1:user/x", n: 2}}
"""
CORRELATION = """AnalysisType: correlation_rule
RuleID: Acme.Correlation
Enabled: true
Severity: High
Detection:
  - Group:
      - {ID: A, RuleID: R.A}
      - {ID: B, RuleID: R.B}
    MatchCriteria:
      user:
        - {GroupID: A, Match: user}
        - {GroupID: B, Match: user}
    LookbackWindowMinutes: 60
    Schedule: {RateMinutes: 30, TimeoutMinutes: 5}
Tests:
  - Name: both, same user
    ExpectedResult: true
    RuleOutputs:
      - {ID: A, Matches: {user: {u1: [0]}}}
      - {ID: B, Matches: {user: {u1: [5]}}}
  - Name: both, a day apart
    ExpectedResult: false
    RuleOutputs:
      - {ID: A, Matches: {user: {u1: ["2024-01-01T00:00:00Z"]}}}
      - {ID: B, Matches: {user: {u1: ["2024-01-02T00:00:00Z"]}}}
  - Name: deliberately wrong expectation
    ExpectedResult: true
    RuleOutputs:
      - {ID: A, Matches: {user: {u1: ["2024-01-01T00:00:00Z"]}}}
  - Name: unknown step
    ExpectedResult: false
    RuleOutputs:
      - {ID: C, Matches: {user: {u1: [1]}}}
"""
UNSUPPORTED = """AnalysisType: correlation_rule
RuleID: Acme.Unsupported
Enabled: true
Severity: High
Detection:
  - Group:
      - {ID: A, RuleID: R.A}
    EventEvaluationOrder: Chronological
    Schedule: {RateMinutes: 30, TimeoutMinutes: 5}
"""


def write(pack, files):
    pack.mkdir()
    for name, text in files.items():
        (pack / name).write_text(text)
    return pack


def outcomes(report, item_id):
    return {o.name: (o.passed, o.detail) for o in report.outcomes if o.id == item_id}


def test_every_kind_runs_and_broken_ones_fail(tmp_path):
    pack = write(tmp_path / "pack", {
        "ok.yml": QUERY_OK, "bad.yml": QUERY_BAD_COLUMN, "typo.yml": QUERY_BAD_KEY, "denied.yml": SCHEDULED_RULE,
        "denied.py": "def rule(row):\n    return row.get('n', 0) > 10\n", "corr.yml": CORRELATION,
        "unsupported.yml": UNSUPPORTED})
    report = run_all([pack])
    assert report.skipped == []
    assert outcomes(report, "Denied Readers") == {"runs on DuckDB, parses as Athena SQL": (True, "")}
    [(passed, detail)] = outcomes(report, "Bad Column").values()
    assert not passed and "no_such_column" in detail
    load_failures = {o.id: o.detail for o in report.outcomes if o.name == "<load>"}
    assert "unknown key(s) Querry" in load_failures["typo.yml"]
    assert "EventEvaluationOrder is not supported" in load_failures["unsupported.yml"]
    denied = outcomes(report, "Acme.Denied")
    assert denied["many"] == (True, "") and denied["few"] == (True, "")
    assert denied["reads scheduled query 'Denied Readers'"] == (True, "")
    assert denied["reads scheduled query 'Missing Query'"] == (False, "no scheduled query with that QueryName")
    corr = outcomes(report, "Acme.Correlation")
    assert corr["both, same user"] == (True, "") and corr["both, a day apart"] == (True, "")
    assert corr["deliberately wrong expectation"] == (False, "expected True, got False")
    assert not corr["unknown step"][0] and "RuleOutputs[0].ID must be one of A, B" in corr["unknown step"][1]


def test_a_panther_pack_data_model_is_compared_with_ours(tmp_path):
    pack = write(tmp_path / "pack", {"dm.yml": """AnalysisType: datamodel
LogTypes: [AWS.S3ServerAccess]
DataModelID: Custom.S3
Enabled: true
Mappings:
  - {Name: source_ip, Path: remoteip}
  - {Name: user_agent, Path: referrer}
  - {Name: actor_user, Method: get_actor}
"""})
    report = run_all(panther_pack=pack)
    model = outcomes(report, "Custom.S3")
    assert model["source_ip -> remoteip"] == (True, "")
    assert not model["user_agent -> referrer"][0] and "reads None, not referrer" in model["user_agent -> referrer"][1]
    assert not model["actor_user -> None"][0]


def test_cli_exit_code_counts_the_new_kinds(tmp_path, capsys):
    pack = write(tmp_path / "pack", {"corr.yml": CORRELATION})
    assert main(["test", str(pack)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "2 passed, 2 failed"
