"""The central account's intake of its members' alarms: forwarded state changes become alerts."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.alarm_forwarder import ALARM_STATE_CHANGE
from infra.detector import allow_publish
from infra.naming import ALARM_NAME_PREFIX, default_event_bus_arn

# The alert the topic's subscribers get (the same topic as detection and posture alerts).
ALERT_FIELDS = {
    "account": "$.account",
    "region": "$.region",
    "alarm": "$.detail.alarmName",
    "reason": "$.detail.state.reason",
    "time": "$.time",
}
ALERT_TEMPLATE = (
    '{"kind": "alarm", "title": "Bucketwatch alarm <alarm> in <account>/<region>", "account": <account>, '
    '"region": <region>, "alarm": <alarm>, "reason": <reason>, "time": <time>}'
)


class MemberAlarmIntake(Construct):
    """The default event bus of this account accepts events from the accounts of
    `organization_id`; Bucketwatch alarms of those accounts (other than this one, whose alarms
    notify the topic themselves) entering ALARM are published to `topic` as
    `{"kind": "alarm", ...}`. The topic admits exactly this rule.

    Neither the bus policy nor the rule lists the members: a list of account roots in the bus
    policy (10,240 characters) and of accounts in the event pattern (2,048 characters, both
    EventBridge quotas) stopped fitting at 305 and 126 members. EventBridge documents
    Principal "*" with an `aws:PrincipalOrgID` condition as "every account of the organization"
    (EventBridge API Reference, PutPermission `Condition`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        organization_id: str,
        topic: sns.Topic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.bus_policy = events.CfnEventBusPolicy(
            self,
            "MembersMayForward",
            event_bus_name="default",
            statement_id="BucketwatchMemberAlarms",
            statement={
                "Effect": "Allow",
                "Principal": "*",
                "Action": "events:PutEvents",
                "Resource": default_event_bus_arn(stack.account, stack.region),
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
            },
        )
        self.rule = events.CfnRule(
            self,
            "Rule",
            description="Bucketwatch: member alarms entering ALARM to the alerts topic",
            state="ENABLED",
            event_pattern={
                "source": ["aws.cloudwatch"],
                "detail-type": [ALARM_STATE_CHANGE],
                "account": [{"anything-but": [stack.account]}],
                "detail": {"alarmName": [{"prefix": ALARM_NAME_PREFIX}], "state": {"value": ["ALARM"]}},
            },
            targets=[
                events.CfnRule.TargetProperty(
                    id="AlertsTopic",
                    arn=topic.topic_arn,
                    input_transformer=events.CfnRule.InputTransformerProperty(
                        input_paths_map=ALERT_FIELDS, input_template=ALERT_TEMPLATE
                    ),
                )
            ],
        )
        allow_publish(
            topic,
            sid="AllowForwardedMemberAlarms",
            service="events.amazonaws.com",
            conditions={"ArnEquals": {"aws:SourceArn": self.rule.attr_arn}},
        )

