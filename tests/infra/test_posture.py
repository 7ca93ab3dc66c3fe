"""Posture scanner: schedule, target retries and DLQ, read-only role derived from the live source."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template
from synth_support import ACCOUNT, HOME_REGION, OTHER_REGION, Synthesized, render
from test_detector import role_statements

from infra.posture import API_CALL_ACTIONS, POSTURE_HANDLER, scan_actions
from policies.model import BUCKET_FIELDS

pytestmark = pytest.mark.xdist_group("infra")

WRITE_ACTIONS = {"s3:PutObject", "sns:Publish", "logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"}
KEY_ACTIONS = {"kms:Decrypt", "kms:GenerateDataKey"}


def scanner(assembly: Synthesized, stage: str) -> tuple[str, dict]:
    return next(
        (k, v) for k, v in assembly.resources(stage, "AWS::Lambda::Function").items()
        if v["Properties"]["Handler"] == POSTURE_HANDLER
    )


def test_every_live_source_call_has_its_iam_actions() -> None:
    assert set(BUCKET_FIELDS.values()) <= set(API_CALL_ACTIONS)
    actions = scan_actions()
    assert all(a.split(":")[1].startswith(("Get", "List", "Describe")) for a in actions), actions
    assert "s3:GetObject" not in actions and "s3:ListBucket" not in actions  # configuration, never data


def test_scanner_as_a_template_spec(assembly: Synthesized, home_stage: str) -> None:
    template = Template.from_json(assembly.templates[home_stage])
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 day)",
            "Targets": [Match.object_like({"RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 7200}})],
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with([Match.object_like({"Sid": "DescribeAnyBucket", "Effect": "Allow"})])
            }
        },
    )


def test_schedule_invokes_the_scanner_with_retries_and_dlq(assembly: Synthesized, home_stage: str) -> None:
    function_id, function = scanner(assembly, home_stage)
    (rule,) = [r for k, r in assembly.resources(home_stage, "AWS::Events::Rule").items() if k.startswith("Posture")]
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 day)"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 7200}
    assert target["DeadLetterConfig"]["Arn"] == function["Properties"]["DeadLetterConfig"]["TargetArn"]
    assert function["Properties"]["ReservedConcurrentExecutions"] == 1
    assert function["Properties"]["Timeout"] == 900


def test_scanner_environment(assembly: Synthesized, home_stage: str) -> None:
    _, function = scanner(assembly, home_stage)
    env = function["Properties"]["Environment"]["Variables"]
    assert set(env) == {"ALERTS_TOPIC_ARN", "PROCESSED_BUCKET", "SCAN_REGIONS"}
    assert env["SCAN_REGIONS"] == f"{HOME_REGION},{OTHER_REGION}"
    assert render(env["PROCESSED_BUCKET"], assembly.templates[home_stage]) == f"bucketwatch-lake-{ACCOUNT}-{HOME_REGION}"


def test_scanner_role_reads_configuration_only(assembly: Synthesized, home_stage: str) -> None:
    template = assembly.templates[home_stage]
    _, function = scanner(assembly, home_stage)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    granted: dict[str, list[str]] = {}
    for statement in role_statements(assembly, home_stage, role_id):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            granted.setdefault(action, []).extend(render(resources, template))
    reads = set(granted) - WRITE_ACTIONS - KEY_ACTIONS
    assert reads == set(scan_actions())
    assert granted["s3:PutObject"] == [f"arn:aws:s3:::bucketwatch-lake-{ACCOUNT}-{HOME_REGION}/bucketwatch/posture_findings/*"]
    assert granted["s3:GetBucketPolicy"] == ["arn:aws:s3:::*"]
    assert granted["cloudtrail:GetEventSelectors"] == ["arn:aws:cloudtrail:*:*:trail/*"]
    # Only the calls IAM cannot scope get "*".
    assert {a for a, r in granted.items() if "*" in r} == {
        "s3:ListAllMyBuckets", "s3:GetAccountPublicAccessBlock", "cloudtrail:DescribeTrails"
    }
