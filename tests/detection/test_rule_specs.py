"""Every built-in rule's own YAML tests, run through the same path as `bucketwatch test`."""

from __future__ import annotations

import pytest

from bucketwatch.analysis_runner import run_rule_test
from detectors.engine.rules import load_rules

RULES = sorted(load_rules(), key=lambda r: r.id)
CASES = [(rule, test) for rule in RULES for test in rule.tests]

CORE_IDS = {
    "AWS.S3.ServerAccess.Error", "AWS.S3.ServerAccess.IPWhitelist", "AWS.S3.ServerAccess.Insecure",
    "AWS.S3.ServerAccess.Unauthenticated", "AWS.S3.ServerAccess.UnknownRequester", "AWS.S3.BucketDeleted",
    "AWS.S3.BucketPolicyModified", "AWS.S3.CopyObject.CrossAccount.Encryption.KMS",
    "AWS.S3.CopyObjectToExternalAccountBucket", "AWS.S3.CopyObjectWithClientSideEncryption",
    "AWS.S3.DeleteBucketEncryption", "AWS.S3.DeleteBucketReplication", "AWS.S3.DeleteObject",
    "AWS.S3.DeleteObjects", "AWS.S3.DeletePublicAccessBlock", "AWS.S3.DisableBucketLogging",
    "AWS.S3.DisableMfaDelete", "AWS.S3.RansomwareNoteUpload", "AWS.S3.SecurityControlDisabling",
    "AWS.S3.SuspendVersioning", "AWS.CloudTrail.VPCE.S3ExternalIP",
}


@pytest.mark.parametrize(("rule", "test"), CASES, ids=[f"{r.id}::{t['Name']}" for r, t in CASES])
def test_rule_yaml_case(rule, test):
    ok, why = run_rule_test(rule, test)
    assert ok, why


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_rule_has_true_and_false_cases(rule):
    assert {bool(t["ExpectedResult"]) for t in rule.tests} == {True, False}


def test_every_core_panther_rule_is_built_in():
    assert {r.id for r in RULES} >= CORE_IDS


def test_rules_with_two_log_types_are_tested_on_both():
    for rule in RULES:
        if len(rule.log_types) < 2:
            continue
        tested = {t["Log"].get("p_log_type") or ("AWS.CloudTrail" if "eventName" in t["Log"] else "AWS.S3ServerAccess")
                  for t in rule.tests if t["ExpectedResult"]}
        assert tested == set(rule.log_types), rule.id
