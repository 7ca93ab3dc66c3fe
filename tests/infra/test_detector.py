"""Detector pipeline: topics, subscription, function settings, DLQ, alarms, dedup table, role."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template
from synth_support import ACCOUNT, HOME_REGION, Synthesized, render

from infra.detector import DETECTOR_HANDLER

pytestmark = pytest.mark.xdist_group("infra")


def by_display_name(assembly: Synthesized, stage: str, text: str) -> str:
    return next(
        k for k, v in assembly.resources(stage, "AWS::SNS::Topic").items() if text in v["Properties"]["DisplayName"]
    )


def detector_function(assembly: Synthesized, stage: str) -> tuple[str, dict]:
    return next(
        (k, v) for k, v in assembly.resources(stage, "AWS::Lambda::Function").items()
        if v["Properties"]["Handler"] == DETECTOR_HANDLER
    )


def role_statements(assembly: Synthesized, stage: str, role_id: str) -> list[dict]:
    return [
        statement
        for policy in assembly.resources(stage, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_detector_as_a_template_spec(assembly: Synthesized, home_stage: str) -> None:
    template = Template.from_json(assembly.templates[home_stage])
    template.resource_count_is("AWS::SNS::Topic", 2)
    template.resource_count_is("AWS::DynamoDB::Table", 2)  # the dedup table, and the scheduler's state table
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": DETECTOR_HANDLER,
            "ReservedConcurrentExecutions": 5,
            "DeadLetterConfig": {"TargetArn": Match.object_like({"Fn::GetAtt": Match.array_with(["Arn"])})},
            "Environment": {"Variables": Match.object_like({"DEDUP_TABLE": Match.any_value()})},
        },
    )
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "lambda"})
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS"}
    )
    template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})


def test_topics_are_encrypted_with_the_monitoring_key(assembly: Synthesized, home_stage: str) -> None:
    topics = assembly.resources(home_stage, "AWS::SNS::Topic")
    assert len(topics) == 2
    for topic in topics.values():
        key = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
        assert assembly.templates[home_stage]["Resources"][key]["Properties"]["Description"] == "Bucketwatch monitoring"


def test_notification_topic_invokes_the_detector(assembly: Synthesized, home_stage: str) -> None:
    function_id, _ = detector_function(assembly, home_stage)
    topic = by_display_name(assembly, home_stage, "new log objects")
    subscriptions = list(assembly.resources(home_stage, "AWS::SNS::Subscription").values())
    assert [s["Properties"] for s in subscriptions] == [
        {"Protocol": "lambda", "TopicArn": {"Ref": topic}, "Endpoint": {"Fn::GetAtt": [function_id, "Arn"]}}
    ]
    permission = next(
        p["Properties"] for p in assembly.resources(home_stage, "AWS::Lambda::Permission").values()
        if p["Properties"].get("SourceArn") == {"Ref": topic}
    )
    assert permission["Principal"] == "sns.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"


def test_detector_function_settings(assembly: Synthesized, home_stage: str) -> None:
    function_id, function = detector_function(assembly, home_stage)
    props = function["Properties"]
    template = assembly.templates[home_stage]
    assert props["Runtime"] == "python3.14"
    assert props["ReservedConcurrentExecutions"] == 5
    assert props["MemorySize"] == 1024 and props["Timeout"] == 300
    env = props["Environment"]["Variables"]
    assert set(env) == {"ALERTS_TOPIC_ARN", "PROCESSED_BUCKET", "DEDUP_TABLE", "BUCKETWATCH_TRAIL_BUCKETS"}
    assert env["ALERTS_TOPIC_ARN"] == {"Ref": by_display_name(assembly, home_stage, "alerts")}
    assert render(env["PROCESSED_BUCKET"], template) == f"bucketwatch-lake-{ACCOUNT}-{HOME_REGION}"
    assert env["DEDUP_TABLE"] == {"Ref": dedup_table(assembly, home_stage)[0]}
    assert "KmsKeyArn" in props
    assert props["Layers"] == [{"Ref": "PyarrowLayerArn"}]  # no layer ARN in context: asked at deploy
    dlq = props["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]
    assert template["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
    invoke_config = next(
        c["Properties"] for c in assembly.resources(home_stage, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function_id}
    )
    assert invoke_config["MaximumRetryAttempts"] == 2


def test_dead_letter_queue_is_encrypted_and_ssl_only(assembly: Synthesized, home_stage: str) -> None:
    _, function = detector_function(assembly, home_stage)
    dlq_id = function["Properties"]["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]
    queue = assembly.templates[home_stage]["Resources"][dlq_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    policy = next(
        p["Properties"]["PolicyDocument"]["Statement"] for p in assembly.resources(home_stage, "AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq_id} in p["Properties"]["Queues"]
    )
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)


def test_alarms_on_errors_and_dead_letters_notify_the_alerts_topic(assembly: Synthesized, home_stage: str) -> None:
    function_id, function = detector_function(assembly, home_stage)
    dlq_id = function["Properties"]["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]
    alerts = {"Ref": by_display_name(assembly, home_stage, "alerts")}
    alarms = [a["Properties"] for a in assembly.resources(home_stage, "AWS::CloudWatch::Alarm").values()]
    errors = next(a for a in alarms if a.get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": function_id}}])
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert errors["Threshold"] == 1 and errors["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert errors["AlarmActions"] == [alerts]
    depth = next(
        a for a in alarms
        if a.get("Dimensions") == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    )
    assert (depth["Namespace"], depth["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert depth["Threshold"] == 1 and depth["AlarmActions"] == [alerts]


def dedup_table(assembly: Synthesized, stage: str) -> tuple[str, dict]:
    return next((k, v) for k, v in assembly.resources(stage, "AWS::DynamoDB::Table").items() if k.startswith("DetectorDedup"))


def test_dedup_table_contract(assembly: Synthesized, home_stage: str) -> None:
    _, table = dedup_table(assembly, home_stage)
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True and props["SSESpecification"]["SSEType"] == "KMS"


def test_detector_role_is_least_privilege(assembly: Synthesized, home_stage: str) -> None:
    template = assembly.templates[home_stage]
    _, function = detector_function(assembly, home_stage)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in template["Resources"][role_id]["Properties"]
    grants: dict[str, list] = {}
    for statement in role_statements(assembly, home_stage, role_id):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            grants.setdefault(action, []).extend(render(resources, template))
    lake = f"arn:aws:s3:::bucketwatch-lake-{ACCOUNT}-{HOME_REGION}"
    assert sorted(grants["s3:GetObject"]) == [
        f"arn:aws:s3:::bucketwatch-access-logs-{ACCOUNT}-{HOME_REGION}/*",
        f"arn:aws:s3:::bucketwatch-trail-{ACCOUNT}-{HOME_REGION}/AWSLogs/*",
    ]
    assert sorted(grants["s3:PutObject"]) == [f"{lake}/_quarantine/*", f"{lake}/panther_logs/*", f"{lake}/panther_rule_matches/*"]
    assert grants["sns:Publish"] == [f"<Ref {by_display_name(assembly, home_stage, 'alerts')}>"]
    table_id = next(iter(assembly.resources(home_stage, "AWS::DynamoDB::Table")))
    for action in ("dynamodb:GetItem", "dynamodb:PutItem"):  # what the dedup store calls
        assert grants[action] == [f"<{table_id}.Arn>"]
    expected = {
        "s3:GetObject", "s3:PutObject", "sns:Publish", "dynamodb:GetItem", "dynamodb:PutItem",
        "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey",  # encrypted topic, table, trail files
        "logs:CreateLogStream", "logs:PutLogEvents",  # its own log group
        "sqs:SendMessage",  # its own dead-letter queue
    }
    assert set(grants) == expected
    assert not any(a.startswith("s3:") and a not in {"s3:GetObject", "s3:PutObject"} for a in grants)
