"""`bucketwatch check`: exit codes, the four formats (SARIF validated against the real 2.1.0
schema), suppressions visible in every output, and one-line errors for unusable input."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from bucketwatch.cli import main

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
SCHEMA = json.loads((HERE / "sarif-schema-2.1.0.json").read_text())
SECURE = str(TEMPLATES / "secure.json")
CONFIG = """
posture:
  suppressions:
    - policy: BW.S3.SecureAccess
      resource: "secure/AccessLogs"
      reason: "access-log bucket is written only by S3 log delivery"
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "bucketwatch.yml"
    path.write_text(CONFIG)
    return str(path)


def test_exit_codes_follow_the_threshold(capsys) -> None:
    assert run(capsys, SECURE)[0] == 1  # Info and up: several FAILs
    assert run(capsys, SECURE, "--fail-on", "critical")[0] == 0  # no Critical FAIL in this template
    assert run(capsys, SECURE, "--fail-on", "HIGH")[0] == 1  # PublicRead on SelfLogging is High


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope.json"], "path not found: nope.json"),
        ([str(TEMPLATES / "broken.yaml")], "invalid YAML"),
        ([str(TEMPLATES / "not_a_template.yaml")], "not a CloudFormation template"),
        ([SECURE, "--fail-on", "urgent"], "--fail-on: severity must be one of"),
        ([SECURE, "--config", "missing.yml"], "config file not found"),
    ],
)
def test_unusable_input_exits_2_with_one_line(capsys, argv, message) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("bucketwatch check: error: ")


def test_json_output_contract(capsys, config) -> None:
    code, out, _ = run(capsys, SECURE, "--format", "json", "--config", config)
    document = json.loads(out)
    assert code == 1
    for result in document["results"]:
        assert {"policy", "panther_id", "resource", "status", "severity", "reason", "source"} <= set(result)
        assert result["source"] == "template"
        assert result["status"] in {"PASS", "FAIL", "UNKNOWN", "NOT_APPLICABLE", "SUPPRESSED"}
    by_key = {(r["resource"], r["policy"]): r for r in document["results"]}
    suppressed = by_key[("secure/AccessLogs", "BW.S3.SecureAccess")]
    assert suppressed["status"] == "SUPPRESSED" and suppressed["verdict"] == "FAIL"
    assert suppressed["suppression"]["reason"].startswith("access-log bucket")
    assert by_key[("secure/Data", "BW.S3.Encryption")]["panther_id"] == "AWS.S3.Bucket.Encryption"
    assert by_key[("secure/Data", "BW.S3.Encryption")]["line"] == 17
    summary = document["summary"]
    assert summary["by_status"]["SUPPRESSED"] == 1 and summary["exit_code"] == 1
    assert summary["by_status"]["FAIL"] == sum(r["status"] == "FAIL" for r in document["results"])


def test_sarif_validates_and_points_at_file_and_line(capsys, config, tmp_path: Path) -> None:
    output = tmp_path / "out.sarif"
    code, out, _ = run(capsys, SECURE, "--format", "sarif", "--config", config, "--output", str(output))
    assert code == 1 and out == ""
    document = json.loads(output.read_text())
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    results = document["runs"][0]["results"]
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    public_read = next(r for r in results if r["ruleId"] == "BW.S3.PublicRead")
    location = public_read["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"].endswith("templates/secure.json")
    assert location["physicalLocation"]["region"]["startLine"] == 27
    assert location["logicalLocations"][0]["name"] == "SelfLogging"
    suppressed = next(r for r in results if r.get("suppressions"))
    assert suppressed["suppressions"][0]["justification"].startswith("access-log bucket")
    assert any(r["kind"] == "review" for r in results)  # UNKNOWN verdicts are surfaced for review


@pytest.mark.xdist_group("policies-cdk")
def test_sarif_for_a_cdk_assembly_validates(capsys, cdk_out: Path) -> None:
    code, out, _ = run(capsys, str(cdk_out), "--format", "sarif")
    assert code == 1
    document = json.loads(out)
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    names = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in document["runs"][0]["results"]}
    assert "BwPosture/Public/Resource" in names


