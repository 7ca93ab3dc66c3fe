"""The whole demo, end to end on its own moto server: exact alerts, exact posture failures,
every line accounted for, the tutorial query's answer, and the HTML report in Chromium.

Expectations come from the story's design (bucketwatch/demo/story.py and docs/demo.md) and the
rules' documented thresholds and dedup periods, not from a previous run's output.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from pathlib import Path

import pytest

from bucketwatch.cli import main as cli_main
from bucketwatch.demo.account import ANALYTICS, BACKUPS, CUSTOMER_DATA, DEV_SCRATCH, SHARED_REPORTS, DemoNames
from bucketwatch.demo.report import NEXT_STEPS, DemoResult, alert_rule, render_text, resource_name
from bucketwatch.demo.run import TUTORIAL_SQL, DemoOptions, run_demo
from bucketwatch.demo.story import ATTACKER_IP, UNKNOWN_ROLE_IP, build_story

from .chromium import chromium_binary, inspect_page

# One demo run serves every test here: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("demo-end-to-end")

NAMES = DemoNames()
ACCESS_LOGS, TRAIL_BUCKET, PROCESSED = NAMES.access_log_bucket, NAMES.trail_bucket, NAMES.processed_bucket
TRAIL = f"trail/{NAMES.trail_name}"

EXPECTED_ALERTS = {
    # 10:05-10:20: ten anonymous object guesses per bucket, all 403, on four buckets; the rule
    # alerts from 5 errors per (bucket, requester, code). The BI job's two bursts of three 403s
    # are four hours apart, beyond the 180-minute dedup period: no alert.
    "AWS.S3.ServerAccess.Error": 4,
    # Outside addresses on the allowlisted buckets (customer data, backups; 10.0.0.0/8 only):
    # the scanner on each of them, the contractor role's address, and the stolen keys' address
    # again on the backups from 12:00 (CloudTrail), more than the 60-minute dedup period later.
    "AWS.S3.ServerAccess.IPWhitelist": 4,
    # 10:40 on acme-shared-reports: PAB deleted, then policy and ACL made public (one bucket,
    # one actor: one alert each).
    "AWS.S3.DeletePublicAccessBlock": 1,
    "Bucketwatch.S3.BucketMadePublic": 1,
    "AWS.CloudTrail.ResourceMadePublic": 1,  # Panther's multi-service rule sees the policy too
    "AWS.S3.BucketPolicyModified": 1,
    # 10:50-11:10: anonymous downloads over plain HTTP.
    "AWS.S3.ServerAccess.Insecure": 1,
    # 11:30-11:45: contractor-sandbox reads customer data (only customer-api is known good).
    "AWS.S3.ServerAccess.UnknownRequester": 1,
    # 12:00-12:01 on acme-backups: logging off, versioning suspended: two controls, one actor.
    "AWS.S3.DisableBucketLogging": 1,
    "AWS.S3.SuspendVersioning": 1,
    "AWS.S3.SecurityControlDisabling": 1,
    # 12:10-12:40: 120 SSE-C rewrites and 120 deletions (thresholds 50), one ransom note.
    "AWS.S3.CopyObjectWithClientSideEncryption": 1,
    "AWS.S3.RansomwareNoteUpload": 1,
    "AWS.S3.DeleteObject": 1,
    # 12:45: the trail is stopped.
    "Bucketwatch.CloudTrail.LoggingTampered": 1,
}

ALL_BUCKETS = (*NAMES.app_buckets, ACCESS_LOGS, TRAIL_BUCKET, PROCESSED)
EXPECTED_FAILURES = {
    # Every bucket shares one root cause: the account has no account-level Block Public Access,
    # which is also what let the attacker publish a bucket. One finding, on the account.
    (f"AWS::::Account:{NAMES.account_id}", "BW.S3.AccountPublicAccessBlock"),
    # Made public by the attacker: no PAB, public policy (replacing the TLS-only one), public ACL,
    # and ACLs were never disabled on it.
    (SHARED_REPORTS, "BW.S3.PublicAccessBlock"),
    (SHARED_REPORTS, "BW.S3.PublicAccessBlockAll"),
    (SHARED_REPORTS, "BW.S3.PrincipalRestrictions"),
    (SHARED_REPORTS, "BW.S3.PublicRead"),
    (SHARED_REPORTS, "BW.S3.SecureAccess"),
    (SHARED_REPORTS, "BW.S3.AclsDisabled"),
    # Ransomware target: logging off and versioning suspended by the attacker, no Object Lock,
    # and with the trail stopped nothing records its data events any more.
    (BACKUPS, "BW.S3.Logging"),
    (BACKUPS, "BW.S3.Versioning"),
    (BACKUPS, "BW.S3.ObjectLock"),
    (BACKUPS, "BW.S3.MonitoringCoverage"),
    # Acceptable but unversioned, SSE-S3, ACLs on, reachable over HTTP, no lifecycle.
    (ANALYTICS, "BW.S3.AclsDisabled"),
    (ANALYTICS, "BW.S3.EncryptionKMS"),
    (ANALYTICS, "BW.S3.LifecycleConfiguration"),
    (ANALYTICS, "BW.S3.SecureAccess"),
    (ANALYTICS, "BW.S3.Versioning"),
    # Careless from the start: nothing configured at all.
    *((DEV_SCRATCH, policy) for policy in (
        "BW.S3.AclsDisabled", "BW.S3.Encryption", "BW.S3.EncryptionKMS", "BW.S3.LifecycleConfiguration",
        "BW.S3.Logging", "BW.S3.MonitoringCoverage", "BW.S3.PublicAccessBlock", "BW.S3.PublicAccessBlockAll",
        "BW.S3.SecureAccess", "BW.S3.Versioning")),
    # The trail: stopped by the attacker, and records write data events only (reads are covered
    # by server access logs, a cost choice the policy rightly flags).
    (TRAIL, "BW.CloudTrail.Logging"),
    (TRAIL, "BW.CloudTrail.S3DataEvents"),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    out = tmp_path_factory.mktemp("demo")
    return run_demo(DemoOptions(out_dir=out, quiet=True, progress=False))


def test_exactly_the_alerts_the_story_implies(demo: DemoResult) -> None:
    assert all(a["kind"] == "detection" and a["status"] == "created" for a in demo.alerts)
    assert dict(Counter(alert_rule(a) for a in demo.alerts)) == EXPECTED_ALERTS
    ip_alerts = sorted(a["dedup"] for a in demo.alerts if a["rule_id"] == "AWS.S3.ServerAccess.IPWhitelist")
    assert ip_alerts == sorted([f"{CUSTOMER_DATA}:{ATTACKER_IP}", f"{BACKUPS}:{ATTACKER_IP}",
                                f"{BACKUPS}:{ATTACKER_IP}", f"{CUSTOMER_DATA}:{UNKNOWN_ROLE_IP}"])
    counts = {a["rule_id"]: a["event_count"] for a in demo.alerts
              if a["rule_id"] not in ("AWS.S3.ServerAccess.Error", "AWS.S3.ServerAccess.IPWhitelist")}
    assert counts["AWS.S3.CopyObjectWithClientSideEncryption"] == 120
    assert counts["AWS.S3.DeleteObject"] == 120
    assert counts["AWS.S3.ServerAccess.UnknownRequester"] == 25
    assert counts["AWS.S3.ServerAccess.Insecure"] == 24  # twelve reports, each fetched twice
    assert counts["Bucketwatch.S3.BucketMadePublic"] == 2  # the policy and the ACL
    # Counts and last-seen times cover every matching event, not just those up to the threshold.
    ssec = next(a for a in demo.alerts if a["rule_id"] == "AWS.S3.CopyObjectWithClientSideEncryption")
    assert (ssec["first_seen"], ssec["last_seen"]) == ("2026-05-12T12:10:00Z", "2026-05-12T12:21:54Z")
    errors = [a["event_count"] for a in demo.alerts if a["rule_id"] == "AWS.S3.ServerAccess.Error"]
    assert errors == [10, 10, 10, 10]


def test_exactly_the_posture_failures_the_account_implies(demo: DemoResult) -> None:
    failures = {(resource_name(r), r["policy"]) for r in demo.posture_failures}
    assert failures == EXPECTED_FAILURES
    assert len(demo.posture_failures) == len(EXPECTED_FAILURES)
    assert not [r for r in demo.posture if r["status"] == "UNKNOWN"]
    assert all(r["remediation"] and r["reason"] for r in demo.posture_failures)  # every FAIL names its fix
    suppressed = {(resource_name(r), r["policy"]) for r in demo.posture if r["status"] == "SUPPRESSED"}
    # Written exceptions, each hiding a real FAIL: the team's (bucketwatch/demo/posture.py: nobody
    # enables MFA delete, Object Lock only on backups), and those the monitoring's own buckets carry
    # as tags, as the deployed stack writes them (infra/waivers.py): the access-log bucket cannot
    # log to itself, use SSE-KMS or Object Lock, and the trail leaves it out on purpose.
    assert suppressed == {
        *((bucket, "BW.S3.MFADelete") for bucket in ALL_BUCKETS),
        *((bucket, "BW.S3.ObjectLock") for bucket in ALL_BUCKETS if bucket != BACKUPS),
        (ACCESS_LOGS, "BW.S3.Logging"),
        (ACCESS_LOGS, "BW.S3.EncryptionKMS"),
        (ACCESS_LOGS, "BW.S3.MonitoringCoverage"),
    }
    tagged = {r["policy"] for r in demo.posture if r["status"] == "SUPPRESSED" and resource_name(r) == ACCESS_LOGS
              and r["suppression"]["origin"] == "resource metadata"}
    assert tagged == {"BW.S3.Logging", "BW.S3.EncryptionKMS", "BW.S3.MonitoringCoverage", "BW.S3.ObjectLock"}
    assert all(r["verdict"] == "FAIL" and len(r["suppression"]["reason"]) >= 10
               for r in demo.posture if r["status"] == "SUPPRESSED")


def test_no_line_is_lost(demo: DemoResult) -> None:
    story = build_story(7)
    written = len(story.access_logs) + len(story.malformed) + len(story.cloudtrail)
    assert demo.counts.lines_written == written
    assert demo.counts.quarantined == len(story.malformed) == 2
    assert demo.counts.records + demo.counts.quarantined == written


def test_the_lake_has_the_processed_bucket_layout_and_answers_the_tutorial_query(demo: DemoResult) -> None:
    lake = demo.lake_dir
    assert lake is not None
    hours = sorted(p.name for p in (lake / "panther_logs/aws_s3serveraccess/year=2026/month=05/day=12").iterdir())
    assert hours == [f"hour={h:02d}" for h in range(8, 14)]
    assert list((lake / "panther_rule_matches/aws_cloudtrail").rglob("*.parquet"))
    assert demo.query_sql == TUTORIAL_SQL
    # 4 buckets x (2 listings + 10 object guesses) anonymous 403s; the BI job's 2 x 3.
    assert demo.query_rows == [
        (None, 403, "AccessDenied", 48),
        (f"arn:aws:sts::{NAMES.account_id}:assumed-role/bi-dashboard/quicksight-refresh", 403, "AccessDenied", 6),
    ]


def test_the_printed_report_names_what_matters_and_what_to_run_next(demo: DemoResult) -> None:
    text = render_text(demo)
    assert "Alerts (21)" in text
    assert f"Posture failures ({len(EXPECTED_FAILURES)})" in text
    assert "-> 1,296 records + 2 quarantined" in text
    # One bucket and address in two dedup windows: two alerts, told apart by their times (UTC).
    ip_lines = [line for line in text.splitlines() if f"[{BACKUPS}] accessed from non-allowlisted IP" in line]
    assert len(ip_lines) == 2 and len({line.rsplit(", ", 1)[1] for line in ip_lines}) == 2
    for command in ("bucketwatch query --lake", "npx cdk synth", "bucketwatch check cdk.out"):
        assert command in text
    assert demo.html_path is not None and str(demo.html_path) in text
    saved = json.loads((demo.html_path.parent / "alerts.json").read_text())
    assert len(saved) == 21
    findings = json.loads((demo.html_path.parent / "posture.json").read_text())
    assert len([f for f in findings if f["status"] == "FAIL"]) == len(EXPECTED_FAILURES)


CHART_PROBE = """
JSON.stringify(Array.from(document.querySelectorAll('section svg')).map(svg => ({
  section: svg.closest('section').id,
  width: svg.getBoundingClientRect().width,
  bars: Array.from(svg.querySelectorAll('rect.bar')).filter(r => {
    const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length,
  labels: Array.from(svg.querySelectorAll('text')).map(t => t.textContent),
})))
"""


def test_the_html_report_renders_its_charts_in_chromium(demo: DemoResult, tmp_path: Path) -> None:
    assert chromium_binary(), "headless Chromium is needed: apt-get update && apt-get install -y chromium"
    assert demo.html_path is not None
    page = demo.html_path.read_text(encoding="utf-8")
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    report = inspect_page(demo.html_path, CHART_PROBE)
    (tmp_path / "report.png").write_bytes(report.screenshot)
    assert report.errors == []
    charts = {c["section"]: c for c in json.loads(report.value)}
    assert charts["alerts-over-time"]["bars"] > 0
    # The time axis spans the story, 08:00 to 14:00.
    assert {"08:00", "13:30"} <= set(charts["alerts-over-time"]["labels"])
    # One drawn segment per (resource, status) pair the scan produced, a label per resource.
    pairs = {(resource_name(r), r["status"]) for r in demo.posture}
    assert charts["posture-by-bucket"]["bars"] == len(pairs)
    assert {*ALL_BUCKETS, TRAIL} <= set(charts["posture-by-bucket"]["labels"])
    assert report.screenshot.startswith(b"\x89PNG") and len(report.screenshot) > 50_000


def test_the_suggested_queries_run_and_follow_the_attacker(demo: DemoResult, capsys: pytest.CaptureFixture[str]) -> None:
    queries = [command.format(lake=demo.lake_dir) for _, command in NEXT_STEPS
               if command.startswith("bucketwatch query")]
    assert len(queries) == 2
    outputs = []
    for command in queries:
        assert cli_main([*shlex.split(command)[1:], "--format", "json"]) == 0, command
        outputs.append(capsys.readouterr().out)
    pivot = {row["p_log_type"]: row["events"] for row in _json_rows(outputs[0])}
    # Access logs: 48 enumeration probes + 24 plaintext downloads. CloudTrail: 3 changes to the
    # shared reports, 2 to the backups, 120 SSE-C copies, the note, 120 deletions, StopLogging.
    assert pivot == {"AWS.S3ServerAccess": 72, "AWS.CloudTrail": 247}
    matches = {row["p_rule_id"]: row["n"] for row in _json_rows(outputs[1])}
    assert matches["AWS.S3.CopyObjectWithClientSideEncryption"] == 120
    assert matches["AWS.S3.DeleteObject"] == 120


def _json_rows(text: str) -> list[dict]:
    """`bucketwatch query --format json` prints one JSON object per row."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
