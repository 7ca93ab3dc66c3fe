"""A member's alarms, forwarded to the organization's central account (EventBridge)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"


class AlarmForwarder(Construct):
    """Every state change of `alarms` goes to `central_bus_arn` (the central account's default
    event bus, any region), where the central stack turns it into an alert; so a member needs no
    topic, key or subscription of its own. The role may only put events on that bus.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, alarms: Sequence[cloudwatch.IAlarm], central_bus_arn: str
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            description="Bucketwatch: forward alarm state changes to the central account",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
        )
        central_bus = events.EventBus.from_event_bus_arn(self, "CentralBus", central_bus_arn)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Bucketwatch: alarm state changes to the central account",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=[ALARM_STATE_CHANGE],
                resources=[alarm.alarm_arn for alarm in alarms],
            ),
            targets=[targets.EventBus(central_bus, role=self.role)],
        )
