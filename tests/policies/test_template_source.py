"""The template source on hand-written CloudFormation (JSON and YAML with short-form tags),
broken inputs, and a real CDK synth (cdk.out with a nested stack)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.common.errors import UserError
from policies.config import PostureSettings
from policies.runner import evaluate
from policies.sources.cfn_load import parse_text
from policies.sources.template import collect_template_subjects

TEMPLATES = Path(__file__).parent / "templates"


def _verdicts(policies, paths, settings=None) -> dict[tuple[str, str], tuple[str, str]]:
    subjects = collect_template_subjects([str(p) for p in paths], settings)
    return {(f.ref.logical_id, f.policy.id): (f.status, f.reason) for f in evaluate(policies, subjects, settings)}


def _resources(paths, settings=None) -> dict[str, dict]:
    return {s.ref.logical_id: s for s in collect_template_subjects([str(p) for p in paths], settings)}


def test_short_form_yaml_tags_are_resolved() -> None:
    body = parse_text("A: !Ref X\nB: !GetAtt Res.Arn\nC: !Sub '${X}-y'\nD: !If [Cond, 1, 2]\nE: !Join [',', [a, b]]\n"
                      "V: 2012-10-17\n", Path("t.yaml"))
    assert body == {"A": {"Ref": "X"}, "B": {"Fn::GetAtt": ["Res", "Arn"]}, "C": {"Fn::Sub": "${X}-y"},
                    "D": {"Fn::If": ["Cond", 1, 2]}, "E": {"Fn::Join": [",", ["a", "b"]]}, "V": "2012-10-17"}


def test_yaml_template_assembles_policy_logging_and_conditions(policies) -> None:
    subjects = _resources([TEMPLATES / "short_form.yaml"])
    data = subjects["DataBucket"]
    assert data.resource["Name"] == "${StackName}-data"  # a lone template's stack is named at deploy time
    assert data.resource["Versioning"] == "Enabled"  # !If on a condition that is always true
    assert data.resource["LoggingPolicy"]["TargetBucket"] == subjects["LogBucket"].resource["Name"]
    assert data.resource["LoggingTarget"]["Exists"] is True
    assert json.loads(data.resource["Policy"])["Statement"][0]["Resource"] == [
        "arn:aws:s3:::${StackName}-data", "arn:aws:s3:::${StackName}-data/*"]
    assert data.ref.line == 9 and data.ref.file.endswith("short_form.yaml")
    verdicts = _verdicts(policies, [TEMPLATES / "short_form.yaml"])
    assert verdicts[("DataBucket", "BW.S3.SecureAccess")][0] == "PASS"
    assert verdicts[("DataBucket", "BW.S3.EncryptionKMS")][0] == "PASS"  # KMSMasterKeyID from !GetAtt Key.Arn
    assert verdicts[("DataBucket", "BW.S3.ObjectLock")][0] == "SUPPRESSED"  # resource Metadata suppression
    # A principal built from AWS::AccountId is the bucket's own account; a literal 444455556666 may
    # or may not be, since this template can be deployed into any account.
    status, reason = verdicts[("DataBucket", "BW.S3.CrossAccountPrincipals")]
    assert status == "UNKNOWN" and "444455556666" in reason and "deploy time" in reason


def test_unresolvable_values_give_unknown_not_a_guess(policies) -> None:
    verdicts = _verdicts(policies, [TEMPLATES / "short_form.yaml"])
    status, reason = verdicts[("LogBucket", "BW.S3.Versioning")]  # !If [IsProd, Enabled, Suspended]
    assert status == "UNKNOWN" and reason == (
        "depends on condition IsProd (parameter Env is given at deploy time): PASS when IsProd is true; "
        "FAIL (versioning is Suspended) when IsProd is false")
    status, reason = _verdicts(policies, [TEMPLATES / "secure.json"])[("AccessLogs", "BW.S3.LifecycleConfiguration")]
    assert status == "UNKNOWN" and "LogRetentionDays" in reason


def test_json_template_verdicts(policies) -> None:
    verdicts = _verdicts(policies, [TEMPLATES / "secure.json"])
    status = {key: value[0] for key, value in verdicts.items()}
    assert status[("Data", "BW.S3.SecureAccess")] == "PASS"
    assert status[("Data", "BW.S3.LogTargetSanity")] == "PASS"
    assert status[("Data", "BW.S3.MonitoringCoverage")] == "PASS"  # access logging
    assert status[("AccessLogs", "BW.S3.SecureAccess")] == "FAIL"
    assert status[("SelfLogging", "BW.S3.PublicRead")] == "FAIL"  # AccessControl PublicRead
    assert status[("SelfLogging", "BW.S3.Versioning")] == "FAIL"  # Suspended
    assert status[("SelfLogging", "BW.S3.NameDNSCompliance")] == "FAIL"
    assert verdicts[("SelfLogging", "BW.S3.LogTargetSanity")] == (
        "FAIL", "the bucket logs to itself (every log delivery writes another log record)")
    assert status[("Data", "BW.S3.MFADelete")] == "NOT_APPLICABLE"
    # Account Block Public Access is judged on the account (live scans), never per template bucket.
    assert not [key for key in status if key[1] == "BW.S3.AccountPublicAccessBlock"]
    for policy in ("MultiRegion", "LogFileValidation", "KMS", "Logging", "S3DataEvents"):
        assert status[("Trail", f"BW.CloudTrail.{policy}")] == "PASS"


def test_trail_coverage_and_the_closed_world_setting(policies) -> None:
    # AccessLogs has no logging and no trail covers it: UNKNOWN at synth time (an organization
    # trail may exist), FAIL once the configuration says the templates hold every trail.
    verdicts = _verdicts(policies, [TEMPLATES / "secure.json"])
    assert verdicts[("AccessLogs", "BW.S3.MonitoringCoverage")][0] == "UNKNOWN"
    closed = _verdicts(policies, [TEMPLATES / "secure.json"], PostureSettings(synth_trails_complete=True))
    assert closed[("AccessLogs", "BW.S3.MonitoringCoverage")][0] == "FAIL"
    covering = _resources([TEMPLATES / "secure.json"])["SelfLogging"].resource["CoveringTrails"]
    assert [t["Name"] for t in covering] == ["secure-Trail"]


def test_aws_defaults_can_be_turned_off(policies) -> None:
    with_defaults = _resources([TEMPLATES / "short_form.yaml"])["LogBucket"].resource
    assert with_defaults["EncryptionRules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    without = _resources([TEMPLATES / "short_form.yaml"], PostureSettings(template_assume_aws_defaults=False))
    assert without["LogBucket"].resource["EncryptionRules"] is None


@pytest.mark.parametrize(
    ("name", "message"),
    [("broken.yaml", "invalid YAML at line 5"), ("not_a_template.yaml", "not a CloudFormation template"),
     ("missing.json", "path not found")],
)
def test_unusable_input_is_a_user_error(name, message) -> None:
    with pytest.raises(UserError, match=message):
        collect_template_subjects([str(TEMPLATES / name)])


def test_broken_json_names_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "t.json"
    broken.write_text('{\n  "Resources": {\n    "B": {"Type": "AWS::S3::Bucket",,}\n  }\n}\n')
    with pytest.raises(UserError, match="invalid JSON at line 3"):
        collect_template_subjects([str(broken)])


def test_short_suppression_reason_in_metadata_is_rejected(tmp_path: Path) -> None:
    template = {"Resources": {"B": {"Type": "AWS::S3::Bucket", "Metadata": {
        "bucketwatch": {"suppressions": [{"id": "BW.S3.Logging", "reason": "nope"}]}}}}}
    (tmp_path / "t.json").write_text(json.dumps(template))
    with pytest.raises(UserError, match="at least 10 characters"):
        collect_template_subjects([str(tmp_path / "t.json")])


@pytest.mark.xdist_group("policies-cdk")
def test_real_cdk_synth_output(policies, cdk_out: Path) -> None:
    subjects = collect_template_subjects([str(cdk_out)])
    by_path = {s.ref.construct_path: s for s in subjects}
    assert {"BwPosture/Secure/Resource", "BwPosture/Public/Resource", "BwPosture/AccessLogs/Resource",
            "BwPosture/Inner/NestedPlain/Resource", "BwPosture/DataTrail/Resource"} <= set(by_path)
    nested = by_path["BwPosture/Inner/NestedPlain/Resource"]
    assert nested.ref.file.endswith(".nested.template.json")
    verdicts = {(f.ref.construct_path, f.policy.id): f for f in evaluate(policies, subjects)}

    def status(path: str, policy: str) -> str:
        return verdicts[(f"BwPosture/{path}/Resource", policy)].status

    for policy in ("BW.S3.SecureAccess", "BW.S3.EncryptionKMS", "BW.S3.Versioning", "BW.S3.LogTargetSanity",
                   "BW.S3.Logging", "BW.S3.PublicAccessBlockAll", "BW.S3.LifecycleConfiguration",
                   "BW.S3.CrossAccountPrincipals"):
        assert status("Secure", policy) == "PASS", policy
    assert status("Public", "BW.S3.PrincipalRestrictions") == "FAIL"  # public_read_access policy
    assert status("Public", "BW.S3.SecureAccess") == "FAIL"
    assert status("AccessLogs", "BW.S3.Logging") == "SUPPRESSED"  # add_metadata on the L1 resource
    assert verdicts[("BwPosture/AccessLogs/Resource", "BW.S3.Logging")].suppression.reason.startswith("the access-log")
    assert status("AccessLogs", "BW.S3.MonitoringCoverage") == "PASS"  # the trail's data-event selector
    assert status("Inner/NestedPlain", "BW.S3.Versioning") == "FAIL"
    assert status("Secure", "BW.S3.MFADelete") == "NOT_APPLICABLE"
    assert verdicts[("BwPosture/DataTrail/Resource", "BW.CloudTrail.MultiRegion")].status == "PASS"
    assert verdicts[("BwPosture/DataTrail/Resource", "BW.CloudTrail.KMS")].status == "FAIL"


def test_import_value_resolves_across_stacks(policies) -> None:
    # The consumer logs into the producer's bucket, which uses SSE-KMS: log delivery would fail.
    verdicts = _verdicts(policies, [TEMPLATES / "cross_stack"])
    status, reason = verdicts[("App", "BW.S3.LogTargetSanity")]
    assert status == "FAIL" and "shared-access-logs uses SSE-KMS" in reason
    status, reason = verdicts[("Orphan", "BW.S3.LogTargetSanity")]
    assert status == "UNKNOWN" and "elsewhere:Name comes from another stack" in reason
    assert verdicts[("Orphan", "BW.S3.Logging")][0] == "PASS"  # logging is on; only its target is unknown


def test_assembly_environment_and_nested_stack_parameters(policies, tmp_path: Path) -> None:
    """A cloud assembly's environment fills account and region; a nested stack's parameters come
    from its parent (resolved there); a stage's nested assembly is read too."""
    stage = tmp_path / "assembly-Prod"
    stage.mkdir()
    parent = {"Resources": {"Child": {"Type": "AWS::CloudFormation::Stack",
                                      "Metadata": {"aws:asset:path": "child.nested.template.json"},
                                      "Properties": {"Parameters": {"Status": {"Fn::If": ["On", "Enabled", "Suspended"]}}}}},
              "Conditions": {"On": {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}}}
    child = {"Parameters": {"Status": {"Type": "String"}},
             "Resources": {"Versioned": {"Type": "AWS::S3::Bucket",
                                         "Properties": {"VersioningConfiguration": {"Status": {"Ref": "Status"}}}}}}
    (stage / "Prod-App.template.json").write_text(json.dumps(parent))
    (stage / "child.nested.template.json").write_text(json.dumps(child))
    (stage / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": {"ProdApp": {
        "type": "aws:cloudformation:stack", "environment": "aws://111122223333/eu-west-1",
        "properties": {"templateFile": "Prod-App.template.json", "stackName": "Prod-App"}}}}))
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": {"assembly-Prod": {
        "type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}}}}))
    [bucket] = collect_template_subjects([str(tmp_path)])
    assert bucket.ref.stack == "Prod-App/Child" and bucket.ref.file.endswith("child.nested.template.json")
    assert (bucket.resource["AccountId"], bucket.resource["Region"]) == ("111122223333", "eu-west-1")
    verdict = {f.policy.id: f.status for f in evaluate(policies, [bucket])}
    assert verdict["BW.S3.Versioning"] == "PASS"
