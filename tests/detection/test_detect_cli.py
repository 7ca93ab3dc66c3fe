"""`bucketwatch detect` on the bundled samples raises exactly the alerts of their story
(detectors/samples/make_samples.py); the expected set below is written from that story."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bucketwatch.cli import main
from detectors.lake import open_lake
from detectors.lake.ingest import quarantine_entries

SAMPLES = Path(__file__).resolve().parents[2] / "detectors" / "samples"
ATTACKER = "arn:aws:iam::111122223333:user/leaked-ci"
TRAIL = "arn:aws:cloudtrail:us-east-1:111122223333:trail/bucketwatch-data-events"

# (rule id, dedup string) -> event count, from the story.
EXPECTED = {
    # 09:05 dev-debug reads finance-reports: not in its known-good list.
    ("AWS.S3.ServerAccess.UnknownRequester", "finance-reports:arn:aws:sts::111122223333:assumed-role/dev-debug/jane"): 1,
    # 09:08 legacy uploader over plain HTTP.
    ("AWS.S3.ServerAccess.Insecure", "web-assets:arn:aws:iam::111122223333:user/legacy-uploader"): 1,
    # 09:10 six denied GETs by the attacker; also from outside finance-reports' allowlist.
    ("AWS.S3.ServerAccess.Error", f"finance-reports:{ATTACKER}:AccessDenied"): 6,
    ("AWS.S3.ServerAccess.IPWhitelist", "finance-reports:185.220.101.4"): 6,
    # 09:30-09:34 blinding and exposing (CloudTrail management events).
    ("Bucketwatch.CloudTrail.LoggingTampered", f"{TRAIL}:{ATTACKER}"): 1,
    ("AWS.S3.DisableBucketLogging",
     f"Server access logging disabled on S3 bucket [customer-archive] by [{ATTACKER}]"): 1,
    ("AWS.S3.SuspendVersioning", f"Versioning suspended on S3 bucket [customer-archive] by [{ATTACKER}]"): 1,
    ("AWS.S3.DisableMfaDelete", f"MFA delete disabled on S3 bucket [customer-archive] by [{ATTACKER}]"): 1,
    ("AWS.S3.SecurityControlDisabling", f"customer-archive:{ATTACKER}"): 2,
    ("AWS.S3.DeletePublicAccessBlock",
     f"Public access block removed from S3 bucket [customer-archive] by [{ATTACKER}]"): 1,
    ("Bucketwatch.S3.BucketMadePublic", "customer-archive"): 1,
    ("AWS.CloudTrail.ResourceMadePublic", "s3.amazonaws.com:customer-archive"): 1,  # Panther's view of it
    ("AWS.S3.BucketPolicyModified", f"customer-archive:{ATTACKER}"): 1,
    # 09:40 120 downloads (threshold 100 in the samples' config).
    ("Bucketwatch.S3.MassGetObject", f"customer-archive:{ATTACKER}"): 120,
    # 10:00-10:08 ransomware: 60 SSE-C rewrites, a note, a multi-object delete.
    ("AWS.S3.CopyObjectWithClientSideEncryption", f"customer-archive:{ATTACKER}"): 60,
    ("AWS.S3.RansomwareNoteUpload", f"customer-archive:{ATTACKER}"): 1,
    ("AWS.S3.DeleteObjects", f"customer-archive:{ATTACKER}"): 1,
    # Every S3 call by the attacker on customer-archive from 185.220.101.4 between 09:31 and
    # 10:08: 4 bucket changes + 120 GETs + 60 copies + 1 note + 1 delete.
    ("AWS.S3.ServerAccess.IPWhitelist", "customer-archive:185.220.101.4"): 186,
}


@pytest.fixture(scope="module")
def detected(tmp_path_factory):
    out = tmp_path_factory.mktemp("detect")
    code = main(["detect", str(SAMPLES / "logs"), "--config", str(SAMPLES / "bucketwatch.yml"),
                 "--lake", str(out / "lake"), "--alerts", str(out / "alerts.jsonl"), "--quiet"])
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    return code, alerts, out / "lake"


def test_exactly_the_story_alerts(detected):
    code, alerts, _ = detected
    assert code == 3  # completed; the samples' one truncated access-log line was quarantined
    assert {(a["rule_id"], a["dedup"]): a["event_count"] for a in alerts} == EXPECTED
    assert len(alerts) == len(EXPECTED)
    assert all(a["status"] == "created" and a["kind"] == "detection" for a in alerts)


def test_alert_fields(detected):
    _, alerts, _ = detected
    mass = next(a for a in alerts if a["rule_id"] == "Bucketwatch.S3.MassGetObject")
    assert (mass["severity"], mass["threshold"]) == ("High", 100)
    assert (mass["first_seen"], mass["last_seen"]) == ("2024-05-14T09:40:00Z", "2024-05-14T09:47:56Z")
    assert len(mass["samples"]) == 5 and mass["samples"][0]["requester"] == ATTACKER
    assert mass["context"]["bucket"] == "customer-archive" and mass["runbook"]
    controls = next(a for a in alerts if a["rule_id"] == "AWS.S3.SecurityControlDisabling")
    assert controls["unique_values"] == ["logging", "versioning+mfa_delete"]


def test_lake_holds_logs_and_rule_matches(detected):
    _, _, lake = detected
    matches = pq.read_table(lake / "panther_rule_matches" / "aws_cloudtrail").to_pylist()
    sse_c = [m for m in matches if m["p_rule_id"] == "AWS.S3.CopyObjectWithClientSideEncryption"]
    assert len(sse_c) == 60 and len({m["p_alert_id"] for m in sse_c}) == 1
    assert sse_c[0]["p_rule_severity"] == "Medium" and "Ransomware" in sse_c[0]["p_rule_tags"]
    assert sse_c[0]["p_alert_creation_time"] is not None and sse_c[0]["eventName"] == "CopyObject"
    access = pq.read_table(lake / "panther_rule_matches" / "aws_s3serveraccess").to_pylist()
    assert sum(m["p_rule_id"] == "Bucketwatch.S3.MassGetObject" for m in access) == 120
    logs = pq.read_table(lake / "panther_logs" / "aws_s3serveraccess")
    assert logs.num_rows == 38 + 22 + 131  # finance + web + archive lines; one truncated line quarantined
    (entry,) = quarantine_entries(lake)
    assert entry["source"].endswith("customer-archive/2024-05-14-11-00-00-A7B3C9D1E5F20468")
    assert entry["raw"].endswith(" customer-archive") and entry["reason"].startswith("truncated")


def test_without_config_the_configured_detections_stay_off(tmp_path, capsys):
    code = main(["detect", str(SAMPLES / "logs"), "--no-lake", "--alerts", str(tmp_path / "a.jsonl"),
                 "--fail-on-alert"])
    rules = {json.loads(line)["rule_id"] for line in (tmp_path / "a.jsonl").read_text().splitlines()}
    assert code == 1  # findings: alerts with --fail-on-alert (before the quarantined line's 3)
    assert "AWS.S3.ServerAccess.UnknownRequester" not in rules and "AWS.S3.ServerAccess.IPWhitelist" not in rules
    assert "Bucketwatch.S3.MassGetObject" not in rules  # 120 < the default threshold of 500
    out = capsys.readouterr()
    assert "[HIGH    ] Bucketwatch.S3.BucketMadePublic" in out.out
    assert "1 quarantined" in out.err


def test_a_user_pack_overrides_a_builtin_rule_and_adds_its_own(tmp_path):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "quiet.py").write_text("def rule(event):\n    return False\n")
    (pack / "quiet.yml").write_text("AnalysisType: rule\nFilename: quiet.py\nRuleID: Bucketwatch.S3.BucketMadePublic\n"
                                    "LogTypes: [AWS.CloudTrail]\nSeverity: High\nEnabled: true\n")
    (pack / "mine.py").write_text("from panther_base_helpers import deep_get\n\n"
                                  "def rule(event):\n    return deep_get(event, 'userIdentity', 'type') == 'IAMUser'"
                                  " and event.udm('actor_user') == 'leaked-ci'\n")
    (pack / "mine.yml").write_text("AnalysisType: rule\nFilename: mine.py\nRuleID: Acme.LeakedCI\n"
                                   "LogTypes: [AWS.CloudTrail]\nSeverity: Critical\nEnabled: true\n")
    code = main(["detect", str(SAMPLES / "logs"), "--no-lake", "--quiet", "--rules", str(pack),
                 "--alerts", str(tmp_path / "a.jsonl")])
    alerts = {json.loads(line)["rule_id"]: json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()}
    assert code == 3
    assert "Bucketwatch.S3.BucketMadePublic" not in alerts
    assert alerts["Acme.LeakedCI"]["severity"] == "Critical" and alerts["Acme.LeakedCI"]["event_count"] == 67


def test_state_file_counts_each_event_once_across_runs(tmp_path):
    """The same logs again change no count (exactly once); new events update the same alerts."""
    trail = next((SAMPLES / "logs" / "cloudtrail").rglob("*.json.gz"))
    state = str(tmp_path / "s.sqlite")

    def run(folder, name):
        main(["detect", str(folder), "--no-lake", "--quiet", "--state", state, "--alerts", str(tmp_path / name)])
        return [json.loads(x) for x in (tmp_path / name).read_text().splitlines()]

    first = run(trail, "first.jsonl")
    assert first and {a["status"] for a in first} == {"created"}
    assert run(trail, "again.jsonl") == []  # the same records: already counted
    records = json.loads(gzip.decompress(trail.read_bytes()))["Records"]
    more = tmp_path / "more" / trail.name
    more.parent.mkdir()
    more.write_bytes(gzip.compress(json.dumps({"Records": [dict(r, eventID=f"{r.get('eventID')}-2")
                                                          for r in records]}).encode()))
    second = run(more, "second.jsonl")
    assert {a["status"] for a in second} == {"updated"}
    assert {a["alert_id"] for a in first} == {a["alert_id"] for a in second}
    by_id = {a["alert_id"]: a["event_count"] for a in first}
    assert all(a["event_count"] == 2 * by_id[a["alert_id"]] for a in second)


def test_no_lake_writes_nothing_into_the_lake(tmp_path):
    lake = tmp_path / "lake"
    code = main(["detect", str(SAMPLES / "logs"), "--no-lake", "--lake", str(lake), "--quiet",
                 "--quarantine", str(tmp_path / "q.jsonl")])
    assert code == 3 and not lake.exists()
    assert len((tmp_path / "q.jsonl").read_text().splitlines()) == 1


def test_detect_again_writes_no_duplicate_rows(tmp_path, capsys):
    lake = tmp_path / "lake"
    args = ["detect", str(SAMPLES / "logs"), "--lake", str(lake), "--quiet"]
    main(args)
    first = capsys.readouterr().err
    assert "records in = 267 rows written + 0 duplicates skipped + 1 quarantined" in first
    main(args)
    again = capsys.readouterr().err
    assert "records in = 0 rows written + 267 duplicates skipped + 1 quarantined" in again
    con = open_lake(lake)
    for table in ("aws_s3serveraccess", "aws_cloudtrail"):
        count, distinct = con.execute(f"SELECT count(*), count(DISTINCT p_row_id) FROM panther_logs.{table}").fetchone()
        assert count == distinct
    assert sum(con.execute(f"SELECT count(*) FROM panther_logs.{t}").fetchone()[0]
               for t in ("aws_s3serveraccess", "aws_cloudtrail")) == 267
    assert len(list(quarantine_entries(lake))) == 1


def test_detect_with_workers_raises_the_same_alerts_and_writes_the_same_lake(tmp_path, detected):
    lake = detected[2]
    code = main(["detect", str(SAMPLES / "logs"), "--config", str(SAMPLES / "bucketwatch.yml"), "--workers", "2",
                 "--lake", str(tmp_path / "lake"), "--alerts", str(tmp_path / "alerts.jsonl"), "--quiet"])
    again = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert code == 3
    assert {(a["rule_id"], a["dedup"]): a["event_count"] for a in again} == EXPECTED
    sql = "SELECT p_row_id FROM panther_logs.{} ORDER BY 1"
    for table in ("aws_s3serveraccess", "aws_cloudtrail"):
        assert open_lake(tmp_path / "lake").execute(sql.format(table)).fetchall() == \
            open_lake(lake).execute(sql.format(table)).fetchall()
    assert len(list(quarantine_entries(tmp_path / "lake"))) == 1