def test_junit_and_text_show_suppressions(capsys, config) -> None:
    _, out, _ = run(capsys, SECURE, "--format", "junit", "--config", config)
    root = ET.fromstring(out)
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    skipped = cases[("BW.S3.SecureAccess", "secure/AccessLogs")].find("skipped")
    assert skipped is not None and "access-log bucket" in skipped.get("message")
    failure = cases[("BW.S3.PublicRead", "secure/SelfLogging")].find("failure")
    assert failure is not None and failure.get("type") == "High"
    assert int(root.get("failures")) == sum(1 for c in cases.values() if c.find("failure") is not None)
    _, text, _ = run(capsys, SECURE, "--config", config)
    assert "SUPPRESSED" in text and "access-log bucket is written only by S3 log delivery" in text
    assert "secure/SelfLogging" in text and "FAILED:" in text


def test_console_entry_point(tmp_path: Path) -> None:
    template = tmp_path / "ok.yaml"
    template.write_text("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n")
    result = subprocess.run([sys.executable, "-m", "bucketwatch", "check", str(template), "--format", "json"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"] == []


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit"])
def test_reporters_take_live_findings_too(policies, fmt) -> None:
    """`scan` reuses the reporters: findings with an ARN and no file render (and SARIF validates)."""
    from policies.model import mark_unknown, new_bucket
    from policies.reporters import render
    from policies.runner import ResourceRef, Subject, evaluate

    bucket = new_bucket("prod-data", Versioning="Suspended", Region="eu-west-1")
    mark_unknown(bucket, "Policy", "GetBucketPolicy: AccessDenied")
    ref = ResourceRef(id="arn:aws:s3:::prod-data", source="live", name="prod-data", arn="arn:aws:s3:::prod-data",
                      region="eu-west-1", account="111122223333")
    chosen = [p for p in policies if p.id in ("BW.S3.Versioning", "BW.S3.SecureAccess")]
    text = render(fmt, evaluate(chosen, [Subject(bucket, ref)]), "info")
    assert "arn:aws:s3:::prod-data" in text
    if fmt == "sarif":
        document = json.loads(text)
        jsonschema.Draft4Validator(SCHEMA).validate(document)
        kinds = {r["ruleId"]: r["kind"] for r in document["runs"][0]["results"]}
        assert kinds == {"BW.S3.Versioning": "fail", "BW.S3.SecureAccess": "review"}
    if fmt == "json":
        results = {r["policy"]: r for r in json.loads(text)["results"]}
        assert results["BW.S3.SecureAccess"]["status"] == "UNKNOWN"
        assert "AccessDenied" in results["BW.S3.SecureAccess"]["reason"]
        assert {r["source"] for r in results.values()} == {"live"}


def test_user_policy_dir_from_config_and_flag(capsys, tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "owner_tag.py").write_text("def policy(resource):\n    return 'owner' in (resource.get('Tags') or {})\n")
    (pack / "owner_tag.yml").write_text(
        "AnalysisType: policy\nFilename: owner_tag.py\nPolicyID: Custom.S3.OwnerTag\nSeverity: Critical\n"
        "ResourceTypes: [AWS.S3.Bucket]\nFields: [Tags]\n")
    config = tmp_path / "bucketwatch.yml"
    config.write_text("posture:\n  policy_dirs: [pack]\n")  # relative to the config file
    code, out, _ = run(capsys, SECURE, "--format", "json", "--config", str(config), "--fail-on", "critical")
    custom = [r for r in json.loads(out)["results"] if r["policy"] == "Custom.S3.OwnerTag"]
    assert code == 1 and {r["status"] for r in custom} == {"FAIL"} and len(custom) == 3
    code, out, _ = run(capsys, SECURE, "--format", "json", "--policy-dir", str(pack), "--fail-on", "critical")
    assert code == 1 and any(r["policy"] == "Custom.S3.OwnerTag" for r in json.loads(out)["results"])
    code, _, err = run(capsys, SECURE, "--policy-dir", str(tmp_path / "missing"))
    assert code == 2 and "policy directory not found" in err
