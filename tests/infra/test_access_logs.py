"""The regional access-log bucket and the Aspect that makes every bucket log into it."""

from __future__ import annotations

import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from synth_support import ACCOUNT, HOME_REGION, OTHER_REGION, Synthesized, render

from infra.access_logs import AccessLogBucket
from infra.logging_aspect import AccessLoggingAspect

pytestmark = pytest.mark.xdist_group("infra")


def log_bucket(assembly: Synthesized, stage: str) -> tuple[str, dict]:
    template = assembly.templates[stage]
    return next(
        (k, v) for k, v in assembly.resources(stage, "AWS::S3::Bucket").items()
        if render(v["Properties"]["BucketName"], template).startswith("bucketwatch-access-logs-")
    )


@pytest.mark.parametrize("region", [HOME_REGION, OTHER_REGION])
def test_one_log_bucket_per_region_named_for_it(assembly: Synthesized, region: str) -> None:
    stage = f"Bucketwatch-{ACCOUNT}-{region}"
    _, bucket = log_bucket(assembly, stage)
    assert render(bucket["Properties"]["BucketName"], assembly.templates[stage]) == (
        f"bucketwatch-access-logs-{ACCOUNT}-{region}"
    )


def test_log_bucket_is_sse_s3_versioned_private_without_acls(assembly: Synthesized, home_stage: str) -> None:
    _, bucket = log_bucket(assembly, home_stage)
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "AccessControl" not in props  # delivery is allowed by bucket policy, not the log-delivery ACL
    assert "LoggingConfiguration" not in props  # a log bucket never logs to itself
    rule = props["LifecycleConfiguration"]["Rules"][0]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == 365
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_log_bucket_policy_logging_service_for_this_account_and_ssl_only(assembly: Synthesized, home_stage: str) -> None:
    bucket_id, _ = log_bucket(assembly, home_stage)
    template = assembly.templates[home_stage]
    statements = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in assembly.resources(home_stage, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    )
    logging = next(s for s in statements if s.get("Sid") == "S3ServerAccessLogsPolicy")
    assert logging["Effect"] == "Allow"
    assert logging["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert logging["Action"] == "s3:PutObject"
    assert logging["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert render(logging["Resource"], template) == f"arn:aws:s3:::bucketwatch-access-logs-{ACCOUNT}-{HOME_REGION}/*"
    deny = next(s for s in statements if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == {"AWS": "*"} and deny["Action"] == "s3:*"


def test_new_log_objects_are_announced_to_the_notification_topic(assembly: Synthesized, home_stage: str) -> None:
    _, bucket = log_bucket(assembly, home_stage)
    topics = assembly.resources(home_stage, "AWS::SNS::Topic")
    notification_topic = next(k for k, v in topics.items() if "new log objects" in v["Properties"]["DisplayName"])
    assert bucket["Properties"]["NotificationConfiguration"] == {
        "TopicConfigurations": [{"Event": "s3:ObjectCreated:*", "Topic": {"Ref": notification_topic}}]
    }
    # S3 validates the destination when the configuration is set: the topic policy comes first.
    topic_policy = next(
        k for k, v in assembly.resources(home_stage, "AWS::SNS::TopicPolicy").items()
        if {"Ref": notification_topic} in v["Properties"]["Topics"]
    )
    assert topic_policy in bucket["DependsOn"]
    statement = next(
        s for s in assembly.templates[home_stage]["Resources"][topic_policy]["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "AllowS3ObjectCreatedNotifications"
    )
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_every_other_bucket_logs_to_its_regions_log_bucket(assembly: Synthesized) -> None:
    checked = 0
    for stage, template in assembly.templates.items():
        region = stage.rsplit(f"{ACCOUNT}-", 1)[1]
        for logical_id, bucket in assembly.resources(stage, "AWS::S3::Bucket").items():
            name = render(bucket["Properties"]["BucketName"], template)
            if name.startswith("bucketwatch-access-logs-"):
                continue
            logging = bucket["Properties"]["LoggingConfiguration"]
            assert logging == {
                "DestinationBucketName": f"bucketwatch-access-logs-{ACCOUNT}-{region}",
                "LogFilePrefix": f"{name}/",
                "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}},
            }, logical_id
            checked += 1
    assert checked == 3  # lake in both regions, trail bucket in the home region


def aspect_stack(region: str = HOME_REGION) -> Stack:
    app = App()
    stack = Stack(app, "Apps", env={"account": ACCOUNT, "region": region})
    Aspects.of(app).add(AccessLoggingAspect())
    return stack


def test_aspect_uses_a_path_prefix_for_unnamed_buckets_and_keeps_explicit_logging() -> None:
    stack = aspect_stack(OTHER_REGION)
    s3.Bucket(stack, "Uploads")
    s3.CfnBucket(
        stack,
        "Chosen",
        logging_configuration=s3.CfnBucket.LoggingConfigurationProperty(destination_bucket_name="central-logs"),
    )
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LoggingConfiguration": {
                "DestinationBucketName": f"bucketwatch-access-logs-{ACCOUNT}-{OTHER_REGION}",
                "LogFilePrefix": "Apps-Uploads/",
                "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}},
            }
        },
    )
    template.has_resource_properties(
        "AWS::S3::Bucket", {"LoggingConfiguration": {"DestinationBucketName": "central-logs", "LogFilePrefix": Match.absent()}}
    )


def test_aspect_refuses_a_log_bucket_that_logs_into_itself() -> None:
    stack = aspect_stack()
    logs = AccessLogBucket(stack, "Logs", bucket_name="my-access-logs")
    logs.cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
        destination_bucket_name="my-access-logs"
    )
    annotations = Annotations.from_stack(stack)
    annotations.has_error("/Apps/Logs/Bucket/Resource", Match.string_like_regexp("configured to log into itself"))


def test_aspect_leaves_a_log_bucket_without_logging() -> None:
    stack = aspect_stack()
    AccessLogBucket(stack, "Logs", bucket_name="my-access-logs")
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket", {"BucketName": "my-access-logs", "LoggingConfiguration": Match.absent()}
    )
    Annotations.from_stack(stack).has_no_error("*", Match.any_value())
