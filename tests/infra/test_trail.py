"""The data-event trail: selectors, key policy, bucket and bucket policy."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from synth_support import ACCOUNT, HOME_REGION, OTHER_REGION, Synthesized, render

from infra.trail import DataEventScope, DataEventTrail, ReadWrite

pytestmark = pytest.mark.xdist_group("infra")


def trail_template(**props) -> Template:
    stack = Stack(App(), "T", env={"account": ACCOUNT, "region": HOME_REGION})
    DataEventTrail(stack, "Trail", **props)
    return Template.from_stack(stack)


def only(resources: dict) -> dict:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.values()))


def test_trail_is_multi_region_validated_and_encrypted(assembly: Synthesized, home_stage: str) -> None:
    trail = only(assembly.resources(home_stage, "AWS::CloudTrail::Trail"))["Properties"]
    assert trail["IsMultiRegionTrail"] is True
    assert trail["EnableLogFileValidation"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    key_id = trail["KMSKeyId"]["Fn::GetAtt"][0]
    assert assembly.templates[home_stage]["Resources"][key_id]["Type"] == "AWS::KMS::Key"
    assert "EventSelectors" not in trail  # advanced selectors only; the two cannot be mixed


def test_only_the_home_region_gets_the_trail(assembly: Synthesized, other_stage: str) -> None:
    assert assembly.resources(other_stage, "AWS::CloudTrail::Trail") == {}


def test_all_bucket_selectors_exclude_exactly_the_monitorings_own_buckets(assembly: Synthesized, home_stage: str) -> None:
    selectors = only(assembly.resources(home_stage, "AWS::CloudTrail::Trail"))["Properties"]["AdvancedEventSelectors"]
    assert selectors[0] == {
        "Name": "Management events",
        "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}],
    }
    fields = {f["Field"]: f for f in selectors[1]["FieldSelectors"]}
    assert fields["eventCategory"]["Equals"] == ["Data"]
    assert fields["resources.type"]["Equals"] == ["AWS::S3::Object"]
    assert "readOnly" not in fields  # read and write
    excluded = render(fields["resources.ARN"]["NotStartsWith"], assembly.templates[home_stage])
    assert "StartsWith" not in fields["resources.ARN"]
    # Exact buckets (a trailing `/`), in both regions this account deploys to.
    assert excluded == [
        f"arn:aws:s3:::bucketwatch-trail-{ACCOUNT}-{HOME_REGION}/",
        f"arn:aws:s3:::bucketwatch-access-logs-{ACCOUNT}-{HOME_REGION}/",
        f"arn:aws:s3:::bucketwatch-lake-{ACCOUNT}-{HOME_REGION}/",
        f"arn:aws:s3:::bucketwatch-access-logs-{ACCOUNT}-{OTHER_REGION}/",
        f"arn:aws:s3:::bucketwatch-lake-{ACCOUNT}-{OTHER_REGION}/",
    ]


@pytest.mark.parametrize("look_alike", [f"bucketwatch-lake-{ACCOUNT}-staging", f"bucketwatch-access-logs-{ACCOUNT}-{HOME_REGION}-copy"])
def test_a_look_alike_of_an_excluded_bucket_is_still_recorded(assembly: Synthesized, home_stage: str, look_alike: str) -> None:
    """An attacker's bucket named like the monitoring's own must not fall into the exclusions."""
    selectors = only(assembly.resources(home_stage, "AWS::CloudTrail::Trail"))["Properties"]["AdvancedEventSelectors"]
    fields = {f["Field"]: f for f in selectors[1]["FieldSelectors"]}
    excluded = render(fields["resources.ARN"]["NotStartsWith"], assembly.templates[home_stage])
    object_arn = f"arn:aws:s3:::{look_alike}/exfiltrated.csv"
    assert not any(object_arn.startswith(prefix) for prefix in excluded)
    own = f"arn:aws:s3:::bucketwatch-lake-{ACCOUNT}-{HOME_REGION}/panther_logs/x.parquet"
    assert any(own.startswith(prefix) for prefix in excluded)


def test_listed_buckets_and_prefixes_with_read_only_choice() -> None:
    template = trail_template(data_events=DataEventScope.buckets(["payroll", "shared/finance/"], ReadWrite.READ_ONLY))
    trail = only(template.find_resources("AWS::CloudTrail::Trail"))
    data = render(trail["Properties"]["AdvancedEventSelectors"][1], template.to_json())
    assert data == {
        "Name": "S3 data events",
        "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "readOnly", "Equals": ["true"]},
            # `payroll/` so that a bucket named `payroll-archive` is not recorded too.
            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::payroll/", "arn:aws:s3:::shared/finance/"]},
        ],
    }


def test_write_only_choice() -> None:
    template = trail_template(data_events=DataEventScope.all_buckets(ReadWrite.WRITE_ONLY))
    selectors = only(template.find_resources("AWS::CloudTrail::Trail"))["Properties"]["AdvancedEventSelectors"]
    assert {"Field": "readOnly", "Equals": ["false"]} in selectors[1]["FieldSelectors"]


def test_listing_the_trails_own_bucket_is_refused() -> None:
    with pytest.raises(Exception, match="monitoring's own buckets"):
        trail_template(data_events=DataEventScope.buckets([f"bucketwatch-trail-{ACCOUNT}-{HOME_REGION}/AWSLogs/"]))


def test_empty_bucket_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one bucket"):
        DataEventScope.buckets([])


def test_key_policy_lets_cloudtrail_encrypt_for_this_trail_only(assembly: Synthesized, home_stage: str) -> None:
    template = Template.from_json(assembly.templates[home_stage])
    statements = _key_statements(assembly, home_stage)
    encrypt = statements["AllowCloudTrailToEncryptLogs"]
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    assert render(encrypt["Condition"]["StringLike"], template.to_json()) == {
        "kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:111111111111:trail/*"
    }
    assert render(encrypt["Condition"]["StringEquals"]["aws:SourceArn"], template.to_json()) == (
        "arn:aws:cloudtrail:us-east-1:111111111111:trail/bucketwatch-data-events"
    )
    describe = statements["AllowCloudTrailToDescribeKey"]
    assert describe["Action"] == "kms:DescribeKey"
    assert describe["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True, "Description": Match.string_like_regexp("trail")})


def test_trail_bucket_is_encrypted_versioned_private(assembly: Synthesized, home_stage: str) -> None:
    bucket = _trail_bucket(assembly, home_stage)["Properties"]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["BucketKeyEnabled"] is True
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_trail_bucket_policy_is_ssl_only_and_cloudtrails(assembly: Synthesized, home_stage: str) -> None:
    trail_bucket_id = next(k for k, v in assembly.resources(home_stage, "AWS::S3::Bucket").items() if v is _trail_bucket(assembly, home_stage))
    policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in assembly.resources(home_stage, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": trail_bucket_id}
    )
    by_sid = {s.get("Sid"): s for s in policy}
    deny = next(s for s in policy if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Action"] == "s3:*"
    acl = by_sid["AWSCloudTrailAclCheck"]
    assert acl["Action"] == "s3:GetBucketAcl" and acl["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    write = by_sid["AWSCloudTrailWrite"]
    assert write["Action"] == "s3:PutObject"
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert "aws:SourceArn" in write["Condition"]["StringEquals"]
    assert render(write["Resource"], assembly.templates[home_stage]) == (
        f"arn:aws:s3:::bucketwatch-trail-{ACCOUNT}-{HOME_REGION}/AWSLogs/{ACCOUNT}/*"
    )


def test_trail_waits_for_its_bucket_policy(assembly: Synthesized, home_stage: str) -> None:
    trail = only(assembly.resources(home_stage, "AWS::CloudTrail::Trail"))
    policies = assembly.resources(home_stage, "AWS::S3::BucketPolicy")
    assert any(dep in policies for dep in trail["DependsOn"])


def test_trail_files_are_announced_to_the_detector(assembly: Synthesized, home_stage: str) -> None:
    config = _trail_bucket(assembly, home_stage)["Properties"]["NotificationConfiguration"]["TopicConfigurations"]
    assert config[0]["Event"] == "s3:ObjectCreated:*"
    assert config[0]["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": "AWSLogs/"}]}}


def _trail_bucket(assembly: Synthesized, stage: str) -> dict:
    return next(
        b for b in assembly.resources(stage, "AWS::S3::Bucket").values()
        if render(b["Properties"].get("BucketName", ""), assembly.templates[stage]).startswith("bucketwatch-trail-")
    )


def _key_statements(assembly: Synthesized, stage: str) -> dict:
    keys = assembly.resources(stage, "AWS::KMS::Key")
    trail_key = next(k for k in keys.values() if "trail" in k["Properties"]["Description"])
    return {s.get("Sid"): s for s in trail_key["Properties"]["KeyPolicy"]["Statement"]}

