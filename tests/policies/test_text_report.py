"""The posture text report (check and scan): summary first, FAILs worst first (by account when
there are several), UNKNOWN and SUPPRESSED after them, passes only counted."""

from __future__ import annotations

import pytest

from detectors.common.table import format_table
from policies.config import Suppression
from policies.registry import load_policies
from policies.reporters.text import render_text
from policies.runner import Finding, ResourceRef


@pytest.fixture(scope="module")
def policies():
    return {p.id: p for p in load_policies()}


def finding(policies, policy: str, resource: str, status: str = "FAIL", account: str | None = "111111111111",
            reason: str = "because", region: str | None = "us-east-1", suppression: Suppression | None = None) -> Finding:
    ref = ResourceRef(id=f"arn:aws:s3:::{resource}", source="live", name=resource, region=region, account=account)
    verdict = "FAIL" if status == "SUPPRESSED" else status
    return Finding(policies[policy], ref, status, reason if status != "PASS" else "", verdict, suppression)


def test_summary_then_failures_worst_first_and_no_pass_lines(policies) -> None:
    findings = [finding(policies, "BW.S3.Versioning", f"plain-{i}") for i in range(30)]
    findings += [finding(policies, "BW.S3.Encryption", f"plain-{i}") for i in range(30)]
    findings += [finding(policies, "BW.S3.PublicWrite", "drop-box", reason="ACL grants WRITE to AllUsers"),
                 finding(policies, "BW.S3.Encryption", "drop-box"),
                 finding(policies, "BW.S3.Logging", "drop-box", status="PASS")]
    lines = render_text(findings, "info").splitlines()
    assert lines[0] == "Bucketwatch posture: 63 results for 31 resources and 4 policies"
    assert lines[1] == "  FAIL 62 (1 Critical, 31 High, 30 Low), UNKNOWN 0, SUPPRESSED 0, NOT_APPLICABLE 0, PASS 1"
    assert lines[2] == "FAILED: 62 unsuppressed FAIL at or above info"
    # The worst resource heads its table, the Critical FAIL is the first block.
    worst = lines.index("Worst resources (5 of 31 failing)")
    assert lines[worst + 3].split()[:3] == ["arn:aws:s3:::drop-box", "Critical", "2"]
    first_fail = lines.index("FAIL (62), worst first") + 1
    assert lines[first_fail].split()[:2] == ["CRITICAL", "BW.S3.PublicWrite:"]
    assert lines[first_fail + 2] == "    - arn:aws:s3:::drop-box (us-east-1): ACL grants WRITE to AllUsers"
    assert first_fail < 24  # on the first screen
    # One fix per policy, not one per resource; passes only counted.
    assert sum(line.strip().startswith("fix:") for line in lines) == 3
    assert not any("BW.S3.Logging" in line for line in lines)
    assert lines[-1] == "FAILED: 62 unsuppressed FAIL at or above info"


def test_several_accounts_group_the_failures(policies) -> None:
    findings = [finding(policies, "BW.S3.Versioning", "a-low", account="111111111111"),
                finding(policies, "BW.S3.PublicRead", "b-public", account="222222222222"),
                finding(policies, "BW.S3.Versioning", "b-other", account="222222222222")]
    text = render_text(findings, "info")
    lines = text.splitlines()
    assert "in 2 accounts" in lines[0]
    headers = [line for line in lines if line.startswith("  account ")]
    assert headers == ["  account 222222222222: 2 FAIL", "  account 111111111111: 1 FAIL"]  # worst first
    assert "Accounts (2)" in lines


def test_accounts_from_the_scan_say_how_each_was_reached(policies) -> None:
    accounts = [{"account_id": "111111111111", "name": "prod", "access": "role arn:aws:iam::111111111111:role/A"},
                {"account_id": "333333333333", "name": "lab", "error": "cannot assume role x: AccessDenied"}]
    findings = [finding(policies, "BW.S3.Versioning", "a", account="111111111111"),
                finding(policies, "BW.S3.AccountPublicAccessBlock", "acct", status="UNKNOWN", account="333333333333",
                        reason="account not scanned: cannot assume role x: AccessDenied")]
    lines = render_text(findings, "info", accounts=accounts).splitlines()
    table = lines[lines.index("Accounts (2)") + 1:lines.index("Accounts (2)") + 6]
    assert table[2].split() == ["111111111111", "prod", "1", "1", "0", "role", "arn:aws:iam::111111111111:role/A"]
    assert table[3].split()[:5] == ["333333333333", "lab", "1", "0", "1"] and "NOT SCANNED" in table[3]
    assert table[4] == "  333333333333 not scanned: cannot assume role x: AccessDenied"
    assert "(1 UNKNOWN result does not fail it: see UNKNOWN below)" in lines[2]


def test_suppressed_are_grouped_by_their_written_reason(policies) -> None:
    written = Suppression("BW.S3.MFADelete", "*", "MFA delete needs the root user's device", "config")
    findings = [finding(policies, "BW.S3.MFADelete", f"b{i}", status="SUPPRESSED", suppression=written)
                for i in range(3)]
    lines = render_text(findings, "info").splitlines()
    at = lines.index("SUPPRESSED (3): the verdict stands, a written reason accepts it")
    assert lines[at + 1] == ("  BW.S3.MFADelete (FAIL, 3 resources) suppressed (config): "
                             "MFA delete needs the root user's device")
    assert lines[at + 2] == "    arn:aws:s3:::b0, arn:aws:s3:::b1, arn:aws:s3:::b2"
    assert lines[2] == "passed: 0 unsuppressed FAIL at or above info"


def test_the_table_printer() -> None:
    table = format_table(("NAME", "COUNT", "NOTE"), [("a", 1, None), ("long-name", 12345, ["x"])], right=(1,))
    assert table.splitlines() == [
        "NAME       COUNT  NOTE",
        "---------  -----  -----",
        "a              1",
        "long-name  12345  [\"x\"]",
    ]


def test_one_resource_and_one_policy_are_counted_in_the_singular(policies) -> None:
    lines = render_text([finding(policies, "BW.S3.Versioning", "lonely")], "info").splitlines()
    assert lines[0] == "Bucketwatch posture: 1 result for 1 resource and 1 policy"
    assert "1 result for 1 resource and 1 policy: 1 FAIL, 0 UNKNOWN, 0 SUPPRESSED, 0 NOT_APPLICABLE, 0 PASS" in lines


def test_counted_nouns() -> None:
    from detectors.common.words import plural

    assert [plural(n, "file") for n in (0, 1, 2, 1234)] == ["0 files", "1 file", "2 files", "1,234 files"]
    assert plural(2, "policy") == "2 policies" and plural(3, "correlation match") == "3 correlation matches"
    assert plural(2, "query run") == "2 query runs" and plural(2, "person", "people") == "2 people"
