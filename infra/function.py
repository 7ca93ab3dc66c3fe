"""A Lambda function the way both Bucketwatch functions need it.

Own role (no managed policies; callers add exactly the statements they need), its own
encrypted log group with retention, encrypted environment, a dead-letter queue for failed
asynchronous invocations after retries, reserved concurrency, and alarms on errors and on
messages waiting in the dead-letter queue, notifying `alarm_topic` (whose policy must let
CloudWatch publish: `DetectorPipeline` grants that on its alerts topic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.waivers import DLQ_HAS_NO_DLQ, LAMBDA_NO_VPC, SQS_MANAGED_ENCRYPTION, apply_waiver

RUNTIME = lambda_.Runtime.PYTHON_3_14
DEFAULT_TIMEOUT = Duration.minutes(5)


class MonitoredFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        code: lambda_.Code,
        key: kms.IKey,
        environment: Mapping[str, str],
        layers: Sequence[lambda_.ILayerVersion] = (),
        alarm_topic: sns.ITopic | None = None,
        reserved_concurrency: int = 5,
        retry_attempts: int = 2,
        memory_size: int = 1024,
        timeout: Duration = DEFAULT_TIMEOUT,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        description: str = "",
        role_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Bucketwatch {construct_id}: least privilege, statements added per need",
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        apply_waiver(self.dead_letter_queue, DLQ_HAS_NO_DLQ)
        apply_waiver(self.dead_letter_queue, SQS_MANAGED_ENCRYPTION)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            handler=handler,
            code=code,
            role=self.role,
            description=description,
            memory_size=memory_size,
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrency,
            retry_attempts=retry_attempts,
            dead_letter_queue=self.dead_letter_queue,
            environment=dict(environment),
            environment_encryption=key,
            layers=list(layers),
            log_group=self.log_group,
        )
        apply_waiver(self.function, LAMBDA_NO_VPC)
        self.log_group.grant_write(self.role)
        self.errors_alarm = cloudwatch.Alarm(
            self,
            "ErrorsAlarm",
            alarm_description=f"Bucketwatch {construct_id} failed at least once in 5 minutes",
            metric=self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLetterAlarm",
            alarm_description=f"Bucketwatch {construct_id} gave up on an event (dead-letter queue not empty)",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        if alarm_topic is not None:
            for alarm in (self.errors_alarm, self.dead_letter_alarm):
                alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))
