"""The organization's central log archive: who may write (CloudTrail trails and replication roles
of the organization, by name), what feeds the detector, and the central account's own trail into
it. The policies' size against AWS's limits is in test_org_scale.py."""

from __future__ import annotations

import copy
import fnmatch
import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from synth_support import (
    CENTRAL,
    CENTRAL_REGION,
    CENTRAL_STAGE,
    MEMBER_REGIONS,
    ORG_ID,
    Synthesized,
    read_templates,
    render,
)

from infra.archive import LogArchive
from infra.detector import DETECTOR_HANDLER

pytestmark = pytest.mark.xdist_group("infra")
ARCHIVE = f"bucketwatch-archive-{CENTRAL}-{CENTRAL_REGION}"
# Each account's trail lives in its home region (its first listed); the central one in its region.
TRAILS = {
    CENTRAL: f"arn:aws:cloudtrail:{CENTRAL_REGION}:{CENTRAL}:trail/bucketwatch-data-events",
    **{a: f"arn:aws:cloudtrail:{r[0]}:{a}:trail/bucketwatch-data-events" for a, r in MEMBER_REGIONS.items()},
}
TRAIL_PATTERN = "arn:aws:cloudtrail:*:*:trail/bucketwatch-data-events"
ROLE_PATTERN = "arn:aws:iam::*:role/bucketwatch-replication-*"
IN_ORGANIZATION_TRAILS = {"StringEquals": {"aws:SourceOrgID": ORG_ID}, "ArnLike": {"aws:SourceArn": TRAIL_PATTERN}}
REPLICATION_ROLES = sorted(
    f"arn:aws:iam::{account}:role/bucketwatch-replication-{region}"
    for account, regions in MEMBER_REGIONS.items()
    for region in regions
)


def central(org_assembly: Synthesized) -> dict:
    return org_assembly.templates[CENTRAL_STAGE]


def archive_bucket(org_assembly: Synthesized) -> tuple[str, dict]:
    template = central(org_assembly)
    return next(
        (k, v) for k, v in org_assembly.resources(CENTRAL_STAGE, "AWS::S3::Bucket").items()
        if render(v["Properties"]["BucketName"], template) == ARCHIVE
    )


def archive_document(org_assembly: Synthesized) -> dict:
    bucket_id, _ = archive_bucket(org_assembly)
    (policy,) = [
        p for p in org_assembly.resources(CENTRAL_STAGE, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return render(policy["Properties"]["PolicyDocument"], central(org_assembly))


def archive_policy(org_assembly: Synthesized) -> dict[str, dict]:
    return {s.get("Sid", "deny-insecure"): s for s in archive_document(org_assembly)["Statement"]}


def archive_key(org_assembly: Synthesized) -> tuple[str, dict]:
    return next(
        (k, v) for k, v in org_assembly.resources(CENTRAL_STAGE, "AWS::KMS::Key").items()
        if v["Properties"]["Description"] == "Bucketwatch organization log archive"
    )


def test_archive_as_a_template_spec(org_assembly: Synthesized) -> None:
    template = Template.from_json(central(org_assembly))
    key_id, _ = archive_key(org_assembly)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": ARCHIVE,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]}}}
                    )
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicPolicy": True, "RestrictPublicBuckets": True}),
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            # The archive's own access logs go to the central region's log bucket, partitioned.
            "LoggingConfiguration": Match.object_like({"DestinationBucketName": f"bucketwatch-access-logs-{CENTRAL}-{CENTRAL_REGION}"}),
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"Description": "Bucketwatch organization log archive", "EnableKeyRotation": True})
    # Members name the key by alias: they cannot know its id.
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/bucketwatch-archive", "TargetKeyId": {"Fn::GetAtt": [key_id, "Arn"]}})


