"""The runner's verdicts (never a guess), suppressions, thresholds, and posture config validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from detectors.common.errors import UserError
from policies.config import PostureSettings, Suppression, parse_posture
from policies.model import mark_not_applicable, mark_unknown, new_bucket
from policies.registry import load_policies
from policies.runner import ResourceRef, Subject, blocking, evaluate, judge, summarize


def _by_id(policies, policy_id):
    return next(p for p in policies if p.id == policy_id)


def _subject(resource, **ref) -> Subject:
    return Subject(resource, ResourceRef(id=ref.pop("id", resource["Name"]), source="template", **ref))


def test_unknown_field_gives_unknown_with_the_reason(policies) -> None:
    bucket = new_bucket("b", Versioning="Enabled")
    mark_unknown(bucket, "Versioning", "GetBucketVersioning: AccessDenied")
    assert judge(_by_id(policies, "BW.S3.Versioning"), bucket) == ("UNKNOWN", "Versioning: GetBucketVersioning: AccessDenied")


def test_not_applicable_field(policies) -> None:
    bucket = new_bucket("b")
    mark_not_applicable(bucket, "MFADelete", "not expressible in CloudFormation")
    assert judge(_by_id(policies, "BW.S3.MFADelete"), bucket)[0] == "NOT_APPLICABLE"


def test_conditionally_read_unknown_field_gives_unknown(policies) -> None:
    grants = [{"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]
    bucket = new_bucket("b", Grants=grants)
    mark_unknown(bucket, "PublicAccessBlockConfiguration", "GetPublicAccessBlock: AccessDenied")
    status, reason = judge(_by_id(policies, "BW.S3.PublicRead"), bucket)
    assert status == "UNKNOWN" and "AccessDenied" in reason


def _user_policy(tmp_path: Path, body: str, fields: str = "") -> list:
    (tmp_path / "p.py").write_text(body)
    (tmp_path / "p.yml").write_text(
        f"AnalysisType: policy\nFilename: p.py\nPolicyID: User.P\nSeverity: High\n{fields}"
    )
    return [p for p in load_policies([tmp_path]) if p.id == "User.P"]


def test_declared_unknown_field_means_the_policy_is_not_called(tmp_path: Path) -> None:
    [policy] = _user_policy(tmp_path, "def policy(resource):\n    raise AssertionError('called')\n", "Fields: [Policy]\n")
    bucket = new_bucket("b")
    mark_unknown(bucket, "Policy", "GetBucketPolicy: AccessDenied")
    assert judge(policy, bucket)[0] == "UNKNOWN"


def test_policy_that_raises_is_unknown_not_a_crash(tmp_path: Path) -> None:
    [policy] = _user_policy(tmp_path, "def policy(resource):\n    return resource['Missing'] > 1\n")
    status, reason = judge(policy, new_bucket("b"))
    assert status == "UNKNOWN" and "KeyError" in reason


def test_undeclared_policy_reading_unknown_field_is_unknown(tmp_path: Path) -> None:
    [policy] = _user_policy(tmp_path, "def policy(resource):\n    return resource.get('Versioning') == 'Enabled'\n")
    bucket = new_bucket("b")
    mark_unknown(bucket, "Versioning", "denied")
    assert judge(policy, bucket) == ("UNKNOWN", "Versioning: denied")
    assert judge(policy, new_bucket("b", Versioning="Suspended"))[0] == "FAIL"


def test_suppressions_from_config_and_metadata(policies) -> None:
    versioning = [_by_id(policies, "BW.S3.Versioning")]
    subjects = [
        _subject(new_bucket("logs", Versioning=None), id="Stack/LogBucket", logical_id="LogBucket"),
        _subject(new_bucket("data", Versioning=None), id="Stack/Data",
                 suppressions=[Suppression("AWS.S3.Bucket.Versioning", "Stack/Data", "scratch data, rebuilt nightly",
                                           origin="resource metadata")]),
        _subject(new_bucket("other", Versioning=None), id="Stack/Other"),
    ]
    settings = PostureSettings(suppressions=[Suppression("BW.S3.Vers*", "Log*", "log bucket keeps no versions")])
    findings = {f.ref.id: f for f in evaluate(versioning, subjects, settings)}
    assert findings["Stack/LogBucket"].status == "SUPPRESSED"
    assert findings["Stack/LogBucket"].suppression.origin == "config"
    assert findings["Stack/Data"].status == "SUPPRESSED"
    assert findings["Stack/Data"].suppression.origin == "resource metadata"
    assert findings["Stack/Other"].status == "FAIL"
    assert [f.ref.id for f in blocking(findings.values(), "info")] == ["Stack/Other"]


def test_threshold_and_disabled_policies(policies) -> None:
    subject = _subject(new_bucket("b", Versioning=None, Name="my.bucket"))
    chosen = [_by_id(policies, "BW.S3.Versioning"), _by_id(policies, "BW.S3.NameDNSCompliance")]
    findings = evaluate(chosen, [subject])
    assert {f.policy.id for f in blocking(findings, "info")} == {"BW.S3.Versioning", "BW.S3.NameDNSCompliance"}
    assert {f.policy.id for f in blocking(findings, "low")} == {"BW.S3.Versioning"}
    assert blocking(findings, "medium") == []
    assert summarize(findings, "medium")["exit_code"] == 0
    disabled = evaluate(chosen, [subject], PostureSettings(disabled_policies=["BW.S3.Versioning"]))
    assert [f.policy.id for f in disabled] == ["BW.S3.NameDNSCompliance"]


def test_cross_account_allowlist_reaches_the_policy(policies) -> None:
    policy_json = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:GetObject","Resource":"*"}]}'
    subject = _subject(new_bucket("b", AccountId="111122223333", Policy=policy_json))
    cross = [_by_id(policies, "BW.S3.CrossAccountPrincipals")]
    assert evaluate(cross, [subject])[0].status == "FAIL"
    allowed = PostureSettings(cross_account_allowlist=["444455556666"])
    assert evaluate(cross, [subject], allowed)[0].status == "PASS"


def test_posture_config_is_validated() -> None:
    settings = parse_posture({
        "severity_threshold": "HIGH",
        "cross_account_allowlist": ["111122223333"],
        "suppressions": [{"policy": "BW.S3.Logging", "resource": "Logs*", "reason": "log bucket itself"}],
    })
    assert settings.severity_threshold == "High" and settings.suppressions[0].resource == "Logs*"
    assert parse_posture(None) == PostureSettings()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"suppressions": [{"policy": "BW.S3.Logging", "reason": "short"}]}, "at least 10 characters"),
        ({"suppressions": [{"resource": "x", "reason": "a long enough reason"}]},
         "posture.suppressions[0].policy: expected a non-empty string, got nothing"),
        ({"suppressions": [{"policy": "p", "reason": "a long enough reason", "until": 1}]},
         "posture.suppressions[0]: unknown key(s) until"),
        ({"suppressions": [{"policy": "p", "reason": "a long enough reason", "expires": "soon"}]},
         "posture.suppressions[0].expires: expected a date like 2026-12-31, got 'soon'"),
        ({"suppressions": [{"policy": "p", "reason": "a long enough reason", "owner": 7}]},
         "posture.suppressions[0].owner: expected a non-empty string, got 7"),
        ({"suppressions": {"policy": "p"}}, "posture.suppressions: expected a list, got dict"),
        ({"cross_account_allowlist": ["12345"]}, "posture.cross_account_allowlist[0]: '12345' is neither a 12-digit"),
        ({"severity_threshold": "severe"}, "severity must be one of"),
        ({"colour": "blue"}, "unknown key(s) colour"),
        ({"synth_trails_complete": "yes"}, "posture.synth_trails_complete: expected true or false, got 'yes'"),
        ({"pack": ""}, "posture.pack: expected a non-empty string"),
        ({"policies": "BW.S3.Logging"}, "posture.policies: expected a list, got str"),
    ],
)
def test_posture_config_errors(section, message) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        parse_posture(section)


def test_cross_account_with_a_deploy_time_account_is_unknown(policies) -> None:
    """A literal account id against an environment-agnostic stack's own account: cannot tell."""
    policy_json = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root",' \
                  '"arn:aws:iam::${AccountId}:role/app"]},"Action":"s3:GetObject","Resource":"*"}]}'
    cross = _by_id(policies, "BW.S3.CrossAccountPrincipals")
    status, reason = judge(cross, new_bucket("b", AccountId="${AccountId}", Policy=policy_json), {})
    assert status == "UNKNOWN" and "444455556666" in reason
    own_only = policy_json.replace("arn:aws:iam::444455556666:root", "arn:aws:iam::${AccountId}:root")
    assert judge(cross, new_bucket("b", AccountId="${AccountId}", Policy=own_only), {})[0] == "PASS"
