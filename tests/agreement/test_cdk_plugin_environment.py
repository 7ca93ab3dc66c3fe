"""The validation plugin inside `app.synth()` and `bucketwatch check cdk.out` judge the same app
alike: CDK hands the plugin bare template paths, yet the plugin knows each stack's account from
the cloud assembly (top-level stacks, a stage's sub-assembly, nested stacks), so a bucket policy
granting a partner account FAILs in both, and an environment-agnostic stack is UNKNOWN in both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gate_support import synth_gated

pytestmark = pytest.mark.xdist_group("cdk-plugin")

OWN, PARTNER = "111111111111", "222222222222"
CROSS = "BW.S3.CrossAccountPrincipals"


def _shared_bucket(scope) -> None:
    """A private bucket whose policy lets the partner account's root read objects."""
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_s3 as s3

    bucket = s3.Bucket(scope, "Shared", enforce_ssl=True)
    bucket.add_to_resource_policy(iam.PolicyStatement(
        principals=[iam.ArnPrincipal(f"arn:aws:iam::{PARTNER}:root")],
        actions=["s3:GetObject"], resources=[bucket.arn_for_objects("*")]))


def _synth(outdir: Path):
    """Synthesizes the app with the plugin attached; returns the plugin (its findings) and the
    synthesis error, if any."""
    import aws_cdk as cdk

    from policies.cdk_plugin import BucketwatchValidationPlugin

    app = cdk.App(outdir=str(outdir))
    partner = cdk.Stack(app, "Partner", env=cdk.Environment(account=OWN, region="us-east-1"))
    _shared_bucket(partner)
    _shared_bucket(cdk.NestedStack(partner, "Inner"))
    stage = cdk.Stage(app, "Prod")
    _shared_bucket(cdk.Stack(stage, "Partner", env=cdk.Environment(account=OWN, region="eu-west-1")))
    _shared_bucket(cdk.Stack(app, "Anywhere"))  # environment-agnostic: deployed into any account
    return synth_gated(app, BucketwatchValidationPlugin(fail_on="high"))


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory):
    outdir = tmp_path_factory.mktemp("env") / "cdk.out"
    return outdir, *_synth(outdir)


def _check_results(outdir: Path) -> list[dict]:
    cli = Path(sys.executable).parent / "bucketwatch"
    proc = subprocess.run([str(cli), "check", "--format", "json", str(outdir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr  # the partner grant is a FAIL
    return json.loads(proc.stdout)["results"]


def test_plugin_and_check_give_the_same_verdicts(synthesized) -> None:
    outdir, plugin, _ = synthesized
    from_check = {(r["resource"], r["policy"]): (r["status"], r["reason"]) for r in _check_results(outdir)}
    from_plugin = {(f.ref.id, f.policy.id): (f.status, f.reason) for f in plugin.findings}
    assert from_plugin == from_check


def test_partner_grant_fails_where_the_account_is_named(synthesized) -> None:
    _, plugin, _ = synthesized
    cross = {f.ref.construct_path: (f.status, f.ref.account) for f in plugin.findings if f.policy.id == CROSS}
    assert cross == {
        "Partner/Shared/Resource": ("FAIL", OWN),
        "Partner/Inner/Shared/Resource": ("FAIL", OWN),  # a nested stack deploys with its parent
        "Prod/Partner/Shared/Resource": ("FAIL", OWN),  # a stage's stack, in assembly-Prod/
        "Anywhere/Shared/Resource": ("UNKNOWN", None),
    }
    assert all(PARTNER in f.reason for f in plugin.findings if f.policy.id == CROSS)


def test_cdk_validation_report_names_the_partner_grant(synthesized) -> None:
    outdir, _, error = synthesized
    assert "ValidationFailed" in str(error) and f"[{CROSS}]" in str(error)
    report = json.loads((outdir / "validation-report.json").read_text())
    ours = next(p for p in report["pluginReports"] if p["pluginName"] == "bucketwatch")
    (violation,) = [v for v in ours["violations"] if v["ruleName"] == CROSS]
    assert {c["constructPath"] for c in violation["violatingConstructs"]} == {
        "Partner/Shared/Resource", "Partner/Inner/Shared/Resource", "Prod/Partner/Shared/Resource"}


def test_a_template_file_is_read_through_its_assembly(synthesized, tmp_path: Path) -> None:
    """What the plugin is given (single files) loads as the assembly describes them; a copy
    outside any assembly stays environment-agnostic."""
    from policies.sources.cfn_load import load_paths

    outdir = synthesized[0]
    (stage_template,) = (outdir / "assembly-Prod").glob("*.template.json")
    (staged,) = load_paths([stage_template])
    assert (staged.stack, staged.account, staged.region) == ("Prod-Partner", OWN, "eu-west-1")
    top = load_paths([outdir / "Partner.template.json"])
    assert [(t.stack.split("/")[0], t.account, t.region) for t in top] == [("Partner", OWN, "us-east-1")] * 2
    assert top[1].parent is top[0]  # the nested stack comes with its parent
    copy = tmp_path / stage_template.name
    copy.write_text(stage_template.read_text())
    (bare,) = load_paths([copy])
    assert (bare.account, bare.region, bare.stack_name_known) == (None, None, False)
