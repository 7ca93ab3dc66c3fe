"""`bucketwatch scan` end to end against moto over HTTP: outputs, exit codes, suppressions,
denied calls, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import boto3
import pytest

from bucketwatch.cli import main


def make_buckets() -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="scan-public")
    s3.put_bucket_acl(Bucket="scan-public", GrantWrite='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    s3.create_bucket(Bucket="scan-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})


def scan_json(capsys, *extra: str) -> tuple[int, dict]:
    code = main(["scan", "--format", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_json_report_names_live_resources_by_arn(aws_endpoint, capsys) -> None:
    make_buckets()
    code, report = scan_json(capsys)
    assert code == 1
    results = report["results"]
    assert {r["source"] for r in results} == {"live"}
    write = [r for r in results if r["policy"] == "BW.S3.PublicWrite"]
    assert {r["resource"]: r["status"] for r in write} == {
        "arn:aws:s3:::scan-public": "FAIL", "arn:aws:s3:::scan-eu": "PASS"}
    failing = next(r for r in write if r["status"] == "FAIL")
    assert failing["severity"] == "Critical" and failing["reason"] and failing["panther_id"] == "AWS.S3.Bucket.PublicWrite"
    assert next(r for r in results if r["resource"] == "arn:aws:s3:::scan-eu")["region"] == "eu-west-1"
    assert report["summary"]["by_status"]["FAIL"] == sum(r["status"] == "FAIL" for r in results)


def test_filters_and_fail_on_threshold(aws_endpoint, capsys) -> None:
    make_buckets()
    account = "AWS::::Account:123456789012"  # judged with its buckets in scope
    code, report = scan_json(capsys, "--regions", "eu-west-1", "--fail-on", "critical")
    assert {r["resource"] for r in report["results"]} == {"arn:aws:s3:::scan-eu", account}
    assert code == 0  # scan-eu and the account (no account Block Public Access: High) fail only below Critical
    code, report = scan_json(capsys, "--buckets", "scan-p*", "--fail-on", "critical")
    assert {r["resource"] for r in report["results"]} == {"arn:aws:s3:::scan-public", account}
    assert code == 1  # PublicWrite is Critical
    code, report = scan_json(capsys, "--buckets", "nothing-*")
    assert (code, report["results"]) == (0, [])


def test_suppression_from_config_is_reported_and_unblocks(aws_endpoint, capsys, tmp_path) -> None:
    make_buckets()
    config = tmp_path / "bucketwatch.yml"
    config.write_text("posture:\n  suppressions:\n"
                      "    - policy: BW.S3.PublicWrite\n      resource: 'arn:aws:s3:::scan-public'\n"
                      "      reason: upload drop box for the partner, reviewed 2026-11\n")
    code, report = scan_json(capsys, "--buckets", "scan-public", "--fail-on", "critical", "--config", str(config))
    write = next(r for r in report["results"] if r["policy"] == "BW.S3.PublicWrite")
    assert write["status"] == "SUPPRESSED" and "partner" in write["suppression"]["reason"]
    assert code == 0


def test_sarif_and_junit_outputs(aws_endpoint, capsys, tmp_path) -> None:
    make_buckets()
    out = tmp_path / "scan.sarif"
    assert main(["scan", "--format", "sarif", "--output", str(out)]) == 1
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0"
    assert any(r["ruleId"] == "BW.S3.PublicWrite" for r in sarif["runs"][0]["results"])
    assert main(["scan", "--format", "junit"]) == 1
    suite = ET.fromstring(capsys.readouterr().out)
    assert suite.iter("failure") and any(case.find("failure") is not None for case in suite.iter("testcase"))


def test_text_output_and_exit_zero_when_nothing_blocks(aws_endpoint, capsys) -> None:
    boto3.client("s3").create_bucket(Bucket="scan-empty")
    code = main(["scan", "--buckets", "nothing-matches-*"])
    assert code == 0
    code = main(["scan", "--buckets", "scan-empty"])
    text = capsys.readouterr().out
    assert code == 1 and "arn:aws:s3:::scan-empty" in text


def test_denied_call_gives_unknown_with_the_api_named(aws_endpoint, capsys, monkeypatch, deny) -> None:
    make_buckets()
    original = boto3.Session.__init__

    def session_with_denial(self, *args, **kwargs):
        original(self, *args, **kwargs)
        deny(self, "GetBucketPolicy")

    monkeypatch.setattr(boto3.Session, "__init__", session_with_denial)
    _, report = scan_json(capsys, "--buckets", "scan-public")
    by_policy = {r["policy"]: r for r in report["results"]}
    assert by_policy["BW.S3.SecureAccess"]["status"] == "UNKNOWN"
    assert "GetBucketPolicy denied: AccessDenied" in by_policy["BW.S3.SecureAccess"]["reason"]
    assert by_policy["BW.S3.PublicWrite"]["status"] == "FAIL"  # the ACL was still read


@pytest.mark.parametrize(("argv", "message"), [
    (["--regions", "moon-base-1x"], "not an AWS region name"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--fail-on", "severe"], "severity must be one of"),
    (["--role-arn", "arn:aws:iam::123456789012:role/x", "--profile", "missing-profile"], "profile 'missing-profile'"),
])
def test_unusable_input_exits_2_with_one_line(aws_endpoint, capsys, argv, message) -> None:
    assert main(["scan", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_real_cli_against_moto_with_endpoint_flag(aws_endpoint) -> None:
    make_buckets()
    env = {**os.environ}
    env.pop("AWS_ENDPOINT_URL")  # the flag alone must route every service, s3control included
    proc = subprocess.run([sys.executable, "-m", "bucketwatch", "scan", "--endpoint-url", aws_endpoint,
                           "--format", "json", "--role-arn", "arn:aws:iam::123456789012:role/audit"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert {r["account_id"] for r in report["results"]} == {"123456789012"}
    assert not [r for r in report["results"] if r["status"] == "UNKNOWN"], "s3control/trails must be reachable"


class _Terminal:
    """A stderr that says it is a terminal, keeping what is drawn."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_is_drawn_on_a_terminal_only(aws_endpoint, capsys, monkeypatch) -> None:
    make_buckets()
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["scan", "--format", "json"]) == 1
    assert "scan: 2 buckets" in terminal.text
    json.loads(capsys.readouterr().out)  # stdout holds only the report
