"""The organization's central log archive: who may write (CloudTrail per member trail, replication
per member role), what feeds the detector, and the central account's own trail into it."""

from __future__ import annotations

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


def archive_policy(org_assembly: Synthesized) -> dict[str, dict]:
    bucket_id, _ = archive_bucket(org_assembly)
    (policy,) = [
        p for p in org_assembly.resources(CENTRAL_STAGE, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    statements = render(policy["Properties"]["PolicyDocument"]["Statement"], central(org_assembly))
    return {s.get("Sid", "deny-insecure"): s for s in statements}


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


def test_each_trail_writes_only_under_its_own_account(org_assembly: Synthesized) -> None:
    statements = archive_policy(org_assembly)
    for account, trail in TRAILS.items():
        write = statements[f"AWSCloudTrailWrite{account}"]
        assert write["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert write["Action"] == "s3:PutObject"
        assert write["Resource"] == f"arn:aws:s3:::{ARCHIVE}/AWSLogs/{account}/*"
        assert write["Condition"] == {"StringEquals": {"aws:SourceArn": trail, "s3:x-amz-acl": "bucket-owner-full-control"}}
    acl = statements["AWSCloudTrailAclCheck"]
    assert acl["Action"] == "s3:GetBucketAcl"
    assert sorted(acl["Condition"]["StringEquals"]["aws:SourceArn"]) == sorted(TRAILS.values())


def test_only_the_members_replication_roles_write_replicas(org_assembly: Synthesized) -> None:
    statements = archive_policy(org_assembly)
    replicas = statements["MemberReplicationRolesWriteReplicas"]
    roots = sorted(f"arn:aws:iam::{account}:root" for account in MEMBER_REGIONS)
    assert sorted(replicas["Principal"]["AWS"]) == roots  # never the central account, never "*"
    assert sorted(replicas["Action"]) == ["s3:ObjectOwnerOverrideToBucketOwner", "s3:ReplicateObject", "s3:ReplicateTags"]
    assert replicas["Resource"] == f"arn:aws:s3:::{ARCHIVE}/*"
    assert replicas["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": ORG_ID},
        "ArnEquals": {"aws:PrincipalArn": REPLICATION_ROLES},
    }
    versioning = statements["MemberReplicationRolesCheckVersioning"]
    assert versioning["Action"] == "s3:GetBucketVersioning" and versioning["Resource"] == f"arn:aws:s3:::{ARCHIVE}"
    assert versioning["Condition"] == replicas["Condition"]
    # No member may delete, re-configure or read the archive.
    member_actions = {a for s in statements.values() if "AWS" in str(s.get("Principal")) and s["Effect"] == "Allow"
                      for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert member_actions == {"s3:ObjectOwnerOverrideToBucketOwner", "s3:ReplicateObject", "s3:ReplicateTags", "s3:GetBucketVersioning"}
    assert statements["deny-insecure"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_archive_key_lets_exactly_the_trails_encrypt(org_assembly: Synthesized) -> None:
    _, key = archive_key(org_assembly)
    statements = {s.get("Sid"): s for s in render(key["Properties"]["KeyPolicy"]["Statement"], central(org_assembly))}
    encrypt = statements["AllowCloudTrailToEncryptLogs"]
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    assert sorted(encrypt["Condition"]["StringEquals"]["aws:SourceArn"]) == sorted(TRAILS.values())
    assert sorted(encrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]) == sorted(
        f"arn:aws:cloudtrail:*:{account}:trail/*" for account in TRAILS
    )
    describe = statements["AllowCloudTrailToDescribeKey"]
    assert sorted(describe["Condition"]["StringEquals"]["aws:SourceArn"]) == sorted(TRAILS.values())


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
    LogArchive(stack, "Archive", organization_id=ORG_ID, trails={"111111111111": TRAILS["111111111111"]}, replication_roles=[])
    template = Template.from_stack(stack)
    statements = template.find_resources("AWS::S3::BucketPolicy")
    (policy,) = statements.values()
    sids = {s.get("Sid") for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert sids == {None, "AWSCloudTrailAclCheck", "AWSCloudTrailWrite"}
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Sid": "AWSCloudTrailWrite",
            "Condition": {"StringEquals": {"aws:SourceArn": Match.any_value(), "s3:x-amz-acl": "bucket-owner-full-control"}},
        })])}},
    )


def test_a_member_without_a_trail_gets_no_cloudtrail_grant(tmp_path) -> None:
    """`trail: false` (the account's CloudTrail reaches the archive some other way): no trail in its
    stage, and the archive admits no trail of that account, while its logs still replicate."""
    from synth_support import org_context

    from infra.app import build_app

    context = org_context()
    members = context["bucketwatch"]["organization"]["members"]
    members[0] = {**members[0], "trail": False}
    app = App(outdir=str(tmp_path), context=context)
    build_app(app, validate=False)
    app.synth()
    synthesized = Synthesized(tmp_path, read_templates(tmp_path))
    assert synthesized.resources("Bucketwatch-111111111111-us-east-1", "AWS::CloudTrail::Trail") == {}
    statements = archive_policy(synthesized)
    assert "AWSCloudTrailWrite111111111111" not in statements
    assert {"AWSCloudTrailWrite999999999999", "AWSCloudTrailWrite222222222222", "AWSCloudTrailWrite333333333333"} <= set(statements)
    assert TRAILS["111111111111"] not in statements["AWSCloudTrailAclCheck"]["Condition"]["StringEquals"]["aws:SourceArn"]
    roles = statements["MemberReplicationRolesWriteReplicas"]["Condition"]["ArnEquals"]["aws:PrincipalArn"]
    assert "arn:aws:iam::111111111111:role/bucketwatch-replication-us-east-1" in roles
