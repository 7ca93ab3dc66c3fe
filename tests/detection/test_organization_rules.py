"""The cross-account rules know the organization: `bucketwatch detect` over realistic CloudTrail
records (the ones in the rules' own specs), with the organization from the config file, from the
deployed stack's BUCKETWATCH_ORGANIZATION, and unknown (Panther's behaviour)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

from bucketwatch.cli import main
from detectors.common.organization import ENVIRONMENT_VARIABLE
from detectors.handler import load_settings

RULES = Path(__file__).resolve().parents[2] / "detectors" / "rules"
COPY = "AWS.S3.CopyObjectToExternalAccountBucket"
KMS = "AWS.S3.CopyObject.CrossAccount.Encryption.KMS"
ORGANIZATION = ["111111111111", "222222222222", "333333333333"]
MEMBER, OUTSIDE = "222222222222", "999988887777"


def spec_log(spec: str, name: str) -> dict:
    tests = yaml.safe_load((RULES / spec).read_text())["Tests"]
    return next(t["Log"] for t in tests if t["Name"] == name)


RECORDS = {
    "member to member": spec_log("aws_s3_copy_object_to_external_account_bucket.yml",
                                 "Organization known, member copies to another member's bucket"),
    "member to outside": spec_log("aws_s3_copy_object_to_external_account_bucket.yml",
                                  "Organization known, member copies to a bucket outside it"),
    "member key": spec_log("aws_s3_copy_object_cross_account_kms.yml",
                           "Organization known, a member's key re-encrypts objects (central key management)"),
    "outside key": spec_log("aws_s3_copy_object_cross_account_kms.yml",
                            "Organization known, a key outside it re-encrypts a member's objects"),
}


def detect(tmp_path: Path, config: dict | None = None) -> list[dict]:
    trail = tmp_path / "AWSLogs" / MEMBER / "CloudTrail" / "eu-west-1" / "2026" / "05" / "12"
    trail.mkdir(parents=True)
    with gzip.open(trail / f"{MEMBER}_CloudTrail_eu-west-1_20260512T1120Z_org.json.gz", "wt") as out:
        json.dump({"Records": list(RECORDS.values())}, out)
    argv = ["detect", str(tmp_path / "AWSLogs"), "--no-lake", "--quiet", "--alerts", str(tmp_path / "alerts.jsonl")]
    if config is not None:
        (tmp_path / "bucketwatch.yml").write_text(yaml.safe_dump(config))
        argv += ["--config", str(tmp_path / "bucketwatch.yml")]
    assert main(argv) == 0
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    return [a for a in alerts if a["rule_id"] in (COPY, KMS)]


def test_known_organization_alerts_only_on_accounts_outside_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    alerts = detect(tmp_path, {"organization": {"accounts": ORGANIZATION}})
    assert sorted(a["rule_id"] for a in alerts) == [KMS, COPY]
    copy = next(a for a in alerts if a["rule_id"] == COPY)
    # The alert names both accounts: the member's and the one outside the organization.
    assert MEMBER in copy["title"] and OUTSIDE in copy["title"] and "outside the organization" in copy["title"]
    assert "drop-zone-7731" in copy["title"] and "333333333333" not in copy["title"]
    assert copy["context"]["callerAccount"] == MEMBER
    assert copy["context"]["accountsOutsideOrganization"] == [OUTSIDE]
    kms = next(a for a in alerts if a["rule_id"] == KMS)
    assert MEMBER in kms["title"] and OUTSIDE in kms["title"]
    assert kms["context"]["kmsKeyAccount"] == OUTSIDE and kms["context"]["bucketAccount"] == MEMBER


def test_organization_from_the_deployed_stack(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, json.dumps({"accounts": ORGANIZATION, "audit_role_name": "Audit"}))
    assert load_settings().organization.accounts == tuple(ORGANIZATION)  # the detector Lambda's route
    alerts = detect(tmp_path)
    assert sorted(a["rule_id"] for a in alerts) == [KMS, COPY]
    assert {a["context"].get("kmsKeyAccount") for a in alerts if a["rule_id"] == KMS} == {OUTSIDE}


def test_unknown_organization_keeps_every_other_account_external(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    alerts = detect(tmp_path)
    titles = sorted(a["title"] for a in alerts if a["rule_id"] == COPY)
    # Two copies, two destinations: one alert each (dedup is bucket and actor).
    assert len(titles) == 2 and any("333333333333" in t for t in titles) and any(OUTSIDE in t for t in titles)
    assert not any("outside the organization" in a["title"] for a in alerts)
    assert sorted(a["context"]["kmsKeyAccount"] for a in alerts if a["rule_id"] == KMS) == ["111111111111", OUTSIDE]


@pytest.mark.parametrize("value", ["not json", '{"accounts": ["12"]}'])
def test_a_bad_deployed_organization_is_a_one_line_error(tmp_path: Path, monkeypatch, capsys, value: str) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, value)
    assert main(["detect", str(tmp_path), "--no-lake", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert ENVIRONMENT_VARIABLE in err and len(err.splitlines()) == 1
