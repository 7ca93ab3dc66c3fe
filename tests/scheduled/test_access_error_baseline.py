"""Item 5 of issue 12: the tutorial's error search as a scheduled query whose result gives
AccessError (AWS.S3.ServerAccess.Error) a per-bucket baseline. A role that gets AccessDenied on
the same bucket every day stops alerting every three hours; a newcomer, or a one-day burst,
still alerts at the rule's own threshold; the habitual role alerts again when it doubles."""

from __future__ import annotations

import json
from datetime import timedelta

from access_log_events import access_line, write_access_log
from cloudtrail_events import utc

from bucketwatch.cli import main
from detectors.scheduled.results import read_result_table

BUCKET = "finance-reports"
ETL = "arn:aws:sts::111122223333:assumed-role/etl/nightly"
PROBER = "arn:aws:iam::111122223333:user/prober"
NEWCOMER = "arn:aws:iam::111122223333:user/newcomer"
DAY8 = utc("2024-05-14T00:00:00Z")


def denied(when, who, ip="10.0.4.7", n=0):
    return when, access_line(when, BUCKET, who, ip, key=f"reports/{n}.csv", status=403, error="AccessDenied")


def history():
    """7 days: the ETL role denied 10 times an hour from 09:00 to 10:59 every day; the prober
    denied 50 times on one day only; normal reads in between."""
    lines = []
    for day in range(7, 14):
        start = utc(f"2024-05-{day:02d}T09:00:00Z")
        lines += [denied(start + timedelta(minutes=6 * i), ETL, n=i) for i in range(20)]
        lines += [(start, access_line(start + timedelta(minutes=30), BUCKET, ETL, "10.0.4.7"))]
    burst = utc("2024-05-12T15:00:00Z")
    lines += [denied(burst + timedelta(seconds=10 * i), PROBER, "203.0.113.9", i) for i in range(50)]
    return lines


def today(etl_errors, start="2024-05-14T09:00:00Z", spacing_s=240):
    first = utc(start)
    lines = [denied(first + timedelta(seconds=spacing_s * i), ETL, n=i) for i in range(etl_errors)]
    lines += [denied(first + timedelta(minutes=1, seconds=i), NEWCOMER, "198.51.100.8", i) for i in range(6)]
    lines += [denied(first + timedelta(minutes=2, seconds=i), PROBER, "203.0.113.9", i) for i in range(6)]
    return lines


def access_error_alerts(path):
    return {json.loads(line)["dedup"]: json.loads(line) for line in path.read_text().splitlines()
            if json.loads(line)["rule_id"] == "AWS.S3.ServerAccess.Error"} if path.exists() else {}


def test_baseline_query_result_and_thresholds(tmp_path, capsys):
    lake, state = tmp_path / "lake", tmp_path / "state.sqlite"
    write_access_log(tmp_path / "history", BUCKET, history(), "2024-05-13-23-59-59-A1B2C3D4E5F60718")
    assert main(["ingest", str(tmp_path / "history"), "--lake", str(lake)]) == 0
    assert main(["schedule", "run", "--lake", str(lake), "--state", str(state), "--now", "2024-05-14T00:20:00Z",
                 "--only", "Bucketwatch S3 Access Error Baseline"]) == 0
    rows = {(r["requester"], r["errorcode"]): r for r in read_result_table(lake, "bucketwatch", "access_error_baseline")}
    # Counted here from the generator: the ETL role 20 a day on 7 days in 14 hours; the prober 50 on 1 day.
    assert rows[(ETL, "AccessDenied")] == {"bucket": BUCKET, "requester": ETL, "httpstatus": 403,
                                           "errorcode": "AccessDenied", "err_count": 140,
                                           "days_with_errors": 7, "hours_with_errors": 14}
    assert rows[(PROBER, "AccessDenied")]["days_with_errors"] == 1 and len(rows) == 2
    capsys.readouterr()

    # Today: 25 ETL errors within 3 hours (its usual: 10 an active hour, 30 per 3-hour window:
    # threshold 60), 6 from a newcomer, 6 from the prober.
    write_access_log(tmp_path / "today", BUCKET, today(25), "2024-05-14-12-00-00-0A1B2C3D4E5F6071")
    assert main(["detect", str(tmp_path / "today"), "--lake", str(lake), "--alerts", str(tmp_path / "a.jsonl"),
                 "-q"]) == 0
    assert "baseline thresholds for 1 alert group" in capsys.readouterr().err
    raised = access_error_alerts(tmp_path / "a.jsonl")
    assert set(raised) == {f"{BUCKET}:{NEWCOMER}:AccessDenied", f"{BUCKET}:{PROBER}:AccessDenied"}

    # The same day without the baseline: the ETL role alerts too (the rule's Threshold is 5).
    assert main(["detect", str(tmp_path / "today"), "--lake", str(tmp_path / "fresh-lake"),
                 "--alerts", str(tmp_path / "b.jsonl"), "-q"]) == 0
    assert f"{BUCKET}:{ETL}:AccessDenied" in access_error_alerts(tmp_path / "b.jsonl")

    # The habit doubles (61 within two hours): it alerts, and says at what threshold.
    write_access_log(tmp_path / "later", BUCKET, today(61, "2024-05-14T12:00:00Z", spacing_s=120)[:61],
                     "2024-05-14-17-00-00-0A1B2C3D4E5F6072")
    assert main(["detect", str(tmp_path / "later"), "--lake", str(lake), "--alerts", str(tmp_path / "c.jsonl"),
                 "-q"]) == 0
    etl = access_error_alerts(tmp_path / "c.jsonl")[f"{BUCKET}:{ETL}:AccessDenied"]
    assert etl["event_count"] == 61 and etl["context"]["baseline_threshold"] == 60
