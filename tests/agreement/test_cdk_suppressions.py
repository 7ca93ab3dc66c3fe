"""One suppression model: the synth gate and `bucketwatch check cdk.out` (the README's CI recipe)
agree on every suppression, whichever way it is written: CDK's own
`Validations.of(c).acknowledge(...)` on a construct, a stack or the App, template metadata, and
the config file; and acknowledging one finding never lets the others through."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gate_support import synth_gated

pytestmark = pytest.mark.xdist_group("cdk-plugin")

PREFIX = "bucketwatch::"
REASONS = {
    "BW.S3.PublicWrite": "partner drop box, reviewed by security in 2026-11",
    "BW.S3.PublicAccessBlockAll": "the drop box stack is public by design (ticket SEC-42)",
    "BW.S3.PublicRead": "every bucket of this app serves public downloads",
}


def _open_bucket(scope, name: str):
    from aws_cdk import aws_s3 as s3

    return s3.Bucket(scope, name, access_control=s3.BucketAccessControl.PUBLIC_READ_WRITE,
                     object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
                     block_public_access=s3.BlockPublicAccess(block_public_acls=False, ignore_public_acls=False,
                                                              block_public_policy=False, restrict_public_buckets=False))


def _synth(outdir: Path, acknowledge: bool = True):
    """A public drop box acknowledged at three levels (construct, stack, App), plus an id written
    without the plugin's prefix, which CDK does not apply to the gate's findings."""
    import aws_cdk as cdk

    from policies.cdk_plugin import BucketwatchValidationPlugin

    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "AckStack")
    bucket = _open_bucket(stack, "Drop")
    if acknowledge:
        cdk.Validations.of(bucket).acknowledge(cdk.Acknowledgment(
            id=PREFIX + "BW.S3.PublicWrite", reason=REASONS["BW.S3.PublicWrite"]))
        cdk.Validations.of(stack).acknowledge(cdk.Acknowledgment(
            id=PREFIX + "BW.S3.PublicAccessBlockAll", reason=REASONS["BW.S3.PublicAccessBlockAll"]))
        cdk.Validations.of(app).acknowledge(cdk.Acknowledgment(
            id=PREFIX + "BW.S3.PublicRead", reason=REASONS["BW.S3.PublicRead"]))
        cdk.Validations.of(bucket).acknowledge(cdk.Acknowledgment(
            id="BW.S3.AclsDisabled", reason="ACLs are how partners write, reviewed"))
    else:  # an acknowledgement of some other tool's rule only
        cdk.Validations.of(bucket).acknowledge(cdk.Acknowledgment(id="AwsSolutions-S1", reason="no access logs here"))
    return synth_gated(app, BucketwatchValidationPlugin(fail_on="high", scope=app))


@pytest.fixture(scope="module")
def acknowledged(tmp_path_factory: pytest.TempPathFactory):
    outdir = tmp_path_factory.mktemp("ack") / "cdk.out"
    return (outdir, *_synth(outdir))


def _check(outdir: Path, *extra: str) -> tuple[int, dict]:
    cli = Path(sys.executable).parent / "bucketwatch"
    proc = subprocess.run([str(cli), "check", str(outdir), "--format", "json", "--fail-on", "high", *extra],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_acknowledged_findings_pass_the_gate_and_the_ci_check(acknowledged) -> None:
    outdir, plugin, error = acknowledged
    assert error is None  # every High-or-worse failure is acknowledged
    code, report = _check(outdir)
    assert code == 0  # the README's recipe agrees with the gate
    from_check = {(r["resource"], r["policy"]): (r["status"], (r["suppression"] or {}).get("reason"))
                  for r in report["results"]}
    from_plugin = {(f.ref.id, f.policy.id): (f.status, f.suppression.reason if f.suppression else None)
                   for f in plugin.findings}
    assert from_plugin == from_check
    for policy, reason in REASONS.items():
        (status, why), = [v for (_, p), v in from_check.items() if p == policy]
        assert (status, why) == ("SUPPRESSED", reason)


def test_acknowledgements_are_reported_where_written(acknowledged) -> None:
    outdir, _, _ = acknowledged
    _, report = _check(outdir)
    by_policy = {r["policy"]: r["suppression"] for r in report["results"] if r["suppression"]}
    assert by_policy["BW.S3.PublicWrite"]["origin"] == "cdk acknowledgement"
    assert by_policy["BW.S3.PublicWrite"]["where"] == f"Validations.of(AckStack/Drop).acknowledge('{PREFIX}BW.S3.PublicWrite')"
    assert by_policy["BW.S3.PublicAccessBlockAll"]["where"].startswith("Validations.of(AckStack)")
    assert by_policy["BW.S3.PublicRead"]["where"].startswith("Validations.of(the app)")  # from validation-report.json


def test_an_id_without_the_plugin_prefix_is_reported_not_applied(acknowledged) -> None:
    outdir, plugin, _ = acknowledged
    _, report = _check(outdir)
    statuses = {r["policy"]: r["status"] for r in report["results"]}
    assert statuses["BW.S3.AclsDisabled"] == "FAIL"  # CDK would not apply it either
    (problem,) = [s for s in report["suppressions"] if s["policy"] == "BW.S3.AclsDisabled"]
    assert f"acknowledge '{PREFIX}BW.S3.AclsDisabled' instead" in problem["problem"]
    assert any("BW.S3.AclsDisabled" in use.suppression.policy and use.problem for use in plugin.suppressions)


def test_an_unrelated_acknowledgement_does_not_open_the_gate(tmp_path: Path) -> None:
    """CDK re-decides success from violation severities once anything is acknowledged: the
    gate's violations must be "error", or any acknowledgement passes every High failure."""
    _, error = _synth(tmp_path / "cdk.out", acknowledge=False)
    assert error is not None and "ValidationFailed" in str(error) and "[BW.S3.PublicWrite]" in str(error)
    report = json.loads((tmp_path / "cdk.out" / "validation-report.json").read_text())
    ours = next(p for p in report["pluginReports"] if p["pluginName"] == "bucketwatch")
    assert ours["conclusion"] == "failure"
    assert {v["severity"] for v in ours["violations"]} == {"error"}


def test_config_file_suppression_is_honoured_by_both(tmp_path: Path) -> None:
    import aws_cdk as cdk

    from policies.cdk_plugin import BucketwatchValidationPlugin

    config = tmp_path / "bucketwatch.yml"
    config.write_text("posture:\n  suppressions:\n" + "".join(
        f"    - policy: {policy}\n      resource: 'Cfg/Drop*'\n      reason: {reason!r}\n      owner: data-platform\n"
        for policy, reason in REASONS.items()))
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    _open_bucket(cdk.Stack(app, "Cfg"), "Drop")
    plugin = BucketwatchValidationPlugin(fail_on="high", config_file=config)
    cdk.Validations.of(app).add_plugins(plugin)
    app.synth()  # no raise: the config file acknowledges all three
    code, report = _check(tmp_path / "cdk.out", "--config", str(config))
    assert code == 0
    suppressed = {r["policy"]: r["suppression"]["owner"] for r in report["results"] if r["status"] == "SUPPRESSED"}
    assert suppressed == dict.fromkeys(REASONS, "data-platform")
