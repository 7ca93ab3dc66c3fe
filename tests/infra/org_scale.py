"""How the central stack's resource policies grow with the organization: a test utility and a
command-line report.

`central_policy_sizes(members, regions)` synthesizes only the central stage (no member stages,
no validation plugins: the size of what CloudFormation sends is the question) for a generated
organization of `members` accounts with `regions` regions each, and returns the byte size of each
size-limited policy, event pattern, role's inline policies and Lambda environment, serialized as
CloudFormation would send it (intrinsics resolved where a concrete environment resolves them,
compact JSON).

    taskset -c 0 python tests/infra/org_scale.py 3 1000 --all   # members, at 3 regions each
    taskset -c 0 python tests/infra/org_scale.py --regions 1 300
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_support import org_context, read_templates, render

# AWS's documented hard limits, in bytes.
S3_BUCKET_POLICY_LIMIT = 20 * 1024  # Amazon S3: "Bucket policies are limited to 20 KB in size."
KMS_KEY_POLICY_LIMIT = 32 * 1024  # AWS KMS quotas: key policy document, 32 KB (32,768 bytes)
SNS_TOPIC_POLICY_LIMIT = 30 * 1024  # Amazon SNS quotas: topic policy, 30 KB
EVENT_BUS_POLICY_LIMIT = 10 * 1024  # Amazon EventBridge quotas: event bus policy size, 10,240 characters
EVENT_PATTERN_LIMIT = 2048  # Amazon EventBridge quotas: event pattern size, 2,048 characters
LAMBDA_ENVIRONMENT_LIMIT = 4 * 1024  # AWS Lambda quotas: environment variables, 4 KB in total per function
IAM_ROLE_POLICIES_LIMIT = 10_240  # IAM quotas: a role's inline policies together, 10,240 characters
IAM_MANAGED_POLICY_LIMIT = 6_144  # IAM quotas: a managed policy, 6,144 characters
# Real region names: the context is validated.
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1", "ap-northeast-1")
FIRST_ACCOUNT = 100_000_000_000


def organization_context(members: int, regions: int) -> dict[str, Any]:
    """examples/organization-context.json with `members` generated members of `regions` regions each."""
    context = copy.deepcopy(org_context())
    context["bucketwatch"]["organization"]["members"] = [
        {"account": str(FIRST_ACCOUNT + index), "regions": list(REGIONS[:regions])} for index in range(members)
    ]
    return context


def central_template(members: int, regions: int, outdir: Path) -> dict[str, Any]:
    """The central stack's template for a generated organization."""
    from aws_cdk import App

    from infra.central import CentralStage
    from infra.config import CONTEXT_KEY, plan_from_context

    app = App(outdir=str(outdir), context=organization_context(members, regions))
    organization = plan_from_context(app.node.try_get_context(CONTEXT_KEY)).organization
    assert organization is not None
    stage = CentralStage(app, organization)
    app.synth()
    return read_templates(outdir)[stage.stage_name]


def compact_size(value: Any, template: dict[str, Any]) -> int:
    """Bytes of `value` as compact JSON once the concrete environment's intrinsics are resolved."""
    return len(json.dumps(render(value, template), separators=(",", ":"), ensure_ascii=False).encode())


@dataclass(frozen=True)
class PolicySize:
    what: str
    logical_id: str
    size: int
    limit: int

    def line(self) -> str:
        return f"{self.what:<34} {self.size:>7} / {self.limit:>6} bytes ({100 * self.size / self.limit:5.1f}%)  {self.logical_id}"


def policy_sizes(template: dict[str, Any]) -> list[PolicySize]:
    """Every bucket, key, topic, event bus and managed policy, event pattern, role's inline
    policies and Lambda environment of the template, with the limit AWS applies to it."""
    sizes = []
    for logical_id, resource in template["Resources"].items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::BucketPolicy":
            sizes.append(PolicySize("bucket policy", logical_id, compact_size(props["PolicyDocument"], template), S3_BUCKET_POLICY_LIMIT))
        elif kind == "AWS::SNS::TopicPolicy":
            sizes.append(PolicySize("topic policy", logical_id, compact_size(props["PolicyDocument"], template), SNS_TOPIC_POLICY_LIMIT))
        elif kind == "AWS::KMS::Key":
            sizes.append(PolicySize("key policy", logical_id, compact_size(props["KeyPolicy"], template), KMS_KEY_POLICY_LIMIT))
        elif kind == "AWS::Events::EventBusPolicy":
            sizes.append(PolicySize("event bus policy", logical_id, compact_size(props["Statement"], template), EVENT_BUS_POLICY_LIMIT))
        elif kind == "AWS::IAM::ManagedPolicy":
            sizes.append(PolicySize("managed policy", logical_id, compact_size(props["PolicyDocument"], template), IAM_MANAGED_POLICY_LIMIT))
        elif kind == "AWS::Events::Rule" and "EventPattern" in props:
            sizes.append(PolicySize("event pattern", logical_id, compact_size(props["EventPattern"], template), EVENT_PATTERN_LIMIT))
        elif kind == "AWS::Lambda::Function" and "Environment" in props:
            sizes.append(PolicySize("lambda environment", logical_id, _environment_size(props["Environment"]["Variables"], template), LAMBDA_ENVIRONMENT_LIMIT))
    sizes += _role_policy_sizes(template)
    return sizes


def _environment_size(variables: dict[str, Any], template: dict[str, Any]) -> int:
    # Lambda counts the keys and values of all variables together.
    rendered = render(variables, template)
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in rendered.items())


def _role_policy_sizes(template: dict[str, Any]) -> list[PolicySize]:
    per_role: dict[str, int] = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        size = compact_size(resource["Properties"]["PolicyDocument"], template)
        for role in resource["Properties"].get("Roles", []):
            per_role[role.get("Ref", str(role))] = per_role.get(role.get("Ref", str(role)), 0) + size
    return [PolicySize("role inline policies", role, size, IAM_ROLE_POLICIES_LIMIT) for role, size in per_role.items()]


def central_policy_sizes(members: int, regions: int) -> list[PolicySize]:
    with tempfile.TemporaryDirectory(prefix="bucketwatch-scale-") as outdir:
        return policy_sizes(central_template(members, regions, Path(outdir)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("members", type=int, nargs="+", help="member counts to synthesize")
    parser.add_argument("--regions", type=int, default=3, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--all", action="store_true", help="every policy, not only the ones above 10%% of their limit")
    args = parser.parse_args(argv)
    for members in args.members:
        print(f"central stack, {members} members x {args.regions} regions:")
        for size in sorted(central_policy_sizes(members, args.regions), key=lambda s: -s.size / s.limit):
            if args.all or size.size * 10 > size.limit:
                print(f"  {size.line()}{'  OVER' if size.size > size.limit else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
