"""The organization's posture scan fanned out: a queue of one message per account, a worker per message.

The scheduled function (the dispatcher) may only send to the queue; the worker function, fed by
an SQS event source (batch size 1, ReportBatchItemFailures), holds the scan's permissions. A
message that fails `max_receive_count` times moves to the worker's own dead-letter queue, whose
alarm (infra/function.py) already notifies the alerts topic.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.function import MonitoredFunction
from infra.waivers import SQS_MANAGED_ENCRYPTION, apply_waiver

WORKER_HANDLER = "policies.posture_fanout.worker_handler"
# AWS's guidance for an SQS event source: the queue's visibility timeout at least six times the
# function's timeout, so a message is not handed to a second worker while Lambda still retries
# a throttled or slow invocation of the first.
VISIBILITY_FACTOR = 6
# Three deliveries: a transient failure (throttling, a lake write) gets two more chances; a
# message that can never succeed (malformed, an account outside the organization) stops there.
MAX_RECEIVE_COUNT = 3
# Accounts scanned at once. The event source's maximum concurrency equals the worker's reserved
# concurrency, so Lambda never throttles the worker (a throttled message would count a receive
# towards the dead-letter queue without being scanned).
WORKER_CONCURRENCY = 5


class PostureFanOut(Construct):
    """The queue between `dispatcher` and `worker` (one message per account).

    SQS-managed encryption, SSL-only queue policy, visibility timeout `VISIBILITY_FACTOR` times
    the worker's timeout, redrive to the worker's dead-letter queue after `max_receive_count`
    deliveries; the event source on the worker (batch size 1, ReportBatchItemFailures, maximum
    concurrency `concurrency`) and on the dispatcher's role `sqs:SendMessage` on this queue only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dispatcher_role: iam.IRole,
        worker: MonitoredFunction,
        worker_timeout: Duration,
        concurrency: int = WORKER_CONCURRENCY,
        max_receive_count: int = MAX_RECEIVE_COUNT,
    ) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(worker_timeout.to_seconds() * VISIBILITY_FACTOR),
            retention_period=Duration.days(4),  # a day's messages outlive their three deliveries
            dead_letter_queue=sqs.DeadLetterQueue(queue=worker.dead_letter_queue, max_receive_count=max_receive_count),
        )
        apply_waiver(self.queue, SQS_MANAGED_ENCRYPTION)
        dispatcher_role.add_to_principal_policy(
            iam.PolicyStatement(sid="SendAccountMessages", actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
        worker.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue, batch_size=1, report_batch_item_failures=True, max_concurrency=concurrency
            )
        )
