"""`bucketwatch report`: the HTML report from a real lake, opened in headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bucketwatch.reporting.lake import lake_row_event, load_report
from detectors.lake import LakeWriter
from detectors.schema import DB_BUCKETWATCH, LOG_TYPE_CLOUDTRAIL
from policies.posture_handler import FINDINGS_TABLE, findings_table
from policies.registry import load_policies
from policies.runner import Finding, ResourceRef

from .chromium import chromium_binary, inspect_page

SAMPLES = Path(__file__).resolve().parents[2] / "detectors" / "samples" / "logs"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bucketwatch", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _findings(account: str, bucket: str) -> list[Finding]:
    policy = next(p for p in load_policies() if p.id == "BW.S3.PublicRead")
    ref = ResourceRef(id=f"arn:aws:s3:::{bucket}", source="live", name=bucket, arn=f"arn:aws:s3:::{bucket}",
                      region="eu-west-1", account=account)
    return [Finding(policy, ref, "FAIL", "the ACL grants READ to AllUsers", verdict="FAIL")]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    result = _cli("detect", str(SAMPLES), "--lake", "lake", "-q", cwd=root)
    assert result.returncode in (0, 3), result.stderr
    writer = LakeWriter(root / "lake")
    scans = [("scan-old", datetime(2024, 5, 13, tzinfo=UTC), "old-bucket"),
             ("scan-new", datetime(2024, 5, 14, tzinfo=UTC), "world-readable")]
    for scan_id, when, bucket in scans:
        writer.write(DB_BUCKETWATCH, FINDINGS_TABLE, findings_table(_findings("222222222222", bucket), scan_id, when),
                     time_column="scan_time")
    return root / "lake"


def test_alerts_come_back_with_the_rule_title_context_and_samples(lake: Path) -> None:
    report = load_report(lake)
    by_rule = {a["rule_id"]: a for a in report.alerts}
    made_public = by_rule["Bucketwatch.S3.BucketMadePublic"]
    assert made_public["title"].startswith("S3 bucket [customer-archive] made public")
    assert made_public["runbook"] and made_public["context"]["bucketName"] == "customer-archive"
    assert made_public["account_id"] == "111122223333"
    sample = made_public["samples"][0]
    assert sample["eventName"] == "PutBucketPolicy" and isinstance(sample["userIdentity"], dict)
    # Only the latest scan of the account is shown.
    assert [r["resource"] for r in report.posture] == ["arn:aws:s3:::world-readable"]
    assert report.posture[0]["account_id"] == "222222222222"


def test_report_renders_in_headless_chromium(lake: Path, tmp_path: Path) -> None:
    binary = chromium_binary()
    assert binary, "headless Chromium is needed: apt-get update && apt-get install -y chromium"
    out = tmp_path / "report.html"
    result = _cli("report", "--lake", str(lake), "--output", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # One failure: only the latest scan of the account counts (counted in the singular).
    assert f"bucketwatch report: {len(load_report(lake).alerts)} alerts, 1 posture failure ->" in result.stderr
    probe = """JSON.stringify({
      accounts: Array.from(document.querySelectorAll('#accounts td code')).map(c => c.textContent),
      bars: document.querySelectorAll('#alerts-over-time rect.bar').length,
      details: Array.from(document.querySelectorAll('#alerts details')).map(d => d.textContent),
      failures: Array.from(document.querySelectorAll('#posture-by-bucket td code')).map(c => c.textContent)})"""
    page = inspect_page(out, probe)
    assert page.errors == []
    seen = json.loads(page.value)
    # Worst first: three High alerts outweigh one High failure, which outweighs Low and Info alerts.
    assert seen["accounts"] == ["111122223333", "222222222222", "(account unknown)"]
    assert seen["bars"] > 0
    assert any("Runbook" in d and "Sample events" in d for d in seen["details"])
    assert "BW.S3.PublicRead" in seen["failures"]


def test_a_mistyped_lake_is_an_error(tmp_path: Path) -> None:
    result = _cli("report", "--lake", str(tmp_path / "typo"), cwd=tmp_path)
    assert result.returncode == 2
    assert "lake not found" in result.stderr and "Traceback" not in result.stderr


def test_lake_rows_become_the_events_rules_saw() -> None:
    row = {"eventName": "PutBucketPolicy", "userIdentity": '{"type": "IAMUser"}', "requestParameters": "not json",
           "additionalFields": '{"newField": 1}', "p_rule_id": "X", "year": 2024, "errorCode": None,
           "p_event_time": datetime(2024, 5, 14, 9, 30)}
    assert lake_row_event(LOG_TYPE_CLOUDTRAIL, row) == {
        "eventName": "PutBucketPolicy", "userIdentity": {"type": "IAMUser"}, "requestParameters": "not json",
        "newField": 1, "p_event_time": "2024-05-14 09:30:00.000000000"}


def test_min_severity_leaves_out_lower_alerts_and_posture_results(lake: Path, tmp_path: Path) -> None:
    every = _cli("report", "--lake", str(lake), "--output", str(tmp_path / "all.html"), cwd=tmp_path)
    high = _cli("report", "--lake", str(lake), "--output", str(tmp_path / "high.html"), "--min-severity", "high",
                cwd=tmp_path)
    assert every.returncode == high.returncode == 0, high.stderr
    severities = {a["severity"] for a in load_report(lake).alerts}
    assert {"High", "Info"} <= severities  # the samples have both, so the filter has something to leave out
    high_alerts = sum(1 for a in load_report(lake).alerts if a["severity"] in ("High", "Critical"))
    assert f"bucketwatch report: {high_alerts} alerts, 1 posture failure ->" in high.stderr
    page = (tmp_path / "high.html").read_text()
    assert "High and above" in page and "BW.S3.PublicRead" in page  # the High failure stays
    assert "AWS.S3.ServerAccess.Error" in (tmp_path / "all.html").read_text()
    assert "AWS.S3.ServerAccess.Error" not in page  # an Info alert
