"""`bucketwatch schedule run` end to end: generated CloudTrail -> `detect` writes rule matches ->
the scheduler runs the due queries, scheduled rules and correlation rules, keeps its state, and
a second run with nothing new raises nothing new."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cloudtrail_events import identity, s3_event, utc, write_trail_file

from bucketwatch.cli import main
from detectors.scheduled.state import SQLiteStateStore

T0 = utc("2024-05-14T10:00:00Z")
MB = 1024 * 1024
ATTACKER = identity("IAMUser", "leaked-ci")
APP = identity("AssumedRole", "customer-api")


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def attack():
    """Object-by-object deletion then a note with an ordinary name; a one-request delete then a
    note on another bucket; an application uploading as usual; a 2 GiB download."""
    records = [s3_event("DeleteObject", ATTACKER, "customer-archive", f"db/{i:03d}.sql.gz", at(i * 0.1))
               for i in range(51)]
    records.append(s3_event("PutObject", ATTACKER, "customer-archive", "please-read.md", at(7)))
    records.append(s3_event("DeleteObjects", ATTACKER, "finance-reports", "", at(8)))
    records.append(s3_event("PutObject", ATTACKER, "finance-reports", "INFO.txt", at(9)))
    records += [s3_event("PutObject", APP, "customer-archive", f"orders/{i}.json", at(12 + i)) for i in range(3)]
    records += [s3_event("GetObject", ATTACKER, "customer-archive", f"export/{i}.tar", at(14 + i),
                         ip="198.51.100.66", bytes_out=512 * MB) for i in range(4)]
    return records


def write_and_detect(root, records, name):
    write_trail_file(root / name, records, records[0] and utc(records[0]["eventTime"]))
    code = main(["detect", str(root / name), "--lake", str(root / "lake"), "--state", str(root / "state.sqlite"),
                 "-q"])
    assert code == 0


def schedule(root, now, *extra):
    return main(["schedule", "run", "--lake", str(root / "lake"), "--state", str(root / "state.sqlite"),
                 "--now", now, "--alerts", str(root / "alerts.jsonl"), *extra])


def alerts(root):
    path = root / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def lake(tmp_path):
    write_and_detect(tmp_path, attack(), "logs-1")
    return tmp_path


def test_correlations_and_large_download_alert_once(lake, capsys):
    assert schedule(lake, "2024-05-14T10:30:00Z", "--since", "2024-05-14T09:30:00Z") == 0
    raised = {a["rule_id"]: a for a in alerts(lake)}
    assert set(raised) == {"Bucketwatch.S3.BulkDeletionThenUpload", "Bucketwatch.S3.MultiObjectDeleteThenUpload",
                           "AWS.S3.LargeDownload"}
    bulk = raised["Bucketwatch.S3.BulkDeletionThenUpload"]
    assert bulk["severity"] == "High"
    assert bulk["context"]["match"] == {"p_alert_context.bucketName": "customer-archive",
                                        "p_alert_context.principal": ATTACKER["arn"]}
    steps = {s["id"]: s for s in bulk["context"]["steps"]}
    assert steps["Upload"]["last_seen"] == "2024-05-14T10:07:00Z" and steps["Mass Deletion"]["matches"] >= 1
    multi = raised["Bucketwatch.S3.MultiObjectDeleteThenUpload"]
    assert multi["severity"] == "Medium" and "finance-reports" in multi["title"]
    download = raised["AWS.S3.LargeDownload"]
    assert download["severity"] == "High" and download["context"]["total_bytes_downloaded"] == 2048 * MB
    out = capsys.readouterr()
    assert "3 new alerts" in out.err and "[HIGH    ] Bucketwatch.S3.BulkDeletionThenUpload" in out.out

    # Again at the same time: nothing new. (Only the daily baseline query runs: its tick, 00:15,
    # was before --since, so it had not run yet.)
    assert schedule(lake, "2024-05-14T10:30:00Z") == 0
    assert len(alerts(lake)) == 3
    assert "1 query run (0 rows), 0 correlation runs (0 matches); 0 new alerts" in capsys.readouterr().err
    # Later, with no new logs: the queries and rules run again, over the same matches.
    assert schedule(lake, "2024-05-14T10:50:00Z", "--fail-on-alert") == 0
    assert len(alerts(lake)) == 3
    err = capsys.readouterr().err
    assert "2 query runs" in err and "0 new alerts" in err


def test_a_new_upload_updates_the_open_correlation_alert(lake, capsys):
    assert schedule(lake, "2024-05-14T10:30:00Z", "--since", "2024-05-14T09:30:00Z", "--only",
                    "Bucketwatch.S3.BulkDeletionThenUpload") == 0
    assert [a["rule_id"] for a in alerts(lake)] == ["Bucketwatch.S3.BulkDeletionThenUpload"]
    write_and_detect(lake, [s3_event("PutObject", ATTACKER, "customer-archive", "second-note.html", at(40))],
                     "logs-2")
    capsys.readouterr()
    assert schedule(lake, "2024-05-14T10:45:00Z", "--only", "Bucketwatch.S3.BulkDeletionThenUpload") == 0
    assert len(alerts(lake)) == 1  # within the alert's dedup period: the same alert, updated
    assert "0 new alerts, 1 updated" in capsys.readouterr().err


def test_state_records_runs_and_correlation_progress(lake):
    assert schedule(lake, "2024-05-14T10:30:00Z", "--since", "2024-05-14T10:00:00Z") == 0
    state = SQLiteStateStore(lake / "state.sqlite")
    doc, version = state.get("schedule#query#AWS S3 Large Download")
    assert doc == {"last_run": utc("2024-05-14T10:30:00Z").timestamp()} and version == 3  # 10:10, 10:20, 10:30
    progress, _ = state.get('correlation#Bucketwatch.S3.BulkDeletionThenUpload#["customer-archive", '
                            f'"{ATTACKER["arn"]}"]')
    assert progress == {"alerted_through": at(7).timestamp()}


def test_a_failing_query_is_reported_and_retried(lake, tmp_path, capsys):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "q.yml").write_text(
        "AnalysisType: scheduled_query\nQueryName: Broken\nEnabled: true\n"
        "Query: SELECT no_such_column FROM panther_logs.public.aws_cloudtrail\n"
        "ResultTable: bucketwatch.broken\nSchedule: {RateMinutes: 60, TimeoutMinutes: 1}\n")
    args = ["--rules", str(pack), "--only", "Broken"]
    assert schedule(lake, "2024-05-14T10:30:00Z", *args) == 2  # not everything ran (exitcodes.UNUSABLE)
    err = capsys.readouterr().err
    assert "error: query 'Broken' at 2024-05-14T10:00:00Z:" in err and "no_such_column" in err
    assert main(["schedule", "list", "--lake", str(lake / "lake"), "--state", str(lake / "state.sqlite"),
                 "--rules", str(pack), "--now", "2024-05-14T10:30:00Z"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "Broken" in x)
    assert "never" in line and "bucketwatch.broken" in line


def test_unknown_only_name_is_a_one_line_error(lake, capsys):
    assert schedule(lake, "2024-05-14T10:30:00Z", "--only", "Nope") == 2
    assert "nothing scheduled is called 'Nope'" in capsys.readouterr().err


def test_a_state_file_that_is_not_sqlite_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "state.sqlite").write_text("not a database")
    assert main(["schedule", "run", "--lake", str(tmp_path / "lake"), "--state", str(tmp_path / "state.sqlite")]) == 2
    assert "state file" in capsys.readouterr().err


def test_rows_a_rule_cannot_describe_are_reported(lake, tmp_path, capsys):
    """A correlation over a pack's rule whose alert_context raises: the rows are skipped and
    counted in a warning, the run goes on."""
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "boom.py").write_text("def rule(event):\n    return event.get('eventName') == 'DeleteObject'\n"
                                  "def alert_context(event):\n    raise KeyError('no context')\n")
    (pack / "boom.yml").write_text("AnalysisType: rule\nFilename: boom.py\nRuleID: Acme.Boom\nEnabled: true\n"
                                   "Severity: Info\nLogTypes: [AWS.CloudTrail]\nCreateAlert: false\n")
    (pack / "corr.yml").write_text(
        "AnalysisType: correlation_rule\nRuleID: Acme.Corr\nEnabled: true\nSeverity: High\nDetection:\n"
        "  - Group:\n      - {ID: A, RuleID: Acme.Boom}\n    MatchCriteria:\n      b:\n"
        "        - {GroupID: A, Match: p_alert_context.bucketName}\n    LookbackWindowMinutes: 60\n"
        "    Schedule: {RateMinutes: 30, TimeoutMinutes: 5}\n")
    write_and_detect(lake, [s3_event("DeleteObject", ATTACKER, "web-assets", "x", at(20))], "logs-3")
    assert main(["detect", str(lake / "logs-3"), "--lake", str(lake / "lake"), "--rules", str(pack), "-q"]) == 0
    capsys.readouterr()
    assert schedule(lake, "2024-05-14T10:30:00Z", "--rules", str(pack), "--only", "Acme.Corr") == 0
    err = capsys.readouterr().err
    assert "warning: correlation 'Acme.Corr': rule Acme.Boom alert_context raised KeyError (1 rule-match row(s) " \
           "skipped)" in err
