"""`bucketwatch detect` on the bundled samples raises exactly the alerts of their story
(detectors/samples/make_samples.py); the expected set below is written from that story."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bucketwatch.cli import main

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
    assert code == 0
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
    quarantine = (lake / "_quarantine" / "quarantine.jsonl").read_text().splitlines()
    assert len(quarantine) == 1


def test_without_config_the_configured_detections_stay_off(tmp_path, capsys):
    code = main(["detect", str(SAMPLES / "logs"), "--no-lake", "--alerts", str(tmp_path / "a.jsonl"),
                 "--fail-on-alert"])
    rules = {json.loads(line)["rule_id"] for line in (tmp_path / "a.jsonl").read_text().splitlines()}
    assert code == 3
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
    assert code == 0
    assert "Bucketwatch.S3.BucketMadePublic" not in alerts
    assert alerts["Acme.LeakedCI"]["severity"] == "Critical" and alerts["Acme.LeakedCI"]["event_count"] == 67


def test_state_file_carries_alerts_across_runs(tmp_path):
    args = [str(SAMPLES / "logs" / "cloudtrail"), "--no-lake", "--quiet", "--state", str(tmp_path / "s.sqlite")]
    main(["detect", *args, "--alerts", str(tmp_path / "first.jsonl")])
    main(["detect", *args, "--alerts", str(tmp_path / "second.jsonl")])
    first = [json.loads(x) for x in (tmp_path / "first.jsonl").read_text().splitlines()]
    second = [json.loads(x) for x in (tmp_path / "second.jsonl").read_text().splitlines()]
    assert {a["status"] for a in first} == {"created"} and {a["status"] for a in second} == {"updated"}
    assert {a["alert_id"] for a in first} == {a["alert_id"] for a in second}
