"""Helpers shared by the infra tests (imported by conftest and test modules).

Shared synthesis for the infra tests: each expensive synth runs once per session (per worker).

- `assembly`: the app built by `infra.app.build_app` with the light Lambda code stub, two
  deployments (us-east-1 with the trail, eu-west-1 without), validation plugins on.
- `org_assembly`: the same for examples/organization-context.json (central 999999999999 in
  us-east-1; members 111111111111 us-east-1+eu-west-1, 222222222222 us-east-1,
  333333333333 eu-west-1+ap-southeast-2).
- `app_out`: `python app.py` as a user runs it (real Lambda bundle, default context) into a
  temporary cdk.out, with no AWS credentials in the environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.bundling import STUB_CONTEXT_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "111111111111"
HOME_REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
TEST_CONTEXT = {
    STUB_CONTEXT_KEY: "true",
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "bucketwatch": {
        "defaults": {"scanRegions": [HOME_REGION, OTHER_REGION]},
        "deployments": [
            {"account": ACCOUNT, "region": HOME_REGION},
            {"account": ACCOUNT, "region": OTHER_REGION},
        ],
    },
}

EXAMPLES = sorted((REPO_ROOT / "examples").glob("*context*.json"))
ORG_EXAMPLE = REPO_ROOT / "examples" / "organization-context.json"
CENTRAL, CENTRAL_REGION, ORG_ID = "999999999999", "us-east-1", "o-a1b2c3d4e5"
MEMBER_REGIONS = {"111111111111": ("us-east-1", "eu-west-1"), "222222222222": ("us-east-1",), "333333333333": ("eu-west-1", "ap-southeast-2")}
CENTRAL_STAGE = f"Bucketwatch-{CENTRAL}-{CENTRAL_REGION}"
MEMBER_STAGES = [f"Bucketwatch-{account}-{region}" for account, regions in MEMBER_REGIONS.items() for region in regions]
HOME_STAGES = {account: f"Bucketwatch-{account}-{regions[0]}" for account, regions in MEMBER_REGIONS.items()}


def org_context() -> dict[str, Any]:
    return {
        **json.loads(ORG_EXAMPLE.read_text()),
        STUB_CONTEXT_KEY: "true",
        "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    }


def offline_command(command: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """`command` and `env` changed so the command has no network at all: a new, empty network
    namespace (`unshare -rn`); where user namespaces are not allowed, proxies on a closed port,
    which stop every HTTP client that honours them (the AWS SDKs, npm, pip)."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-rn", *command], env
    closed = "http://127.0.0.1:9"
    return command, {**env, "HTTP_PROXY": closed, "HTTPS_PROXY": closed, "NO_PROXY": ""}


@dataclass
class Synthesized:
    outdir: Path
    templates: dict[str, dict[str, Any]]  # stage id -> template

    def resources(self, stage: str, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.templates[stage]["Resources"].items() if v["Type"] == type_name}


def read_templates(outdir: Path) -> dict[str, dict[str, Any]]:
    templates = {}
    for path in sorted(outdir.glob("assembly-*/*.template.json")):
        templates[path.parent.name.removeprefix("assembly-")] = json.loads(path.read_text())
    return templates


def asset_dir(outdir: Path, function: dict[str, Any]) -> Path:
    """The staged code asset of `function` (a template's Lambda resource) in the cdk.out."""
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    (directory,) = {p for p in outdir.rglob(f"asset.{asset_hash}") if p.is_dir()}
    return directory


def asset_file(outdir: Path, function: dict[str, Any], name: str) -> str:
    """The text of file `name` in the code asset of `function`."""
    return (asset_dir(outdir, function) / name).read_text()


def no_credentials_env(**extra: str) -> dict[str, str]:
    """The current environment minus anything that could reach an AWS account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env




@dataclass
class CheckovRun:
    returncode: int
    failed: list[tuple[str, str]]  # (check id, resource)
    skipped: list[tuple[str, str]]  # (check id, resource type), sorted
    skip_comments: list[str]
    passed: int


def run_checkov(outdir: Path) -> CheckovRun:
    """checkov's built-in CloudFormation checks over a cdk.out, as a user runs them."""
    checkov = Path(sys.executable).with_name("checkov")
    result = subprocess.run(
        [str(checkov), "-d", str(outdir), "--framework", "cloudformation", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    reports = json.loads(result.stdout)
    results = [r["results"] for r in (reports if isinstance(reports, list) else [reports])]
    skipped = [c for r in results for c in r["skipped_checks"]]
    return CheckovRun(
        returncode=result.returncode,
        failed=[(c["check_id"], c["resource"]) for r in results for c in r["failed_checks"]],
        skipped=sorted((c["check_id"], c["resource"].split(".")[0]) for c in skipped),
        skip_comments=[c["check_result"]["suppress_comment"] for c in skipped],
        passed=sum(len(r["passed_checks"]) for r in results),
    )


PSEUDO = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def render(value: Any, template: dict[str, Any]) -> Any:
    """Resolve what a concrete-environment template can resolve: pseudo parameters, Ref of a
    named bucket/topic, GetAtt Arn of a named bucket, Fn::Join. Anything else stays `<...>`."""
    if isinstance(value, list):
        return [render(v, template) for v in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(str(render(p, template)) for p in parts)
    if "Ref" in value:
        name = value["Ref"]
        if name in PSEUDO:
            return PSEUDO[name]
        resource = template["Resources"].get(name, {})
        if resource.get("Type") == "AWS::S3::Bucket" and "BucketName" in resource.get("Properties", {}):
            return render(resource["Properties"]["BucketName"], template)
        return f"<Ref {name}>"
    if "Fn::GetAtt" in value:
        name, attribute = value["Fn::GetAtt"]
        resource = template["Resources"].get(name, {})
        if resource.get("Type") == "AWS::S3::Bucket" and attribute == "Arn" and "BucketName" in resource["Properties"]:
            return "arn:aws:s3:::" + render(resource["Properties"]["BucketName"], template)
        return f"<{name}.{attribute}>"
    return {k: render(v, template) for k, v in value.items()}
