"""Every policy's metadata and Panther-format tests; Panther's own pack through our policies."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policies.registry import SEVERITIES, load_policies

BUILTIN = load_policies()
TUTORIAL_SEVEN_AND_KMS = {
    "BW.S3.Encryption", "BW.S3.Logging", "BW.S3.MFADelete", "BW.S3.PublicAccessBlock", "BW.S3.PublicRead",
    "BW.S3.PublicWrite", "BW.S3.Versioning", "BW.S3.SecureAccess", "BW.S3.EncryptionKMS",
}
CAREFUL_TEAM = {
    "BW.S3.AclsDisabled", "BW.S3.AccountPublicAccessBlock", "BW.S3.LogTargetSanity", "BW.S3.CrossAccountPrincipals",
    "BW.S3.MonitoringCoverage", "BW.CloudTrail.MultiRegion", "BW.CloudTrail.LogFileValidation", "BW.CloudTrail.KMS",
    "BW.CloudTrail.Logging", "BW.CloudTrail.S3DataEvents",
}


def test_the_required_policies_exist() -> None:
    ids = {p.id for p in BUILTIN}
    assert ids >= TUTORIAL_SEVEN_AND_KMS | CAREFUL_TEAM


@pytest.mark.parametrize("policy", BUILTIN, ids=lambda p: p.id)
def test_metadata_is_complete(policy) -> None:
    assert policy.title and policy.description and policy.remediation
    assert policy.severity in SEVERITIES
    assert policy.fields, "a built-in policy declares the fields it reads"
    assert policy.path.with_suffix(".py").is_file()
    outcomes = {bool(test["ExpectedResult"]) for test in policy.tests}
    assert outcomes == {True, False}, "each policy has compliant and non-compliant test cases"


@pytest.mark.parametrize(
    ("policy", "test"), [(p, t) for p in BUILTIN for t in p.tests], ids=lambda v: getattr(v, "id", None) or v["Name"]
)
def test_policy_yaml_tests(policy, test) -> None:
    assert policy.run_test_resource(test["Resource"], test.get("Config")) is bool(test["ExpectedResult"])


def _panther_cases(pack: Path) -> list[tuple[str, dict]]:
    cases = []
    for spec_path in sorted((pack / "policies" / "aws_s3_policies").glob("*.yml")):
        spec = yaml.safe_load(spec_path.read_text())
        cases += [(spec["PolicyID"], test) for test in spec.get("Tests") or []]
    return cases


def test_every_core_panther_policy_has_an_implementation(conformance_dir: Path) -> None:
    core = {policy_id for policy_id, _ in _panther_cases(conformance_dir)}
    implemented = {p.panther_id for p in BUILTIN}
    assert len(core) == 15
    assert core <= implemented, f"missing: {sorted(core - implemented)}"


def test_panther_pack_tests_pass(conformance_dir: Path) -> None:
    by_panther = {p.panther_id: p for p in BUILTIN if p.panther_id}
    failures = [
        f"{policy_id}: {test['Name']}"
        for policy_id, test in _panther_cases(conformance_dir)
        if by_panther[policy_id].run_test_resource(test["Resource"]) is not bool(test["ExpectedResult"])
    ]
    assert len(_panther_cases(conformance_dir)) == 45  # SOURCE.md: 45 tests in 15 core policies
    assert failures == []


def test_user_policy_directory_loads_panther_format(tmp_path: Path) -> None:
    (tmp_path / "tagged.py").write_text("def policy(resource):\n    return 'owner' in (resource.get('Tags') or {})\n")
    (tmp_path / "tagged.yml").write_text(
        "AnalysisType: policy\nFilename: tagged.py\nPolicyID: Custom.S3.Tagged\nSeverity: Low\n"
        "ResourceTypes: [AWS.S3.Bucket]\nTests:\n  - Name: tagged\n    ExpectedResult: true\n"
        "    Resource: {Tags: {owner: me}}\n"
    )
    (tmp_path / "rule.yml").write_text("AnalysisType: rule\nRuleID: Not.A.Policy\n")
    loaded = {p.id: p for p in load_policies([tmp_path])}
    custom = loaded["Custom.S3.Tagged"]
    assert custom.fields is None and custom.panther_id == "Custom.S3.Tagged"
    assert custom.run_test(custom.tests[0])
    assert "Not.A.Policy" not in loaded and "BW.S3.Encryption" in loaded
