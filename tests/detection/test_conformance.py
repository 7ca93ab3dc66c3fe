"""Panther's own test cases (the conformance pack) against our implementations."""

from __future__ import annotations

from bucketwatch.analysis_runner import run_all
from bucketwatch.cli import main

from .test_rule_specs import CORE_IDS


def test_panther_pack_passes_for_every_core_rule(conformance_dir):
    report = run_all(panther_pack=conformance_dir)
    panther = [o for o in report.outcomes if o.source == "panther" and o.kind == "rule"]
    assert {o.id for o in panther} >= CORE_IDS
    failed = [f"{o.id}: {o.name}: {o.detail}" for o in report.outcomes if not o.passed]
    assert failed == []
    # 75 rule test cases in the core rule specs of the pack (SOURCE.md table).
    assert sum(o.id in CORE_IDS for o in panther) == 75
    not_implemented = {item_id for _, item_id, _ in report.not_implemented}
    assert not (CORE_IDS & not_implemented)
    assert "AWS.CloudTrail.SecurityConfigurationChange" in not_implemented


def test_the_related_rules_issue_12_asked_for_pass_panthers_cases(conformance_dir):
    """ResourceMadePublic (every service's policies) and ShortLifecycle (with Panther's mocks of
    is_cloudtrail_bucket) run against our implementations and pass all of Panther's cases."""
    report = run_all(panther_pack=conformance_dir)
    cases: dict[str, list[bool]] = {}
    for o in report.outcomes:
        if o.source == "panther" and o.kind == "rule":
            cases.setdefault(o.id, []).append(o.passed)
    assert cases["AWS.CloudTrail.ResourceMadePublic"] == [True] * 14
    assert cases["AWS.CloudTrail.ShortLifecycle"] == [True] * 5


def test_panther_pack_runs_every_kind_skipping_none(conformance_dir):
    """Issue 12: the scheduled queries, the scheduled rule, the correlation rules (through the
    real evaluator) and the data model all run; none is skipped."""
    report = run_all(panther_pack=conformance_dir)
    assert report.skipped == []
    panther = [o for o in report.outcomes if o.source == "panther"]
    counts: dict[tuple[str, str], list[bool]] = {}
    for o in panther:
        counts.setdefault((o.kind, o.id), []).append(o.passed)
    assert counts[("scheduled_rule", "AWS.S3.LargeDownload")] == [True] * 5
    assert counts[("correlation_rule", "AWS.S3.ObjectExfiltration.WITH.ObjectDeletion")] == [True] * 2
    assert counts[("correlation_rule", "AWS.S3.Disable.Security.Controls")] == [True] * 2
    assert counts[("scheduled_query", "AWS S3 Large Download")] == [True]
    assert counts[("scheduled_query", "Anomalous AccessDenied Requests")] == [True]
    assert counts[("datamodel", "Standard.AWS.S3ServerAccess")] == [True] * 3


def test_cli_prints_summary_line_and_exit_code(conformance_dir, capsys):
    code = main(["test", "--panther-pack", str(conformance_dir)])
    lines = capsys.readouterr().out.strip().splitlines()
    passed, failed = lines[-1].split(", ")
    assert failed == "0 failed" and int(passed.split()[0]) > 75
    assert code == 0
    assert any("Not implemented" in line for line in lines)
