"""The webhook notifier: a small Lambda (`detectors.notify.webhook.handler`) subscribed to the
alerts topic, or to one destination's topic, posts each alert to a chat webhook as a message.

The webhook URL stays out of the template and the environment: the function reads it from a
Secrets Manager secret or an SSM SecureString parameter, and may read exactly that one (and
decrypt with its key, through that service only, when a customer key encrypts it). Above
`min_severity` Info, the subscription filters on the message body's `severity` (detection and
posture alerts both carry it), so CloudWatch alarm notifications, which have none, do not reach
the webhook then.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from detectors.common.severity import SEVERITIES, at_least
from infra.function import MonitoredFunction

NOTIFIER_HANDLER = "detectors.notify.webhook.handler"


@dataclass(frozen=True)
class WebhookSource:
    """Where the URL is: a secret's ARN, or an SSM parameter's name; and its customer key, if any."""

    secret_arn: str | None = None
    parameter_name: str | None = None
    key_arn: str | None = None

    def __post_init__(self) -> None:
        if (self.secret_arn is None) == (self.parameter_name is None):
            raise ValueError("give exactly one of secret_arn and parameter_name")


class WebhookNotifier(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        key: kms.IKey,
        topic: sns.ITopic,
        source: WebhookSource,
        min_severity: str = "Info",
        alarm_topic: sns.ITopic | None = None,
        reserved_concurrency: int = 2,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        environment = ({"WEBHOOK_SECRET_ARN": source.secret_arn} if source.secret_arn
                       else {"WEBHOOK_PARAMETER_NAME": str(source.parameter_name)})
        self.monitored = MonitoredFunction(
            self,
            "Notifier",
            handler=NOTIFIER_HANDLER,
            code=code,
            key=key,
            environment=environment,
            alarm_topic=alarm_topic,
            reserved_concurrency=reserved_concurrency,
            retry_attempts=2,
            memory_size=256,
            timeout=Duration.seconds(30),
            description="Bucketwatch: post alerts to the team's chat webhook",
        )
        self.function = self.monitored.function
        role = self.monitored.role
        if source.secret_arn:
            role.add_to_policy(iam.PolicyStatement(sid="ReadTheWebhookSecret", actions=["secretsmanager:GetSecretValue"],
                                                   resources=[source.secret_arn]))
            service = "secretsmanager"
        else:
            name = str(source.parameter_name).lstrip("/")
            role.add_to_policy(iam.PolicyStatement(
                sid="ReadTheWebhookParameter", actions=["ssm:GetParameter"],
                resources=[stack.format_arn(service="ssm", resource="parameter", resource_name=name)]))
            service = "ssm"
        if source.key_arn:
            role.add_to_policy(iam.PolicyStatement(
                sid="DecryptTheWebhookUrl", actions=["kms:Decrypt"], resources=[source.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"{service}.{stack.region}.amazonaws.com"}}))
        allowed = [s for s in SEVERITIES if at_least(s, min_severity)]
        body_filter = None if len(allowed) == len(SEVERITIES) else {
            "severity": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.string_filter(allowlist=allowed))}
        topic.add_subscription(subscriptions.LambdaSubscription(self.function, filter_policy_with_message_body=body_filter))
