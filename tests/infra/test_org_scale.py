"""The central stack of a large organization still fits AWS's size limits, and nothing in it
grows with the members.

The limits are AWS's documented hard limits (tests/infra/org_scale.py, beside each constant):
an S3 bucket policy is at most 20 KB (20,480 bytes; Amazon S3 User Guide, bucket policies), a KMS
key policy at most 32 KB (32,768 bytes; AWS KMS quotas), an SNS topic policy at most 30 KB (Amazon
SNS quotas), an EventBridge event bus policy at most 10,240 characters and an event pattern at
most 2,048 (Amazon EventBridge quotas; both adjustable, we stay within the defaults), a role's
inline policies together at most 10,240 characters and a managed policy at most 6,144 (IAM and
AWS STS quotas), a function's environment variables at most 4 KB together (AWS Lambda quotas).
Sizes are of the policy as CloudFormation sends it: intrinsics resolved for the concrete
environment, compact JSON (tests/infra/org_scale.py). Before the archive's grants were keyed on
the organization, its bucket policy passed 20 KB at 21 members of 3 regions; before the posture
worker's AssumeRole was keyed on it, CDK's overflow managed policy for the list of audit roles
passed 6,144 characters at 121 members; before the organization's settings moved into the code
asset, the Lambda environments passed 4 KB at 233 members.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Match, Template
from org_scale import central_template, compact_size, organization_context, policy_sizes
from synth_support import ORG_ID, asset_file, render

from detectors.common.organization import BUNDLED_FILE_NAME, FILE_VARIABLE, parse_organization
from infra.naming import POSTURE_ROLE_NAME

pytestmark = pytest.mark.xdist_group("infra")
MEMBERS, REGIONS = 1000, 3
# What policy_sizes must find in the central stack, so a kind that vanished cannot pass unmeasured.
MEASURED = {"bucket policy", "key policy", "topic policy", "event bus policy", "event pattern", "lambda environment",
            "role inline policies"}


@pytest.fixture(scope="module")
def large_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cdk-org-1000")


@pytest.fixture(scope="module")
def large_central(large_out: Path) -> dict:
    return central_template(MEMBERS, REGIONS, large_out)


@pytest.fixture(scope="module")
def small_central(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return central_template(3, REGIONS, tmp_path_factory.mktemp("cdk-org-3"))


def sizes_by_resource(template: dict) -> dict[tuple[str, str], int]:
    return {(size.what, size.logical_id): size.size for size in policy_sizes(template)}


def test_the_generated_organization_is_as_large_as_asked() -> None:
    members = organization_context(MEMBERS, REGIONS)["bucketwatch"]["organization"]["members"]
    assert len({m["account"] for m in members}) == MEMBERS
    assert {len(set(m["regions"])) for m in members} == {REGIONS}


def test_a_1000_member_central_stack_fits_every_aws_limit(large_central: dict) -> None:
    sizes = policy_sizes(large_central)
    assert {size.what for size in sizes} == MEASURED
    assert [size.line() for size in sizes if size.size >= size.limit] == []
    # No overflow: CDK moves a role's statements into managed policies past 10,240 characters.
    assert not [k for k, r in large_central["Resources"].items() if r["Type"] == "AWS::IAM::ManagedPolicy"]


def test_nothing_measured_grows_with_the_members(small_central: dict, large_central: dict) -> None:
    """Every policy, pattern and Lambda environment of the central stack is the same size for 3
    members as for 1,000: the organization appears only as its id and fixed names."""
    assert sizes_by_resource(large_central) == sizes_by_resource(small_central)
    assert "100000000999" not in json.dumps(large_central)


def test_the_members_are_in_the_code_asset_not_the_environment(large_central: dict, large_out: Path) -> None:
    functions = [r for r in large_central["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                 and FILE_VARIABLE in r["Properties"].get("Environment", {}).get("Variables", {})]
    assert len(functions) == 4  # detector, scheduler, posture dispatcher and worker
    for function in functions:
        assert function["Properties"]["Environment"]["Variables"][FILE_VARIABLE] == BUNDLED_FILE_NAME
        settings = parse_organization(json.loads(asset_file(large_out, function, BUNDLED_FILE_NAME)))
        assert len(settings.accounts) == MEMBERS + 1 and settings.organization_id == ORG_ID


def cross_account_assumes(statements: list[dict]) -> list[str]:
    """Allow sts:AssumeRole statements whose roles may be in other accounts (an account wildcard)
    without aws:ResourceOrgID = the organization."""
    problems = []
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] != "Allow" or "sts:AssumeRole" not in actions:
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        in_organization = statement.get("Condition", {}).get("StringEquals", {}).get("aws:ResourceOrgID") == ORG_ID
        if not in_organization and any(r == "*" or r.split(":")[4] == "*" for r in resources):
            problems.append(statement.get("Sid", "?"))
    return problems


def test_the_audit_roles_are_assumed_only_in_the_organization(large_central: dict) -> None:
    """One AssumeRole statement, the audit role's name in any account of the organization; and the
    same check fails it once the organization condition is removed (so it can fail)."""
    resources = large_central["Resources"]
    (worker_role,) = [k for k, r in resources.items() if r["Properties"].get("RoleName") == POSTURE_ROLE_NAME]
    statements = [s for r in resources.values() if r["Type"] == "AWS::IAM::Policy" and {"Ref": worker_role} in r["Properties"]["Roles"]
                  for s in render(r["Properties"]["PolicyDocument"]["Statement"], large_central)]
    (assume,) = [s for s in statements if s["Action"] == "sts:AssumeRole"]
    assert assume == {"Sid": "AssumeMemberAuditRoles", "Effect": "Allow", "Action": "sts:AssumeRole",
                      "Resource": "arn:aws:iam::*:role/BucketwatchAudit",
                      "Condition": {"StringEquals": {"aws:ResourceOrgID": ORG_ID}}}
    every_role = [s for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                  for s in render(r["Properties"]["PolicyDocument"]["Statement"], large_central)]
    assert cross_account_assumes(every_role) == []
    weakened = copy.deepcopy(assume)
    del weakened["Condition"]
    assert cross_account_assumes([weakened]) == ["AssumeMemberAuditRoles"]
    weakened["Condition"] = {"StringEquals": {"aws:ResourceOrgID": "o-someoneelse"}}
    assert cross_account_assumes([weakened]) == ["AssumeMemberAuditRoles"]


def test_a_members_new_region_changes_nothing_in_the_central_stack(small_central: dict, tmp_path) -> None:
    """The archive admits replication roles by name, so docs/infra.md can say that adding a
    region to a member needs no central redeploy."""
    assert central_template(3, REGIONS - 1, tmp_path) == small_central


def test_the_large_archive_policy_is_scoped_to_the_organization(large_central: dict) -> None:
    """Constant size is not bought with an open policy: every cross-account grant of the
    1,000-member archive carries the organization."""
    template = Template.from_json(large_central)
    for sid, key in (("AWSCloudTrailWrite", "aws:SourceOrgID"), ("MemberReplicationRolesWriteReplicas", "aws:PrincipalOrgID")):
        template.has_resource_properties("AWS::S3::BucketPolicy", {"PolicyDocument": {"Statement": Match.array_with([
            Match.object_like({"Sid": sid, "Condition": Match.object_like({"StringEquals": Match.object_like({key: ORG_ID})})}),
        ])}})
    # No member account is named anywhere in the archive's policies.
    policies = [r for k, r in large_central["Resources"].items() if k.startswith(("ArchiveBucketPolicy", "ArchiveKey"))]
    assert "100000000999" not in json.dumps(policies)


def test_compact_size_counts_the_policy_as_sent() -> None:
    """The measure itself: partition resolved, no whitespace, UTF-8 bytes."""
    document = {"Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::b/é"]]}}
    assert compact_size(document, {"Resources": {}}) == len('{"Resource":"arn:aws:s3:::b/\u00e9"}'.encode())
    assert compact_size(document, {"Resources": {}}) == 32
