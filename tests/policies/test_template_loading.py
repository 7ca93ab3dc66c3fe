"""Reading templates that are hostile or broken in shape: YAML alias bombs, absurd nesting,
cloud assemblies and nested stacks that contain themselves, macros that rewrite the template.
Each gives one line on stderr and exit 2, quickly; never a traceback."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bucketwatch.cli import main
from policies.sources.cfn_load import MAX_ALIASES, MAX_NESTING, parse_text

BUCKET = "Resources:\n  B:\n    Type: AWS::S3::Bucket\n"


def check(capsys, *paths: Path) -> tuple[int, str]:
    code = main(["check", *map(str, paths)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def billion_laughs(levels: int = 9) -> str:
    """~600 bytes that expand to 10**levels strings if anything walks the loaded document."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    return "\n".join(lines) + f"\nResources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      Tags: *a{levels}\n"


def test_yaml_alias_bomb_is_refused_quickly(capsys, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    assert len(bomb.read_bytes()) < 1000
    started = time.monotonic()
    code, err = check(capsys, bomb)
    # Not a timing assertion on the product: the refusal must come before anything walks the
    # expansion, which would take minutes; the bound only stops a regression from hanging CI.
    assert time.monotonic() - started < 60
    assert code == 2 and "YAML aliases" in one_line(err) and "alias bomb" in err


def test_many_plain_aliases_are_refused_and_a_few_are_read(capsys, tmp_path: Path) -> None:
    many = tmp_path / "many.yaml"
    many.write_text("x: &x v\nl: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n" + BUCKET)
    code, err = check(capsys, many)
    assert code == 2 and f"more than {MAX_ALIASES} YAML aliases" in one_line(err)
    few = tmp_path / "few.yaml"
    few.write_text("Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n"
                   "      VersioningConfiguration: &v {Status: Enabled}\n"
                   "  C:\n    Type: AWS::S3::Bucket\n    Properties:\n      VersioningConfiguration: *v\n")
    assert check(capsys, few)[0] in (0, 1)


def test_star_in_policies_is_not_mistaken_for_an_alias(tmp_path: Path) -> None:
    text = ("Resources:\n  P:\n    Type: AWS::S3::BucketPolicy\n    Properties:\n      Bucket: b\n"
            "      PolicyDocument:\n        Statement:\n          - {Effect: Allow, Principal: '*', Action: s3:*,"
            " Resource: arn:aws:s3:::b/*}\n          - Effect: Allow\n            Principal: \"*\"\n"
            "            Action: ['s3:Get*']\n            Resource: '*'\n")
    body = parse_text(text, tmp_path / "t.yaml")
    assert body["Resources"]["P"]["Properties"]["PolicyDocument"]["Statement"][0]["Action"] == "s3:*"


@pytest.mark.parametrize(("suffix", "depth", "message"), [
    (".json", 1000, "nested more than 100 levels deep"), (".json", 150, "nested more than 100 levels deep"),
    (".yaml", 1000, "nesting depth"),  # libyaml's own limit
    (".yaml", 300, "nested more than 100 levels deep"),
])
def test_very_deep_nesting_is_one_line(capsys, tmp_path: Path, suffix: str, depth: int, message: str) -> None:
    deep = tmp_path / f"deep{suffix}"
    nested = "[" * depth + "]" * depth
    if suffix == ".json":
        deep.write_text('{"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"Tags": ' + nested + "}}}}")
    else:
        deep.write_text(BUCKET + "    Properties:\n      Tags: " + nested + "\n")
    code, err = check(capsys, deep)
    assert code == 2 and message in one_line(err)


def test_deep_but_allowed_nesting_is_judged(capsys, tmp_path: Path) -> None:
    """Just under the limit, every recursive walk (resolver, policies, reporters) still works."""
    depth = MAX_NESTING - 6
    body = {"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "k", "Value": "v"}],
                                                                         "Metadata2": json.loads("[" * depth + "]" * depth)}}}}
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(body))
    for fmt in ("json", "sarif", "junit", "text"):
        assert main(["check", str(path), "--format", fmt]) in (0, 1)
    assert "Traceback" not in capsys.readouterr().err


def _manifest(directory: Path, artifacts: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": artifacts}))


def test_assembly_that_nests_itself_is_one_line(capsys, tmp_path: Path) -> None:
    _manifest(tmp_path / "cdk.out", {"Loop": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "."}}})
    code, err = check(capsys, tmp_path / "cdk.out")
    assert code == 2 and "a cycle" in one_line(err) and "Loop" in err
    _manifest(tmp_path / "two", {"Down": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "stage"}}})
    _manifest(tmp_path / "two" / "stage", {"Up": {"type": "cdk:cloud-assembly", "properties": {"directoryName": ".."}}})
    code, err = check(capsys, tmp_path / "two")
    assert code == 2 and "a cycle" in one_line(err)


def test_nested_stack_that_contains_itself_is_one_line(capsys, tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    _manifest(out, {"App": {"type": "aws:cloudformation:stack",
                            "properties": {"templateFile": "App.template.json", "stackName": "App"}}})
    loop = {"Type": "AWS::CloudFormation::Stack", "Metadata": {"aws:asset:path": "Inner.nested.template.json"}}
    (out / "App.template.json").write_text(json.dumps({"Resources": {"Inner": loop}}))
    (out / "Inner.nested.template.json").write_text(json.dumps({"Resources": {"Again": loop}}))
    code, err = check(capsys, out)
    assert code == 2 and "a cycle" in one_line(err) and "Again" in err


@pytest.mark.parametrize("manifest", [
    '{"artifacts": []}', '{"artifacts": {"A": 5}}', '{"artifacts": {"A": {"type": "aws:cloudformation:stack", '
    '"properties": {"templateFile": 7}}}}', "[]",
])
def test_malformed_manifests_are_one_line_or_skipped(capsys, tmp_path: Path, manifest: str) -> None:
    out = tmp_path / "cdk.out"
    out.mkdir()
    (out / "manifest.json").write_text(manifest)
    code, err = check(capsys, out)
    assert code == 2 and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("text", "message"), [
    ("Transform: Count\n" + BUCKET + "    Count: 3\n", "Transform Count rewrites the template at deploy time"),
    ("Transform: [AWS::Serverless-2016-10-31, PyPlate]\n" + BUCKET, "Transform PyPlate rewrites"),
    ("Transform: {Name: AWS::Include, Parameters: {Location: 's3://snippets/buckets.yaml'}}\n" + BUCKET,
     "Transform AWS::Include (s3://snippets/buckets.yaml) rewrites"),
    ("Resources:\n  Fn::Transform:\n    Name: AWS::Include\n    Parameters: {Location: 's3://x/r.yaml'}\n",
     "Resources: Fn::Transform AWS::Include (s3://x/r.yaml) adds resources at deploy time"),
])
def test_macros_that_rewrite_the_template_are_one_line(capsys, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    code, err = check(capsys, path)
    assert code == 2 and message in one_line(err) and "processed template" in err


def test_sam_transform_is_read(capsys, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Transform: AWS::Serverless-2016-10-31\n" + BUCKET)
    assert check(capsys, path)[0] in (0, 1)
