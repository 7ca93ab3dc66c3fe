"""Our own stack against our own gate: every exception is written down, and opting into
Object Lock removes that exception."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App
from synth_support import CENTRAL, ORG_EXAMPLE, TEST_CONTEXT, Synthesized, read_templates, render

from infra import waivers
from infra.app import build_app, gate_settings
from infra.config import plan_from_context
from policies.registry import load_policies, policies_for
from policies.suppression_tags import TAG_PREFIX, suppression_tags

pytestmark = pytest.mark.xdist_group("infra")
REASONS = {w.reason for w in vars(waivers).values() if isinstance(w, waivers.Waiver)}


def suppressions(assembly: Synthesized, stage: str) -> dict[str, set[str]]:
    template = assembly.templates[stage]
    found: dict[str, set[str]] = {}
    for bucket in assembly.resources(stage, "AWS::S3::Bucket").values():
        name = render(bucket["Properties"]["BucketName"], template).split("-")[1]
        entries = bucket.get("Metadata", {}).get("bucketwatch", {}).get("suppressions", [])
        for entry in entries:
            assert entry["reason"] in REASONS
        found[name] = {entry["id"] for entry in entries}
        # The deployed bucket carries the same exceptions as tags, for the live scan.
        tags = {tag["Key"]: tag["Value"] for tag in bucket["Properties"].get("Tags", [])}
        assert {entry["id"]: suppression_tags([entry["id"]], entry["reason"])[f"{TAG_PREFIX}{entry['id']}"]
                for entry in entries} == {k.removeprefix(TAG_PREFIX): v for k, v in tags.items()
                                          if k.startswith(TAG_PREFIX)}
    return found


def test_only_the_written_exceptions_are_suppressed(assembly: Synthesized, home_stage: str) -> None:
    assert suppressions(assembly, home_stage) == {
        "access": {"BW.S3.Logging", "BW.S3.EncryptionKMS", "BW.S3.ObjectLock", "BW.S3.MonitoringCoverage"},
        "trail": {"BW.S3.ObjectLock"},
        "lake": {"BW.S3.ObjectLock"},
    }


def test_access_log_bucket_keeps_its_role_marker_next_to_suppressions(assembly: Synthesized, home_stage: str) -> None:
    template = assembly.templates[home_stage]
    (log_bucket,) = [
        b for b in assembly.resources(home_stage, "AWS::S3::Bucket").values()
        if render(b["Properties"]["BucketName"], template).startswith("bucketwatch-access-logs-")
    ]
    assert log_bucket["Metadata"]["bucketwatch"]["role"] == "access-log-target"


def test_the_gate_judges_every_policy_and_an_organization_from_inside() -> None:
    """The strict pack (our waivers name strict-only policies such as Object Lock), for a single
    account and for an organization, whose own accounts are not cross-account principals."""
    single = gate_settings(plan_from_context(TEST_CONTEXT["bucketwatch"]))
    org = gate_settings(plan_from_context(json.loads(ORG_EXAMPLE.read_text())["bucketwatch"]))
    every = {p.id for p in load_policies([])}
    assert {p.id for p in policies_for(single)} == {p.id for p in policies_for(org)} == every
    assert single.policy_config()["organization_accounts"] == []
    assert CENTRAL in org.policy_config()["organization_accounts"]


def test_waivers_name_real_reasons() -> None:
    assert len(REASONS) >= 8
    with pytest.raises(ValueError, match="real reason"):
        waivers.Waiver("because")


def test_object_lock_days_locks_trail_and_lake_and_drops_their_exception(tmp_path) -> None:
    context = {**TEST_CONTEXT, "bucketwatch": {"deployments": [{"account": "111111111111", "region": "us-east-1", "objectLockDays": 30}]}}
    app = App(outdir=str(tmp_path), context=context)
    build_app(app)
    app.synth()  # the gate passes with the lock on
    synthesized = Synthesized(tmp_path, read_templates(tmp_path))
    stage = "Bucketwatch-111111111111-us-east-1"
    template = synthesized.templates[stage]
    locked = {
        render(b["Properties"]["BucketName"], template).split("-")[1]: b["Properties"].get("ObjectLockConfiguration")
        for b in synthesized.resources(stage, "AWS::S3::Bucket").values()
    }
    retention = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}}
    assert locked == {"trail": retention, "lake": retention, "access": None}
    assert suppressions(synthesized, stage) == {
        "access": {"BW.S3.Logging", "BW.S3.EncryptionKMS", "BW.S3.ObjectLock", "BW.S3.MonitoringCoverage"},
        "trail": set(),
        "lake": set(),
    }
