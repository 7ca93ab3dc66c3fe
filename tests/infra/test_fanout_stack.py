"""The central stack's fanned-out posture scan: queue, dead-letter redrive, event source, and who may do what."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template
from synth_support import CENTRAL_STAGE, Synthesized, render

from infra.posture import POSTURE_HANDLER, SCAN_TIMEOUT
from infra.posture_fanout import MAX_RECEIVE_COUNT, VISIBILITY_FACTOR, WORKER_CONCURRENCY, WORKER_HANDLER

pytestmark = pytest.mark.xdist_group("infra")
QUEUE_PREFIX = "PostureFanOutQueue"


def function(assembly: Synthesized, stage: str, handler: str) -> tuple[str, dict]:
    (found,) = [(k, v) for k, v in assembly.resources(stage, "AWS::Lambda::Function").items()
                if v["Properties"]["Handler"] == handler]
    return found


def work_queue_id(assembly: Synthesized) -> str:
    (queue_id,) = [k for k in assembly.resources(CENTRAL_STAGE, "AWS::SQS::Queue") if k.startswith(QUEUE_PREFIX)]
    return queue_id


def granted(assembly: Synthesized, function_props: dict) -> dict[str, list]:
    """Action -> resources, over every policy attached to the function's role."""
    role_id = function_props["Properties"]["Role"]["Fn::GetAtt"][0]
    template = assembly.templates[CENTRAL_STAGE]
    actions: dict[str, list] = {}
    for policy in assembly.resources(CENTRAL_STAGE, "AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in render(policy["Properties"]["PolicyDocument"]["Statement"], template):
            assert statement["Effect"] == "Allow"
            listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in listed:
                actions.setdefault(action, []).extend(resources)
    return actions


def test_the_work_queue_is_encrypted_ssl_only_and_redrives_to_the_workers_dead_letter_queue(
        org_assembly: Synthesized) -> None:
    template = Template.from_json(org_assembly.templates[CENTRAL_STAGE])
    queue_id = work_queue_id(org_assembly)
    _, worker = function(org_assembly, CENTRAL_STAGE, WORKER_HANDLER)
    dead_letter = worker["Properties"]["DeadLetterConfig"]["TargetArn"]
    assert dead_letter["Fn::GetAtt"][0].startswith("PostureWorkerDeadLetterQueue")
    template.has_resource_properties("AWS::SQS::Queue", {
        "SqsManagedSseEnabled": True,
        "VisibilityTimeout": SCAN_TIMEOUT.to_seconds() * VISIBILITY_FACTOR,
        "RedrivePolicy": {"deadLetterTargetArn": dead_letter, "maxReceiveCount": MAX_RECEIVE_COUNT},
    })
    assert worker["Properties"]["Timeout"] * VISIBILITY_FACTOR == 5400
    template.has_resource_properties("AWS::SQS::QueuePolicy", {
        "Queues": [{"Ref": queue_id}],
        "PolicyDocument": {"Statement": Match.array_with([{
            "Action": "sqs:*", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
        }])},
    })
    # The dead-letter queue's alarm notifies the alerts topic (MonitoredFunction's pattern).
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letter["Fn::GetAtt"][0], "QueueName"]}}],
        "AlarmActions": Match.any_value(),
    })


def test_the_worker_takes_one_message_at_a_time_and_reports_failures_alone(org_assembly: Synthesized) -> None:
    template = Template.from_json(org_assembly.templates[CENTRAL_STAGE])
    worker_id, worker = function(org_assembly, CENTRAL_STAGE, WORKER_HANDLER)
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 1)
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "FunctionName": {"Ref": worker_id},
        "EventSourceArn": {"Fn::GetAtt": [work_queue_id(org_assembly), "Arn"]},
        "BatchSize": 1,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": WORKER_CONCURRENCY},
    })
    # Never throttled by its own reserved concurrency (a throttle would count a receive).
    assert worker["Properties"]["ReservedConcurrentExecutions"] == WORKER_CONCURRENCY
    assert worker["Properties"]["Timeout"] == SCAN_TIMEOUT.to_seconds()


def test_the_dispatcher_may_only_send_to_the_work_queue(org_assembly: Synthesized) -> None:
    dispatcher_id, dispatcher = function(org_assembly, CENTRAL_STAGE, POSTURE_HANDLER)
    queue_arn = f"<{work_queue_id(org_assembly)}.Arn>"  # as `render` shows a reference
    actions = granted(org_assembly, dispatcher)
    assert set(actions) == {"sqs:SendMessage", "logs:CreateLogStream", "logs:PutLogEvents"}
    # The work queue, and its own dead-letter queue for failed scheduled invocations.
    own_dlq = render(dispatcher["Properties"]["DeadLetterConfig"]["TargetArn"], org_assembly.templates[CENTRAL_STAGE])
    assert sorted(actions["sqs:SendMessage"]) == sorted([queue_arn, own_dlq])
    assert dispatcher["Properties"]["ReservedConcurrentExecutions"] == 1
    assert dispatcher["Properties"]["Timeout"] == 120
    (rule,) = [r for k, r in org_assembly.resources(CENTRAL_STAGE, "AWS::Events::Rule").items() if k.startswith("Posture")]
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [dispatcher_id, "Arn"]}


def test_the_worker_consumes_the_queue_and_holds_the_scan_permissions(org_assembly: Synthesized) -> None:
    _, worker = function(org_assembly, CENTRAL_STAGE, WORKER_HANDLER)
    queue_arn = f"<{work_queue_id(org_assembly)}.Arn>"
    actions = granted(org_assembly, worker)
    consume = {a: r for a, r in actions.items() if a.startswith("sqs:") and a != "sqs:SendMessage"}
    assert set(consume) == {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl",
                            "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    assert all(resources == [queue_arn] for resources in consume.values())
    # It cannot feed its own queue: only the dispatcher sends.
    assert actions["sqs:SendMessage"] == [render(worker["Properties"]["DeadLetterConfig"]["TargetArn"],
                                                 org_assembly.templates[CENTRAL_STAGE])]
    assert {"s3:GetBucketPolicy", "s3:PutObject", "sns:Publish", "sts:AssumeRole"} <= set(actions)
    assert not any(a.startswith("organizations:") for a in actions)


def test_a_single_account_stack_scans_in_one_invocation_without_a_queue(assembly: Synthesized, home_stage: str) -> None:
    template = Template.from_json(assembly.templates[home_stage])
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 0)
    assert not [k for k in assembly.resources(home_stage, "AWS::SQS::Queue") if k.startswith(QUEUE_PREFIX)]
    assert not [v for v in assembly.resources(home_stage, "AWS::Lambda::Function").values()
                if v["Properties"]["Handler"] == WORKER_HANDLER]
