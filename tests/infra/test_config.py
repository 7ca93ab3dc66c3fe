"""Deployment settings from context: defaults, overrides, and clear errors for bad values."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from synth_support import REPO_ROOT, no_credentials_env

from infra.config import ConfigError, deployments_from_context
from infra.trail import ReadWrite


def test_no_deployments_means_one_for_the_cli_default_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    (only,) = deployments_from_context({"deployments": []})
    assert (only.account, only.region, only.stage_id, only.trail) == (None, None, "Bucketwatch", True)
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "222222222222")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "ap-south-1")
    (only,) = deployments_from_context(None)
    assert only.stage_id == "Bucketwatch-222222222222-ap-south-1"


def test_defaults_overrides_and_one_trail_per_account() -> None:
    deployments = deployments_from_context(
        {
            "defaults": {"detectorReservedConcurrency": 3, "dataEvents": {"buckets": ["payroll/"], "readWrite": "write"}},
            "deployments": [
                {"account": "111111111111", "region": "us-east-1"},
                {"account": "111111111111", "region": "eu-west-1", "detectorReservedConcurrency": 7},
                {"account": "333333333333", "region": "eu-west-1"},
            ],
        }
    )
    assert [d.trail for d in deployments] == [True, False, True]
    assert [d.detector_reserved_concurrency for d in deployments] == [3, 7, 3]
    assert deployments[0].data_events.locations == ("payroll/",)
    assert deployments[0].data_events.read_write is ReadWrite.WRITE_ONLY


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"deployments": [{"account": "12345", "region": "us-east-1"}]}, r"deployments\[0\]\.account: '12345' is not a 12-digit"),
        ({"deployments": [{"account": "111111111111", "region": "mars-1"}]}, r"region: 'mars-1' is not an AWS region"),
        ({"deployments": [{"regoin": "us-east-1"}]}, r"unknown settings \['regoin'\]"),
        ({"deployments": {"account": "111111111111"}}, "must be a list"),
        ({"defaults": {"dataEvents": {"readWrite": "both"}}}, r"readWrite: 'both' is not one of"),
        ({"defaults": {"dataEvents": {"buckets": "payroll"}}}, "buckets must be a list"),
        ({"defaults": {"postureSchedule": "daily"}}, "is not an EventBridge expression"),
        ({"defaults": {"detectorReservedConcurrency": 0}}, "whole number from 1 to 1000, got 0"),
        ({"defaults": {"trail": "yes"}}, "must be true or false"),
        ({"deploy": []}, r"unknown keys \['deploy'\]"),
        (
            {"deployments": [{"account": "111111111111", "region": "us-east-1"}] * 2},
            "lists Bucketwatch-111111111111-us-east-1 twice",
        ),
    ],
)
def test_bad_values_are_refused_with_the_place_and_the_fix(context: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        deployments_from_context(context)


def test_app_reports_bad_context_in_one_line(tmp_path) -> None:
    bad = {"bucketwatch": {"deployments": [{"account": "nope", "region": "us-east-1"}]}}
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env=no_credentials_env(CDK_OUTDIR=str(tmp_path), CDK_CONTEXT_JSON=json.dumps(bad)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "bucketwatch app: error: context.bucketwatch.deployments[0].account: 'nope' is not a 12-digit" in result.stderr
    assert "Traceback" not in result.stderr


def test_documented_multi_account_example_is_valid() -> None:
    # examples/multi-account-context.json is what docs/infra.md tells users to copy into cdk.json.
    context = json.loads((REPO_ROOT / "examples" / "multi-account-context.json").read_text())
    deployments = deployments_from_context(context["bucketwatch"])
    assert [(d.stage_id, d.trail) for d in deployments] == [
        ("Bucketwatch-111111111111-us-east-1", True),
        ("Bucketwatch-111111111111-eu-west-1", False),
        ("Bucketwatch-222222222222-us-east-1", True),
    ]
    assert deployments[2].data_events.locations == ("payroll", "shared/finance/")
    assert all(d.pyarrow_layer_arn for d in deployments)
