"""SARIF results land on the user's CDK code: the file and line that created the construct
(CDK's creation stack trace, recorded for Python apps with JSII_HOST_STACK_TRACES=1), with the
synthesized template as a related location and the construct path as the logical location.
Without recorded user frames they point at the template, as before."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jsonschema
import pytest

from bucketwatch.cli import main

pytestmark = pytest.mark.xdist_group("policies-cdk")
SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())
APP = '''
import aws_cdk as cdk
from aws_cdk import aws_s3 as s3


def build(outdir):
    app = cdk.App(outdir=outdir)
    stack = cdk.Stack(app, "Site")
    s3.Bucket(stack, "Assets", versioned=False)  # line 9: the finding belongs here
    app.synth()
'''


def _synth(tmp_path: Path) -> Path:
    source = tmp_path / "site_app.py"
    source.write_text(APP)
    spec = importlib.util.spec_from_file_location(f"site_app_{tmp_path.name}", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(str(tmp_path / "cdk.out"))
    return tmp_path / "cdk.out"


def _sarif(capsys, outdir: Path) -> dict:
    assert main(["check", str(outdir), "--format", "sarif"]) == 1
    document = json.loads(capsys.readouterr().out)
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    return document


def test_results_point_at_the_line_that_created_the_construct(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JSII_HOST_STACK_TRACES", "1")
    monkeypatch.chdir(tmp_path)  # CI runs from the repository root: paths are relative to it
    outdir = _synth(tmp_path)
    result = next(r for r in _sarif(capsys, outdir)["runs"][0]["results"] if r["ruleId"] == "BW.S3.Versioning")
    (location,) = result["locations"]
    assert location["physicalLocation"] == {"artifactLocation": {"uri": "site_app.py"}, "region": {"startLine": 9}}
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "Site/Assets/Resource"
    (related,) = result["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "cdk.out/Site.template.json"
    assert related["physicalLocation"]["region"]["startLine"] > 0


def test_without_recorded_user_frames_results_point_at_the_template(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JSII_HOST_STACK_TRACES", raising=False)
    monkeypatch.chdir(tmp_path)
    outdir = _synth(tmp_path)
    result = next(r for r in _sarif(capsys, outdir)["runs"][0]["results"] if r["ruleId"] == "BW.S3.Versioning")
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "cdk.out/Site.template.json"
    assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "Site/Assets/Resource"
    assert "relatedLocations" not in result


def test_json_carries_the_source_location(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JSII_HOST_STACK_TRACES", "1")
    monkeypatch.chdir(tmp_path)
    outdir = _synth(tmp_path)
    main(["check", str(outdir), "--format", "json"])
    result = next(r for r in json.loads(capsys.readouterr().out)["results"] if r["policy"] == "BW.S3.Versioning")
    assert (result["source_file"], result["source_line"]) == ("site_app.py", 9)
