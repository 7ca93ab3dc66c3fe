"""The CDK validation plugin fails a real synthesis on an unsuppressed FAIL, names our policy
in CDK's validation report, and lets an acknowledgement with a reason through."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("cdk-plugin")
REPO = Path(__file__).resolve().parents[2]


def synth(outdir: Path, acknowledge: str | None = None, config_file: Path | None = None):
    """A one-bucket app with a publicly writable ACL, gated by the plugin; returns the plugin."""
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    from policies.cdk_plugin import BucketwatchValidationPlugin

    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "PluginStack")
    bucket = s3.Bucket(stack, "Drop", bucket_name="plugin-drop-box",
                       access_control=s3.BucketAccessControl.PUBLIC_READ_WRITE,
                       object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
                       block_public_access=s3.BlockPublicAccess(block_public_acls=False, ignore_public_acls=False,
                                                                block_public_policy=False,
                                                                restrict_public_buckets=False))
    if acknowledge:
        bucket.node.default_child.add_metadata("bucketwatch", {"suppressions": [
            {"id": "BW.S3.PublicWrite", "reason": acknowledge}]})
    plugin = BucketwatchValidationPlugin(fail_on="critical", config_file=config_file)
    cdk.Validations.of(app).add_plugins(plugin)
    app.synth()
    return plugin


def our_report(outdir: Path) -> dict:
    report = json.loads((outdir / "validation-report.json").read_text())
    return next(p for p in report["pluginReports"] if p["pluginName"] == "bucketwatch")


def test_bad_bucket_fails_synthesis_with_our_policy_id(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="ValidationFailed") as raised:
        synth(tmp_path)
    assert "[BW.S3.PublicWrite]" in str(raised.value)
    report = our_report(tmp_path)
    assert report["conclusion"] == "failure"
    (violation,) = report["violations"]
    assert violation["ruleName"] == "BW.S3.PublicWrite"
    assert "WRITE to AllUsers" in violation["description"]
    construct = violation["violatingConstructs"][0]
    assert construct["constructPath"] == "PluginStack/Drop/Resource"
    assert construct["cloudFormationResource"]["templatePath"].endswith("PluginStack.template.json")


def test_acknowledgement_in_template_metadata_passes(tmp_path: Path) -> None:
    plugin = synth(tmp_path, acknowledge="partner upload drop box, reviewed by security 2026-11")  # no raise
    assert (tmp_path / "PluginStack.template.json").is_file()
    (finding,) = [f for f in plugin.findings if f.policy.id == "BW.S3.PublicWrite"]
    assert finding.status == "SUPPRESSED" and "drop box" in finding.suppression.reason


def test_acknowledgement_in_config_file_passes(tmp_path: Path) -> None:
    config = tmp_path / "bucketwatch.yml"
    config.write_text("posture:\n  suppressions:\n    - policy: BW.S3.PublicWrite\n"
                      "      resource: 'PluginStack/Drop*'\n      reason: partner upload drop box, reviewed\n")
    plugin = synth(tmp_path / "cdk.out", config_file=config)
    statuses = {f.policy.id: f.status for f in plugin.findings}
    assert statuses["BW.S3.PublicWrite"] == "SUPPRESSED"
    assert statuses["BW.S3.PublicRead"] == "FAIL"  # still reported, below the critical threshold


def test_cdk_cli_synth_is_gated(tmp_path: Path) -> None:
    """`cdk synth` itself (the Node CLI running a Python app) fails on the violation."""
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        import aws_cdk as cdk
        from aws_cdk import aws_s3 as s3
        from policies.cdk_plugin import BucketwatchValidationPlugin

        app = cdk.App()
        stack = cdk.Stack(app, "CliStack")
        s3.Bucket(stack, "Open", access_control=s3.BucketAccessControl.PUBLIC_READ_WRITE,
                  object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
                  block_public_access=s3.BlockPublicAccess(block_public_acls=False, ignore_public_acls=False,
                                                           block_public_policy=False, restrict_public_buckets=False))
        cdk.Validations.of(app).add_plugins(BucketwatchValidationPlugin(fail_on="critical"))
        app.synth()
    """))
    cdk_cli = REPO / "node_modules" / ".bin" / "cdk"
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "1"}
    proc = subprocess.run([str(cdk_cli), "synth", "--app", f"{sys.executable} {app}", "--quiet",
                           "--output", str(tmp_path / "cdk.out")],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert "BW.S3.PublicWrite" in proc.stdout + proc.stderr
