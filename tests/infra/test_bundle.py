"""The Lambda bundle builder and the bundled configuration file."""

from __future__ import annotations

import pytest
from aws_cdk import App
from synth_support import TEST_CONTEXT, read_templates

from infra.app import build_app
from infra.bundling import build_bundle
from infra.config import ConfigError

pytestmark = pytest.mark.xdist_group("infra")


def test_bundle_is_reused_when_nothing_changed_and_carries_the_config(tmp_path) -> None:
    config = tmp_path / "team.yml"
    config.write_text("detections:\n  disabled_rules: []\n")
    first = build_bundle(tmp_path / "build", config_file=config)
    assert (first / "bucketwatch.yml").read_text() == config.read_text()
    assert build_bundle(tmp_path / "build", config_file=config) == first
    config.write_text("detections: {}\n")
    assert build_bundle(tmp_path / "build", config_file=config) != first  # content-addressed
    assert not (first / "team.yml").exists()


def test_missing_config_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"configFile .*nope\.yml does not exist"):
        build_bundle(tmp_path / "build", config_file=tmp_path / "nope.yml")


def test_every_function_points_at_the_bundled_config(tmp_path) -> None:
    deployment = {"account": "111111111111", "region": "us-east-1", "configFile": "detectors/samples/bucketwatch.yml"}
    app = App(outdir=str(tmp_path), context={**TEST_CONTEXT, "bucketwatch": {"deployments": [deployment]}})
    build_app(app, validate=False)
    app.synth()
    (template,) = read_templates(tmp_path).values()
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 3  # detector, posture scanner, scheduled analysis
    for function in functions:
        assert function["Properties"]["Environment"]["Variables"]["BUCKETWATCH_CONFIG"] == "bucketwatch.yml"