def test_cloudtrail_writes_by_organization_and_trail_name_each_account_under_its_own_prefix(org_assembly: Synthesized) -> None:
    """Constant size: the organization and the trail's name, not one statement per trail. The
    policy variable keeps each account under `AWSLogs/<its own account>/`."""
    statements = archive_policy(org_assembly)
    assert not [sid for sid in statements if sid.startswith("AWSCloudTrailWrite") and sid != "AWSCloudTrailWrite"]
    assert statements["AWSCloudTrailWrite"] == {
        "Sid": "AWSCloudTrailWrite",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{ARCHIVE}/AWSLogs/${{aws:SourceAccount}}/*",
        "Condition": {
            "StringEquals": {"aws:SourceOrgID": ORG_ID, "s3:x-amz-acl": "bucket-owner-full-control"},
            "ArnLike": {"aws:SourceArn": TRAIL_PATTERN},
        },
    }
    acl = statements["AWSCloudTrailAclCheck"]
    assert (acl["Action"], acl["Resource"]) == ("s3:GetBucketAcl", f"arn:aws:s3:::{ARCHIVE}")
    assert acl["Condition"] == IN_ORGANIZATION_TRAILS
    # Every trail the app builds matches the pattern (the central one and each member's).
    assert all(fnmatch.fnmatchcase(trail, TRAIL_PATTERN) for trail in TRAILS.values())


def test_only_replication_roles_of_the_organization_write_replicas(org_assembly: Synthesized) -> None:
    statements = archive_policy(org_assembly)
    replicas = statements["MemberReplicationRolesWriteReplicas"]
    # "*" narrowed by the organization and the roles' name: a list of roots grew with every member.
    assert replicas["Principal"] == {"AWS": "*"}
    assert sorted(replicas["Action"]) == ["s3:ObjectOwnerOverrideToBucketOwner", "s3:ReplicateObject", "s3:ReplicateTags"]
    assert replicas["Resource"] == f"arn:aws:s3:::{ARCHIVE}/*"
    assert replicas["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": ORG_ID},
        "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/bucketwatch-replication-*"},
    }
    # Every replication role the member stages create matches the pattern.
    assert all(fnmatch.fnmatchcase(role, replicas["Condition"]["ArnLike"]["aws:PrincipalArn"]) for role in REPLICATION_ROLES)
    assert not fnmatch.fnmatchcase("arn:aws:iam::111111111111:role/Admin", replicas["Condition"]["ArnLike"]["aws:PrincipalArn"])
    versioning = statements["MemberReplicationRolesCheckVersioning"]
    assert versioning["Action"] == "s3:GetBucketVersioning" and versioning["Resource"] == f"arn:aws:s3:::{ARCHIVE}"
    assert versioning["Principal"] == {"AWS": "*"} and versioning["Condition"] == replicas["Condition"]
    # No member may delete, re-configure or read the archive.
    member_actions = {a for s in statements.values() if "AWS" in str(s.get("Principal")) and s["Effect"] == "Allow"
                      for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert member_actions == {"s3:ObjectOwnerOverrideToBucketOwner", "s3:ReplicateObject", "s3:ReplicateTags", "s3:GetBucketVersioning"}
    assert statements["deny-insecure"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_archive_key_lets_the_organizations_trails_encrypt(org_assembly: Synthesized) -> None:
    _, key = archive_key(org_assembly)
    statements = {s.get("Sid"): s for s in render(key["Properties"]["KeyPolicy"]["Statement"], central(org_assembly))}
    encrypt = statements["AllowCloudTrailToEncryptLogs"]
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    assert encrypt["Condition"] == {
        **IN_ORGANIZATION_TRAILS,
        "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": TRAIL_PATTERN},
    }
    describe = statements["AllowCloudTrailToDescribeKey"]
    assert describe["Condition"] == IN_ORGANIZATION_TRAILS
    assert {s.get("Sid") for s in statements.values() if "cloudtrail" in str(s["Principal"])} == {
        "AllowCloudTrailToEncryptLogs", "AllowCloudTrailToDescribeKey"
    }


def unscoped_grants(document: dict) -> list[str]:
    """Allow statements of an archive policy that reach beyond the archive's own account (a service
    principal, or "*") without both the organization condition and a name pattern."""
    problems = []
    for statement in document["Statement"]:
        principal = statement.get("Principal")
        if statement["Effect"] != "Allow" or principal == {"AWS": f"arn:aws:iam::{CENTRAL}:root"}:
            continue
        organization = statement.get("Condition", {}).get("StringEquals", {})
        names = statement.get("Condition", {}).get("ArnLike", {})
        if {"aws:SourceOrgID": ORG_ID}.items() <= organization.items() and names.get("aws:SourceArn") == TRAIL_PATTERN:
            continue
        if {"aws:PrincipalOrgID": ORG_ID}.items() <= organization.items() and names.get("aws:PrincipalArn") == ROLE_PATTERN:
            continue
        problems.append(statement.get("Sid", "?"))
    return problems


def test_every_archive_grant_carries_the_organization_and_a_name_pattern(org_assembly: Synthesized) -> None:
    """Template assertions on the synthesized central stack; and the same check fails a policy
    from which the organization condition is removed (so it can fail)."""
    template = Template.from_json(central(org_assembly))
    for sid in ("AWSCloudTrailAclCheck", "AWSCloudTrailWrite"):
        template.has_resource_properties("AWS::S3::BucketPolicy", {"PolicyDocument": {"Statement": Match.array_with([
            Match.object_like({"Sid": sid, "Condition": Match.object_like({
                "StringEquals": Match.object_like({"aws:SourceOrgID": ORG_ID}),
                "ArnLike": {"aws:SourceArn": Match.any_value()},
            })}),
        ])}})
    for sid in ("MemberReplicationRolesWriteReplicas", "MemberReplicationRolesCheckVersioning"):
        template.has_resource_properties("AWS::S3::BucketPolicy", {"PolicyDocument": {"Statement": Match.array_with([
            Match.object_like({"Sid": sid, "Condition": {
                "StringEquals": {"aws:PrincipalOrgID": ORG_ID},
                "ArnLike": {"aws:PrincipalArn": Match.any_value()},
            }}),
        ])}})
    documents = [archive_document(org_assembly), render(archive_key(org_assembly)[1]["Properties"]["KeyPolicy"], central(org_assembly))]
    assert [unscoped_grants(d) for d in documents] == [[], []]
    for document in documents:
        for index, statement in enumerate(document["Statement"]):
            if statement["Effect"] != "Allow" or "Condition" not in statement:
                continue
            weakened = copy.deepcopy(document)
            equals = weakened["Statement"][index]["Condition"]["StringEquals"]
            equals.pop("aws:SourceOrgID", None), equals.pop("aws:PrincipalOrgID", None)
            assert unscoped_grants(weakened) == [statement["Sid"]]


def test_new_archive_objects_feed_the_central_detector(org_assembly: Synthesized) -> None:
    template = central(org_assembly)
    _, bucket = archive_bucket(org_assembly)
    topics = org_assembly.resources(CENTRAL_STAGE, "AWS::SNS::Topic")
    notification_topic = next(k for k, v in topics.items() if "new log objects" in v["Properties"]["DisplayName"])
    # No prefix filter: CloudTrail files (AWSLogs/) and replicated access logs (<bucket>/<account>/...).
    assert bucket["Properties"]["NotificationConfiguration"] == {
        "TopicConfigurations": [{"Event": "s3:ObjectCreated:*", "Topic": {"Ref": notification_topic}}]
    }
    detector_role = next(
        v["Properties"]["Role"]["Fn::GetAtt"][0] for v in org_assembly.resources(CENTRAL_STAGE, "AWS::Lambda::Function").values()
        if v["Properties"]["Handler"] == DETECTOR_HANDLER
    )
    reads = [
        render(s["Resource"], template)
        for p in org_assembly.resources(CENTRAL_STAGE, "AWS::IAM::Policy").values() if {"Ref": detector_role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "s3:GetObject"
    ]
    assert sorted(reads) == sorted([f"arn:aws:s3:::{ARCHIVE}/*", f"arn:aws:s3:::bucketwatch-access-logs-{CENTRAL}-{CENTRAL_REGION}/*"])


def test_central_trail_delivers_into_the_archive_and_excludes_the_central_buckets(org_assembly: Synthesized) -> None:
    template = central(org_assembly)
    (trail,) = org_assembly.resources(CENTRAL_STAGE, "AWS::CloudTrail::Trail").values()
    key_id, _ = archive_key(org_assembly)
    props = trail["Properties"]
    bucket_id, _ = archive_bucket(org_assembly)
    assert props["S3BucketName"] == {"Ref": bucket_id}
    # CloudTrail checks the bucket policy when the trail is created: it must exist first.
    policy_id = next(k for k, p in org_assembly.resources(CENTRAL_STAGE, "AWS::S3::BucketPolicy").items()
                     if p["Properties"]["Bucket"] == {"Ref": bucket_id})
    assert policy_id in trail["DependsOn"]
    assert props["KMSKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    fields = {f["Field"]: f for f in props["AdvancedEventSelectors"][1]["FieldSelectors"]}
    assert render(fields["resources.ARN"]["NotStartsWith"], template) == [
        f"arn:aws:s3:::bucketwatch-{kind}-{CENTRAL}-{CENTRAL_REGION}/" for kind in ("access-logs", "lake", "archive")
    ]
    # Only the single-account trail has a bucket of its own.
    assert not [b for b in org_assembly.resources(CENTRAL_STAGE, "AWS::S3::Bucket").values()
                if "trail" in render(b["Properties"]["BucketName"], template)]


def test_log_archive_construct_alone_without_replication() -> None:
    """A center whose members only send CloudTrail: no replication statement at all."""
    stack = Stack(App(), "Center", env={"account": CENTRAL, "region": CENTRAL_REGION})
    LogArchive(stack, "Archive", organization_id=ORG_ID, replication_role_pattern=None)
    template = Template.from_stack(stack)
    (policy,) = template.find_resources("AWS::S3::BucketPolicy").values()
    sids = {s.get("Sid") for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert sids == {None, "AWSCloudTrailAclCheck", "AWSCloudTrailWrite"}


def test_log_archive_construct_alone_without_cloudtrail() -> None:
    """No trail delivers to the archive: neither the bucket nor the key admits CloudTrail."""
    stack = Stack(App(), "Center", env={"account": CENTRAL, "region": CENTRAL_REGION})
    LogArchive(stack, "Archive", organization_id=ORG_ID, trail_name=None)
    template = Template.from_stack(stack)
    assert "cloudtrail" not in json.dumps(template.find_resources("AWS::S3::BucketPolicy"))
    assert "cloudtrail" not in json.dumps(template.find_resources("AWS::KMS::Key"))


def synthesize_members(tmp_path, trail: bool, central_trail: bool = True) -> Synthesized:
    from synth_support import org_context

    from infra.app import build_app

    context = org_context()
    organization = context["bucketwatch"]["organization"]
    organization["members"] = [{**m, "trail": trail} if i == 0 else m for i, m in enumerate(organization["members"])]
    if not central_trail:
        organization["central"] = {**organization["central"], "trail": False}
        organization["members"] = [{**m, "trail": False} for m in organization["members"]]
    app = App(outdir=str(tmp_path), context=context)
    build_app(app, validate=False)
    app.synth()
    return Synthesized(tmp_path, read_templates(tmp_path))


def test_a_member_without_a_trail_gets_no_trail_and_the_archive_names_no_account(tmp_path, org_assembly: Synthesized) -> None:
    """`trail: false` (the account's CloudTrail reaches the archive some other way): no trail in
    its stage. The archive's grants name the organization and the trail's name, not accounts, so
    they are the same as with the trail (the documented price of constant size), and its logs
    still replicate."""
    synthesized = synthesize_members(tmp_path, trail=False)
    assert synthesized.resources("Bucketwatch-111111111111-us-east-1", "AWS::CloudTrail::Trail") == {}
    assert synthesized.resources("Bucketwatch-111111111111-us-east-1", "AWS::S3::Bucket")  # still replicating
    assert archive_document(synthesized) == archive_document(org_assembly)
    assert "111111111111" not in json.dumps(archive_document(synthesized))


def test_no_trail_anywhere_admits_no_cloudtrail(tmp_path) -> None:
    synthesized = synthesize_members(tmp_path, trail=False, central_trail=False)
    statements = archive_policy(synthesized)
    assert not [sid for sid in statements if "CloudTrail" in sid]
    assert "MemberReplicationRolesWriteReplicas" in statements
