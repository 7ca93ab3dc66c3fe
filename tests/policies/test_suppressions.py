"""Suppressions: one model (config file, template metadata, CDK acknowledgements), with optional
owner and expiry, and every suppression reviewed: unused ones, expired ones and ones naming no
policy are reported in every output format; an expired one no longer applies."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from bucketwatch.cli import main
from detectors.common.errors import UserError
from policies.config import PostureSettings, Suppression, parse_posture
from policies.model import new_bucket
from policies.runner import ResourceRef, Subject, evaluate, review_suppressions

HERE = Path(__file__).parent
SCHEMA = json.loads((HERE / "sarif-schema-2.1.0.json").read_text())
TODAY = dt.date(2026, 6, 1)


def _versioning(policies):
    return [p for p in policies if p.id in ("BW.S3.Versioning", "BW.S3.Logging")]


def _subjects() -> list[Subject]:
    return [Subject(new_bucket(name, Versioning=None, LoggingPolicy={"TargetBucket": "l"}),
                    ResourceRef(id=f"App/{name}", source="template", name=name)) for name in ("scratch", "data")]


def test_expired_suppression_no_longer_applies_and_is_reported(policies) -> None:
    settings = PostureSettings(suppressions=[
        Suppression("BW.S3.Versioning", "App/scratch", "rebuilt nightly from the lake", expires=dt.date(2026, 5, 31)),
        Suppression("BW.S3.Versioning", "App/data", "migration to a versioned bucket, Q3", owner="data-team",
                    expires=dt.date(2026, 6, 1)),  # expires at the end of that day
    ])
    findings = evaluate(_versioning(policies), _subjects(), settings, today=TODAY)
    status = {f.ref.id: f.status for f in findings if f.policy.id == "BW.S3.Versioning"}
    assert status == {"App/scratch": "FAIL", "App/data": "SUPPRESSED"}
    review = {use.suppression.resource: use for use in
              review_suppressions(findings, _subjects(), settings, policies, today=TODAY)}
    assert review["App/scratch"].problem == "expired on 2026-05-31; it no longer applies"
    assert (review["App/data"].used, review["App/data"].problem) == (1, None)


@pytest.mark.parametrize(("suppression", "problem"), [
    (Suppression("BW.S3.Versoning", "*", "a typo in the policy id"), "names no policy: BW.S3.Versoning"),
    (Suppression("BW.S3.Logging", "*", "logging is on everywhere anyway"),
     "unused: it matched no FAIL or UNKNOWN finding"),
    (Suppression("BW.S3.Versioning", "Other/*", "a stack that is not in this run"),
     "unused: it matched no FAIL or UNKNOWN finding"),
    (Suppression("BW.S3.ObjectLock", "*", "backups only need Object Lock"),
     "BW.S3.ObjectLock is not judged in this run (see the pack, --policies and --skip-policies)"),
])
def test_suppressions_that_do_nothing_are_reported(policies, suppression: Suppression, problem: str) -> None:
    settings = PostureSettings(suppressions=[suppression])
    judged = _versioning(policies)
    findings = evaluate(judged, _subjects(), settings, today=TODAY)
    (use,) = review_suppressions(findings, _subjects(), settings, policies, judged, today=TODAY)
    assert (use.used, use.problem) == (0, problem)


def test_config_suppression_fields_are_validated() -> None:
    settings = parse_posture({"suppressions": [{"policy": "BW.S3.Logging", "resource": "*/Logs*",
                                                "reason": "the log bucket cannot log to itself", "owner": "platform",
                                                "expires": dt.date(2027, 1, 31)}]})
    (entry,) = settings.suppressions
    assert (entry.owner, entry.expires, entry.where) == ("platform", dt.date(2027, 1, 31), "posture.suppressions[0]")
    assert parse_posture({"suppressions": [{"policy": "p", "reason": "long enough reason",
                                            "expires": "2027-01-31"}]}).suppressions[0].expires == dt.date(2027, 1, 31)


TEMPLATE = """
Resources:
  Scratch:
    Type: AWS::S3::Bucket
    Metadata:
      bucketwatch:
        suppressions:
          - {id: BW.S3.Versioning, reason: scratch data rebuilt nightly, owner: data-team, expires: "2999-01-01"}
          - {id: BW.S3.SecureAccess, reason: expired exception from the migration, expires: "2020-01-01"}
          - {id: BW.S3.NoSuchPolicy, reason: a policy id that does not exist}
"""
CONFIG = """
posture:
  suppressions:
    - policy: BW.S3.Logging
      resource: "t/Scratch"
      reason: "scratch data needs no access logs"
      owner: data-team
    - policy: BW.S3.Encryption
      resource: "*"
      reason: "S3 encrypts every new bucket by default"
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "t.yaml").write_text(TEMPLATE)
    (tmp_path / "bucketwatch.yml").write_text(CONFIG)
    return str(tmp_path / "t.yaml"), str(tmp_path / "bucketwatch.yml")


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["check", *argv])
    return code, capsys.readouterr().out


