"""The deliberately insecure example fails synthesis with exactly the findings it was written to show."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from synth_support import REPO_ROOT, no_credentials_env

pytestmark = pytest.mark.xdist_group("infra-app")

WEBSITE, UPLOADS = "InsecureExample/Website/Resource", "InsecureExample/Uploads/Resource"
EXPECTED = {
    "AwsSolutions": {
        "AwsSolutions-S1": {WEBSITE, UPLOADS},  # no server access logging
        "AwsSolutions-S2": {WEBSITE},  # public access block switched off
        # plain HTTP allowed: flagged on the buckets and on their policies
        "AwsSolutions-S10": {WEBSITE, UPLOADS, "InsecureExample/Website/Policy/Resource", "InsecureExample/Uploads/Policy/Resource"},
    },
    "bucketwatch": {
        "BW.S3.Logging": {WEBSITE, UPLOADS},
        "BW.S3.SecureAccess": {WEBSITE, UPLOADS},
        "BW.S3.Versioning": {WEBSITE, UPLOADS},
        "BW.S3.EncryptionKMS": {WEBSITE, UPLOADS},  # CDK's default is SSE-S3
        "BW.S3.LifecycleConfiguration": {WEBSITE, UPLOADS},
        "BW.S3.ObjectLock": {WEBSITE, UPLOADS},
        "BW.S3.PublicAccessBlockAll": {WEBSITE},
        "BW.S3.PrincipalRestrictions": {WEBSITE},  # public_read_access: Principal * on GetObject
        "BW.S3.CrossAccountPrincipals": {UPLOADS},  # the partner account may read uploads
    },
}


def test_insecure_example_fails_with_exactly_the_intended_findings(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "examples/insecure_app.py"],
        cwd=REPO_ROOT,
        env=no_credentials_env(CDK_OUTDIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "jsii" not in result.stderr
    # A concise summary after CDK's own report: one line per finding, then where the report is.
    summary = result.stderr[result.stderr.index("insecure example: synthesis failed the gate"):].splitlines()
    expected_lines = sorted(
        f"  {rule} ({plugin}): {path}" for plugin, rules in EXPECTED.items() for rule, paths in rules.items() for path in paths
    )
    assert summary[0] == f"insecure example: synthesis failed the gate with {len(expected_lines)} unacknowledged finding(s):"
    assert sorted(summary[1:-1]) == expected_lines
    assert summary[-1] == f"insecure example: full report: {tmp_path / 'validation-report.json'}"
    report = json.loads((tmp_path / "validation-report.json").read_text())
    found = {
        plugin["pluginName"]: {
            violation["ruleName"]: {c["constructPath"] for c in violation["violatingConstructs"]}
            for violation in plugin["violations"]
        }
        for plugin in report["pluginReports"]
    }
    assert found == EXPECTED
    assert all(plugin["conclusion"] == "failure" for plugin in report["pluginReports"])
