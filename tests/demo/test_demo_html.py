"""The HTML report, opened in headless Chromium: charts drawn, nothing logged, nothing fetched."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bucketwatch.demo.html import render_html
from bucketwatch.demo.report import Counts, DemoResult

from .chromium import chromium_binary, inspect_page


@pytest.fixture(scope="session")
def chromium() -> str:
    binary = chromium_binary()
    assert binary, "headless Chromium is needed: apt-get update && apt-get install -y chromium"
    return binary

# Per chart: how many bars have a drawn (non-empty) box, and the chart's own size.
CHART_PROBE = """
JSON.stringify(Array.from(document.querySelectorAll('section svg')).map(svg => {
  const box = svg.getBoundingClientRect();
  const bars = Array.from(svg.querySelectorAll('rect.bar')).filter(r => {
    const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; });
  return {section: svg.closest('section').id, width: box.width, height: box.height, bars: bars.length,
          markers: svg.querySelectorAll('g.marker line').length};
}))
"""


def _result() -> DemoResult:
    alerts = [
        {"kind": "detection", "rule_id": "R.High", "severity": "High", "title": "high one",
         "first_seen": "2026-05-12T10:05:00Z", "last_seen": "2026-05-12T10:20:00Z", "event_count": 40},
        {"kind": "detection", "rule_id": "R.Low", "severity": "Low", "title": "low <b>one</b>",
         "first_seen": "2026-05-12T10:10:00Z", "last_seen": "2026-05-12T10:11:00Z", "event_count": 3},
        {"kind": "detection", "rule_id": "R.Medium", "severity": "Medium", "title": "medium",
         "first_seen": "2026-05-12 12:31:00.000000000", "last_seen": "2026-05-12T12:40:00Z", "event_count": 120},
    ]
    posture = [
        {"policy": "P.A", "resource": "arn:aws:s3:::bucket-a", "status": "FAIL", "severity": "High", "reason": "r"},
        {"policy": "P.B", "resource": "arn:aws:s3:::bucket-a", "status": "PASS", "severity": "Low", "reason": ""},
        {"policy": "P.A", "resource": "arn:aws:s3:::bucket-b", "status": "PASS", "severity": "High", "reason": ""},
        {"policy": "P.B", "resource": "arn:aws:s3:::bucket-b", "status": "UNKNOWN", "severity": "Low",
         "reason": "GetBucketPolicy denied"},
    ]
    return DemoResult(alerts=alerts, posture=posture, query_sql="SELECT 1", query_columns=["requester", "n"],
                      query_rows=[(None, 48), ("arn:aws:sts::1:assumed-role/x/y", 6)],
                      counts=Counts(objects=3, access_log_lines=10, cloudtrail_records=5, records=13, quarantined=2),
                      lake_dir=Path("/tmp/lake"), endpoint="http://127.0.0.1:1",
                      story_window=(datetime(2026, 5, 12, 8, tzinfo=UTC), datetime(2026, 5, 12, 14, tzinfo=UTC)),
                      story_markers=[(datetime(2026, 5, 12, 10, 40, tzinfo=UTC), "bucket made public"),
                                     (datetime(2026, 5, 12, 12, 45, tzinfo=UTC), "trail stopped"),
                                     (datetime(2026, 5, 13, 9, 0, tzinfo=UTC), "outside the story: not drawn")])


def test_report_is_self_contained_and_escapes_text() -> None:
    page = render_html(_result())
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert "low &lt;b&gt;one&lt;/b&gt;" in page
    assert "15 = 13 + 2 (reconciled)" in page


def test_charts_render_in_headless_chromium_without_console_errors(tmp_path: Path, chromium: str) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_html(_result()), encoding="utf-8")
    report = inspect_page(path, CHART_PROBE)
    assert report.errors == []
    charts = {c["section"]: c for c in json.loads(report.value)}
    # Alerts: 10:00 bin holds High + Low, 12:30 bin holds Medium -> three drawn segments, and
    # the two attacker changes inside the story's window are marked.
    assert charts["alerts-over-time"]["bars"] == 3
    assert charts["alerts-over-time"]["markers"] == 2
    # Posture: bucket-a FAIL + PASS, bucket-b PASS + UNKNOWN -> four segments.
    assert charts["posture-by-bucket"]["bars"] == 4
    assert all(c["width"] > 300 and c["height"] > 50 for c in charts.values())
    assert report.screenshot.startswith(b"\x89PNG")


def test_the_probe_sees_console_errors_when_a_page_has_them(tmp_path: Path, chromium: str) -> None:
    """The harness itself can fail: a page that logs an error and throws is reported."""
    path = tmp_path / "broken.html"
    path.write_text("<!DOCTYPE html><html><body><svg></svg><script>console.error('bad thing');"
                    "missingFunction();</script></body></html>", encoding="utf-8")
    report = inspect_page(path, "1 + 1")
    assert report.value == 2
    assert any("bad thing" in e for e in report.errors)
    assert any("missingFunction" in e for e in report.errors)


def test_the_per_account_section_lists_each_accounts_alerts_and_failures(tmp_path: Path, chromium: str) -> None:
    """Several accounts: one block per account with its own alerts and failures; one account: none."""
    from bucketwatch.reporting.html import ReportView, render_report

    alerts = [{"kind": "detection", "rule_id": "R.Copy", "severity": "Medium", "title": "copied out",
               "first_seen": "2026-05-12T10:40:00Z", "event_count": 12, "account_id": "111111111111"},
              {"kind": "detection", "rule_id": "R.Public", "severity": "High", "title": "made <public>",
               "first_seen": "2026-05-12T10:05:00Z", "event_count": 1, "account_id": "222222222222"}]
    posture = [{"policy": "P.A", "resource": "arn:aws:s3:::a", "status": "FAIL", "severity": "High", "reason": "r",
                "account_id": "222222222222"},
               {"policy": "P.B", "resource": "arn:aws:s3:::b", "status": "UNKNOWN", "severity": "Low",
                "reason": "GetBucketPolicy denied", "account_id": "111111111111"},
               {"policy": "P.A", "resource": "arn:aws:s3:::c", "status": "PASS", "severity": "High", "reason": "",
                "account_id": "333333333333"}]
    names = {"111111111111": "payments", "222222222222": "web"}
    path = tmp_path / "report.html"
    path.write_text(render_report(ReportView(title="t", alerts=alerts, posture=posture, account_names=names)))
    probe = """JSON.stringify(Array.from(document.querySelectorAll('#per-account article')).map(a => ({
      title: a.querySelector('h3').textContent,
      rules: Array.from(a.querySelectorAll('.account-alerts code')).map(c => c.textContent),
      verdicts: Array.from(a.querySelectorAll('.account-posture tr')).slice(1).map(
        tr => tr.children[2].textContent + ' ' + tr.children[3].textContent),
      text: a.textContent})))"""
    report = inspect_page(path, probe)
    assert report.errors == []
    blocks = json.loads(report.value)
    # Worst first: web (a High alert and a High failure), payments, then the account with passes only.
    assert [b["title"] for b in blocks] == ["web (222222222222)", "payments (111111111111)", "333333333333"]
    assert [b["rules"] for b in blocks] == [["R.Public"], ["R.Copy"], []]
    assert [b["verdicts"] for b in blocks] == [["P.A FAIL"], ["P.B UNKNOWN"], []]
    assert "made <public>" in blocks[0]["text"] and "Posture: 1 verdict, no failures." in blocks[2]["text"]
    single = render_report(ReportView(title="t", alerts=alerts[:1], posture=posture[1:2]))
    assert 'id="per-account"' not in single