def test_json_lists_every_suppression_with_its_use(capsys, files) -> None:
    code, out = _run(capsys, *files[:1], "--config", files[1], "--format", "json")
    report = json.loads(out)
    uses = {(s["policy"], s["origin"]): s for s in report["suppressions"]}
    assert uses[("BW.S3.Versioning", "resource metadata")]["used"] == 1
    assert uses[("BW.S3.Versioning", "resource metadata")]["owner"] == "data-team"
    assert uses[("BW.S3.SecureAccess", "resource metadata")]["problem"].startswith("expired on 2020-01-01")
    assert uses[("BW.S3.NoSuchPolicy", "resource metadata")]["problem"] == "names no policy: BW.S3.NoSuchPolicy"
    assert uses[("BW.S3.Logging", "config")]["used"] == 1
    assert uses[("BW.S3.Encryption", "config")]["problem"].startswith("unused")  # S3's default encryption passes
    assert report["summary"]["suppressions"] == {"total": 5, "with_problems": 3}
    results = {r["policy"]: r for r in report["results"]}
    assert results["BW.S3.SecureAccess"]["status"] == "FAIL"  # its suppression expired
    assert results["BW.S3.Versioning"]["suppression"]["expires"] == "2999-01-01"
    assert code == 1


def test_sarif_reports_suppression_problems_as_notifications(capsys, files) -> None:
    _, out = _run(capsys, *files[:1], "--config", files[1], "--format", "sarif")
    document = json.loads(out)
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    (invocation,) = document["runs"][0]["invocations"]
    texts = [n["message"]["text"] for n in invocation["toolConfigurationNotifications"]]
    assert len(texts) == 3 and any("names no policy: BW.S3.NoSuchPolicy" in t for t in texts)
    suppressed = next(r for r in document["runs"][0]["results"] if r["ruleId"] == "BW.S3.Versioning")
    (entry,) = suppressed["suppressions"]
    assert entry["kind"] == "inSource" and entry["properties"]["owner"] == "data-team"
    logging = next(r for r in document["runs"][0]["results"] if r["ruleId"] == "BW.S3.Logging")
    assert logging["suppressions"][0]["kind"] == "external"


def test_junit_and_text_report_suppression_problems(capsys, files) -> None:
    _, out = _run(capsys, *files[:1], "--config", files[1], "--format", "junit")
    root = ET.fromstring(out)
    suite = next(s for s in root.iter("testsuite") if s.get("name") == "bucketwatch.suppressions")
    messages = [case.find("skipped").get("message") for case in suite.iter("testcase")]
    assert len(messages) == 3 and any(m.startswith("suppression expired on 2020-01-01") for m in messages)
    _, text = _run(capsys, *files[:1], "--config", files[1])
    assert "SUPPRESSION BW.S3.NoSuchPolicy" in text and "names no policy" in text
    assert "[owner data-team]" in text


@pytest.mark.parametrize(("metadata", "message"), [
    ("{suppressions: [{id: BW.S3.Logging, reason: short}]}", "suppressions[0].reason: a suppression needs a reason"),
    ("{suppressions: [{id: BW.S3.Logging, reason: long enough reason, expires: someday}]}",
     "Metadata.bucketwatch.suppressions[0].expires: expected a date like 2026-12-31, got 'someday'"),
    ("{suppressions: [{reason: long enough reason}]}", "Metadata.bucketwatch.suppressions[0].id: expected a non-empty"),
    ("{suppressions: {id: BW.S3.Logging}}", "Metadata.bucketwatch.suppressions: expected a list, got dict"),
    ("{supressions: []}", "Metadata.bucketwatch: unknown key supressions (did you mean suppressions?)"),
])
def test_bad_metadata_suppressions_are_one_line_errors(capsys, tmp_path: Path, metadata: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(f"Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Metadata:\n      bucketwatch: {metadata}\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_scan_style_review_of_config_suppressions(policies) -> None:
    """`scan` reviews the config file's suppressions against live findings the same way."""
    settings = PostureSettings(suppressions=[Suppression("BW.S3.Versioning", "arn:aws:s3:::scratch", "rebuilt daily")])
    live = Subject(new_bucket("scratch", Versioning=None), ResourceRef(id="arn:aws:s3:::scratch", source="live",
                                                                       name="scratch", arn="arn:aws:s3:::scratch"))
    findings = evaluate(_versioning(policies), [live], settings)
    (use,) = review_suppressions(findings, [], settings, policies)
    assert use.used == 1 and use.problem is None


def test_unknown_key_in_config_suppression_names_it() -> None:
    with pytest.raises(UserError, match=r"posture.suppressions\[0\]: unknown key\(s\) expiry \(did you mean expires\?\)"):
        parse_posture({"suppressions": [{"policy": "p", "reason": "long enough reason", "expiry": "2027-01-01"}]})
