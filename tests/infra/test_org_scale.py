"""The central stack of a large organization still fits AWS's size limits.

The limits are AWS's documented hard limits: an S3 bucket policy is at most 20 KB (20,480
bytes; Amazon S3 User Guide, bucket policies), a KMS key policy at most 32 KB (32,768 bytes; AWS
KMS quotas), an EventBridge event bus policy at most 10,240 characters and an event pattern at
most 2,048 (Amazon EventBridge quotas; both adjustable, we stay within the defaults). Sizes are
of the policy as CloudFormation sends it: intrinsics resolved for the concrete environment,
compact JSON (tests/infra/org_scale.py). Before the archive's grants were keyed on the
organization, its bucket policy passed 20 KB at 21 members of 3 regions.
"""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template
from org_scale import (
    EVENT_BUS_POLICY_LIMIT,
    EVENT_PATTERN_LIMIT,
    KMS_KEY_POLICY_LIMIT,
    S3_BUCKET_POLICY_LIMIT,
    central_template,
    compact_size,
    organization_context,
    policy_sizes,
)
from synth_support import ORG_ID

pytestmark = pytest.mark.xdist_group("infra")
MEMBERS, REGIONS = 300, 3


@pytest.fixture(scope="module")
def large_central(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return central_template(MEMBERS, REGIONS, tmp_path_factory.mktemp("cdk-org-300"))


@pytest.fixture(scope="module")
def small_central(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return central_template(3, REGIONS, tmp_path_factory.mktemp("cdk-org-3"))


def archive_sizes(template: dict) -> dict[str, int]:
    """Size of the archive's bucket policy, key policy, and the alarm intake's bus policy and pattern."""
    sizes = {}
    for size in policy_sizes(template):
        if size.logical_id.startswith(("ArchiveBucketPolicy", "ArchiveKey", "MemberAlarms")):
            sizes[size.what] = size.size
    return sizes


def test_the_generated_organization_is_as_large_as_asked() -> None:
    members = organization_context(MEMBERS, REGIONS)["bucketwatch"]["organization"]["members"]
    assert len({m["account"] for m in members}) == MEMBERS
    assert {len(set(m["regions"])) for m in members} == {REGIONS}


def test_a_300_member_central_stack_fits_the_archive_limits(large_central: dict) -> None:
    sizes = archive_sizes(large_central)
    assert sizes["bucket policy"] < S3_BUCKET_POLICY_LIMIT
    assert sizes["key policy"] < KMS_KEY_POLICY_LIMIT
    assert sizes["event bus policy"] < EVENT_BUS_POLICY_LIMIT
    assert sizes["event pattern"] < EVENT_PATTERN_LIMIT


def test_the_archive_policies_do_not_grow_with_the_members(small_central: dict, large_central: dict) -> None:
    assert archive_sizes(large_central) == archive_sizes(small_central)
    assert set(archive_sizes(large_central)) == {"bucket policy", "key policy", "event bus policy", "event pattern"}


def test_a_members_new_region_changes_nothing_in_the_central_stack(small_central: dict, tmp_path) -> None:
    """The archive admits replication roles by name, so docs/infra.md can say that adding a
    region to a member needs no central redeploy."""
    assert central_template(3, REGIONS - 1, tmp_path) == small_central


def test_the_large_archive_policy_is_scoped_to_the_organization(large_central: dict) -> None:
    """Constant size is not bought with an open policy: every cross-account grant of the
    300-member archive carries the organization."""
    template = Template.from_json(large_central)
    for sid, key in (("AWSCloudTrailWrite", "aws:SourceOrgID"), ("MemberReplicationRolesWriteReplicas", "aws:PrincipalOrgID")):
        template.has_resource_properties("AWS::S3::BucketPolicy", {"PolicyDocument": {"Statement": Match.array_with([
            Match.object_like({"Sid": sid, "Condition": Match.object_like({"StringEquals": Match.object_like({key: ORG_ID})})}),
        ])}})
    # No member account is named anywhere in the archive's policies.
    policies = [r for k, r in large_central["Resources"].items() if k.startswith(("ArchiveBucketPolicy", "ArchiveKey"))]
    assert "100000000299" not in json.dumps(policies)


def test_compact_size_counts_the_policy_as_sent() -> None:
    """The measure itself: partition resolved, no whitespace, UTF-8 bytes."""
    document = {"Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::b/é"]]}}
    assert compact_size(document, {"Resources": {}}) == len('{"Resource":"arn:aws:s3:::b/\u00e9"}'.encode())
    assert compact_size(document, {"Resources": {}}) == 32
