"""`bucketwatch test` on user packs: failures counted, Mocks applied, bad packs reported."""

from __future__ import annotations

from bucketwatch.cli import main

RULE_PY = """
from panther_base_helpers import deep_get

ALLOWED = "x"

def is_allowed(name):
    return name == ALLOWED

def rule(event):
    return not is_allowed(deep_get(event, "requestParameters", "bucketName"))
"""

RULE_YML = """AnalysisType: rule
Filename: r.py
RuleID: Acme.Bucket
LogTypes: [AWS.CloudTrail]
Severity: Low
Tests:
  - Name: other bucket alerts
    ExpectedResult: true
    Log: {"eventName": "GetObject", "requestParameters": {"bucketName": "y"}}
  - Name: allowed bucket is quiet
    ExpectedResult: false
    Log: {"eventName": "GetObject", "requestParameters": {"bucketName": "x"}}
  - Name: mocked allow-list
    ExpectedResult: false
    Mocks:
      - objectName: is_allowed
        returnValue: true
    Log: {"eventName": "GetObject", "requestParameters": {"bucketName": "y"}}
  - Name: deliberately wrong expectation
    ExpectedResult: false
    Log: {"eventName": "GetObject", "requestParameters": {"bucketName": "z"}}
"""


def write_pack(tmp_path):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "r.py").write_text(RULE_PY)
    (pack / "r.yml").write_text(RULE_YML)
    return pack


def test_failures_are_counted_and_exit_non_zero(tmp_path, capsys):
    code = main(["test", str(write_pack(tmp_path))])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[-1] == "3 passed, 1 failed"
    assert any("FAIL deliberately wrong expectation: expected False, got True" in line for line in out)


def test_all_passing_pack_exits_zero(tmp_path, capsys):
    pack = write_pack(tmp_path)
    (pack / "r.yml").write_text(RULE_YML.split("  - Name: deliberately")[0])
    assert main(["test", str(pack)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 passed, 0 failed"


def test_pack_ids_we_lack_are_not_implemented_not_failed(tmp_path, capsys):
    pack = tmp_path / "panther"
    pack.mkdir()
    (pack / "x.yml").write_text("AnalysisType: rule\nFilename: x.py\nRuleID: Panther.Unknown\nLogTypes: [AWS.CloudTrail]\n"
                                "Severity: Low\nTests:\n  - Name: t\n    ExpectedResult: true\n    Log: {}\n")
    code = main(["test", str(write_pack(tmp_path)), "--panther-pack", str(pack)])
    out = capsys.readouterr().out
    assert "  - rule Panther.Unknown (1 test)" in out
    assert out.strip().splitlines()[-1] == "3 passed, 1 failed" and code == 1


def test_broken_rule_module_fails_its_tests_and_the_others_still_run(tmp_path, capsys):
    pack = write_pack(tmp_path)
    (pack / "broken.py").write_text("def rule(event):\n    return (\n")
    (pack / "broken.yml").write_text("AnalysisType: rule\nFilename: broken.py\nRuleID: Acme.Broken\n"
                                     "LogTypes: [AWS.CloudTrail]\nSeverity: Low\n")
    assert main(["test", str(pack)]) == 1
    out = capsys.readouterr().out
    assert "rule Acme.Broken:" in out and "failed to import: SyntaxError" in out
    assert out.strip().splitlines()[-1] == "3 passed, 2 failed"


def test_detect_refuses_a_broken_rule_pack_in_one_line(tmp_path, capsys):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "broken.py").write_text("def rule(event):\n    return (\n")
    (pack / "broken.yml").write_text("AnalysisType: rule\nFilename: broken.py\nRuleID: Acme.Broken\n"
                                     "LogTypes: [AWS.CloudTrail]\nSeverity: Low\n")
    log = tmp_path / "empty.log"
    log.write_text("")
    assert main(["detect", str(log), "--no-lake", "--rules", str(pack)]) == 2
    err = capsys.readouterr().err
    assert "bucketwatch detect: error: rule Acme.Broken:" in err and "Traceback" not in err
