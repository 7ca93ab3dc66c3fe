"""The small things a user trips over in `detect` and `schedule run`: a misspelled rule id under
`detections.rules` is an error suggesting the right one (wherever rule ids are known), and
`--min-severity` chooses the alerts shown, written and failed on while the lake keeps every match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bucketwatch.cli import main
from detectors.common.errors import UserError
from detectors.lake import open_lake

SAMPLES = Path(__file__).resolve().parents[2] / "detectors" / "samples"
TYPO = """
detections:
  rules:
    AWS.S3.ServerAcess.Error: {threshold: 10}
"""


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bucketwatch.yml"
    path.write_text(text)
    return str(path)


def test_detect_rejects_a_misspelled_rule_id_and_suggests_the_close_one(tmp_path, capsys):
    code = main(["detect", str(SAMPLES / "logs"), "--no-lake", "-q", "--config", _config(tmp_path, TYPO)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["bucketwatch detect: error: detections.rules.AWS.S3.ServerAcess.Error: no rule, scheduled rule "
                   "or correlation rule has this id; did you mean AWS.S3.ServerAccess.Error?"]


def test_an_id_far_from_every_rule_gets_no_suggestion(tmp_path, capsys):
    config = _config(tmp_path, "detections:\n  rules:\n    Completely.Different: {enabled: false}\n")
    assert main(["detect", str(SAMPLES / "logs"), "--no-lake", "-q", "--config", config]) == 2
    err = capsys.readouterr().err
    assert "detections.rules.Completely.Different: no rule" in err and "did you mean" not in err


def test_ids_of_packs_scheduled_rules_and_correlation_rules_are_known_to_detect(tmp_path, capsys):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "acme.yml").write_text("AnalysisType: rule\nRuleID: Acme.Rule\nFilename: acme.py\nLogTypes: [AWS.CloudTrail]\n"
                                   "Severity: Low\n")
    (pack / "acme.py").write_text("def rule(event):\n    return False\n")
    config = _config(tmp_path, "detections:\n  rules:\n"
                               "    Acme.Rule: {threshold: 2}\n"                            # from --rules
                               "    Bucketwatch.S3.BulkDeletionThenUpload: {severity: high}\n"  # a correlation rule
                               "    AWS.S3.LargeDownload: {enabled: false}\n")              # a scheduled rule
    assert main(["detect", str(SAMPLES / "logs"), "--no-lake", "-q", "--config", config, "--rules", str(pack)]) == 3
    # Without the pack its rule id is unknown.
    assert main(["detect", str(SAMPLES / "logs"), "--no-lake", "-q", "--config", config]) == 2
    assert "detections.rules.Acme.Rule: no rule" in capsys.readouterr().err


def test_schedule_run_rejects_a_misspelled_rule_id(tmp_path, capsys):
    code = main(["schedule", "run", "--lake", str(tmp_path / "lake"), "--state", str(tmp_path / "state.sqlite"),
                 "--config", _config(tmp_path, TYPO)])
    assert code == 2
    assert "did you mean AWS.S3.ServerAccess.Error?" in capsys.readouterr().err


def test_the_detector_lambda_rejects_a_misspelled_rule_id(tmp_path, monkeypatch):
    from detectors import handler

    monkeypatch.setenv("BUCKETWATCH_CONFIG", _config(tmp_path, TYPO))
    with pytest.raises(UserError, match=r"did you mean AWS\.S3\.ServerAccess\.Error\?"):
        handler._rules(handler.load_settings())


def _detect(tmp_path: Path, name: str, *extra: str) -> tuple[int, list[dict], int]:
    lake, alerts = tmp_path / name / "lake", tmp_path / name / "alerts.jsonl"
    code = main(["detect", str(SAMPLES / "logs"), "--config", str(SAMPLES / "bucketwatch.yml"), "--lake", str(lake),
                 "--alerts", str(alerts), "-q", *extra])
    rows = sum(open_lake(lake).execute(f"SELECT COUNT(*) FROM panther_rule_matches.{table}").fetchone()[0]
               for table in ("aws_s3serveraccess", "aws_cloudtrail"))
    written = [json.loads(line) for line in alerts.read_text().splitlines()] if alerts.exists() else []
    return code, written, rows


def test_min_severity_filters_alerts_and_the_exit_code_never_the_lake(tmp_path, capsys):
    _, every, every_rows = _detect(tmp_path, "all")
    capsys.readouterr()
    code, high, high_rows = _detect(tmp_path, "high", "--min-severity", "HIGH", "--fail-on-alert")
    err = capsys.readouterr().err
    expected = sorted(a["alert_id"] for a in every if a["severity"] in ("High", "Critical"))
    assert expected and sorted(a["alert_id"] for a in high) == expected
    assert code == 1  # findings: High alerts remain
    assert high_rows == every_rows  # every alert's rule matches are in the lake either way
    hidden = len(every) - len(expected)
    assert f"{len(expected)} alerts (" in err and f"; {hidden} below High not shown (--min-severity)" in err
    code, critical, _ = _detect(tmp_path, "critical", "--min-severity", "critical", "--fail-on-alert")
    assert (code, critical) == (3, [])  # nothing Critical: no findings, only the quarantined sample line


def test_a_bad_min_severity_is_one_line(tmp_path, capsys):
    assert main(["detect", str(SAMPLES / "logs"), "--no-lake", "-q", "--min-severity", "urgent"]) == 2
    assert capsys.readouterr().err.strip() == ("bucketwatch detect: error: --min-severity: severity must be one of "
                                               "info, low, medium, high, critical, got 'urgent'")


def test_the_detect_summary_counts_with_the_right_plurals(tmp_path, capsys):
    logs = tmp_path / "logs"
    logs.mkdir()
    first = min(p for p in (SAMPLES / "logs" / "s3-access").rglob("*") if p.is_file())
    (logs / first.name).write_text(first.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    main(["detect", str(logs), "--lake", str(tmp_path / "lake"), "-q"])
    err = capsys.readouterr().err
    assert "1 file; 1 record in = 1 row written + 0 duplicates skipped + 0 quarantined" in err, err
