"""Drive the detector handler as AWS Lambda would, in this process (moto cannot run Lambda code).

The log buckets notify the notification topic; a queue subscribed to that topic stands where the
Lambda's event source would be. Each batch read from it is handed to `detectors.handler.handler`
as an SQS event (the bodies are the SNS envelopes, as SNS delivers them to SQS). Messages the
handler reports as failed stay on the queue, like an SQS event source's partial batch response.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3

from bucketwatch.demo.account import Provisioned
from bucketwatch.demo.clients import Clients
from bucketwatch.localaws import LOCAL_AWS_ENV


class DemoError(Exception):
    """Something in the demo's own pipeline went wrong; the message says what."""


@dataclass
class LambdaContext:
    """The few attributes handlers read from Lambda's context object."""

    function_name: str = "bucketwatch-detector"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "demo"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bucketwatch-detector"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


@dataclass
class DetectorRun:
    invocations: int = 0
    messages: int = 0
    failed_messages: int = 0
    results: list[Any] = field(default_factory=list)


@contextmanager
def environment(updates: dict[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """Set `updates` and unset `remove` in os.environ for this block; all restored afterwards.

    boto3's default session resolves credentials once per process and keeps them, as in a Lambda
    (one role per process). Here one process plays several accounts' functions one after the
    other, so the default session is dropped on the way in and out: `boto3.client(...)` then reads
    this block's credentials (another account's cached keys would see none of its resources)."""
    with patch.dict(os.environ, updates):
        for key in remove:
            os.environ.pop(key, None)
        boto3.DEFAULT_SESSION = None
        try:
            yield
        finally:
            boto3.DEFAULT_SESSION = None


def local_aws(endpoint_url: str) -> Any:
    """boto3 anywhere in this process talks to the local endpoint with fake credentials only;
    profiles from the user's shell are set aside, so no real account can be reached."""
    return environment({**LOCAL_AWS_ENV, "AWS_ENDPOINT_URL": endpoint_url},
                       remove=("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CA_BUNDLE", "AWS_ROLE_ARN",
                               "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                               "AWS_CONTAINER_CREDENTIALS_FULL_URI"))


def handler_environment(provisioned: Provisioned, config_path: Path | None,
                        extra: dict[str, str] | None = None) -> Any:
    """The detector Lambda's environment variables, as the CDK stack sets them (`extra`: more,
    e.g. the central stack's BUCKETWATCH_ORGANIZATION_FILE and the function role's credentials)."""
    n = provisioned.names
    updates = {"ALERTS_TOPIC_ARN": provisioned.alerts_topic_arn, "PROCESSED_BUCKET": n.processed_bucket,
               "DEDUP_TABLE": n.dedup_table, **(extra or {})}
    if config_path is not None:
        updates["BUCKETWATCH_CONFIG"] = str(config_path)
    return environment(updates)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event an SQS event source hands to Lambda for `messages` (from ReceiveMessage)."""
    return {"Records": [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": {key: str(value) for key, value in (m.get("Attributes") or {}).items()},
        "messageAttributes": {},
        "md5OfBody": m.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for m in messages]}


class DetectorDriver:
    """Reads the detector queue and invokes the handler until the queue is empty."""

    def __init__(self, clients: Clients, provisioned: Provisioned, batch_size: int = 10) -> None:
        self.c = clients
        self.p = provisioned
        self.batch_size = batch_size
        self.queue_arn = self.c.sqs.get_queue_attributes(
            QueueUrl=provisioned.detector_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.run = DetectorRun()

    def drain(self, on_batch: Any = None) -> None:
        from detectors.handler import handler  # the Lambda's own entry point

        while True:
            messages = self.c.sqs.receive_message(
                QueueUrl=self.p.detector_queue_url, MaxNumberOfMessages=self.batch_size,
                AttributeNames=["All"], VisibilityTimeout=300, WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                return
            result = handler(sqs_event(messages, self.queue_arn, self.p.names.region), LambdaContext())
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
            self.run.invocations += 1
            self.run.messages += len(messages)
            self.run.failed_messages += len(failed)
            self.run.results.append(result)
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:  # as the SQS event source does: processed messages go, failed ones stay
                self.c.sqs.delete_message_batch(
                    QueueUrl=self.p.detector_queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            if failed:
                raise DemoError(f"the detector handler reported {len(failed)} failed messages: {result}")
            if on_batch:
                on_batch(len(messages))


def read_alerts(clients: Clients, provisioned: Provisioned) -> list[dict[str, Any]]:
    """Every alert published to the alerts topic, read back from its subscribed queue."""
    alerts = []
    while True:
        messages = clients.sqs.receive_message(
            QueueUrl=provisioned.alerts_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return alerts
        for m in messages:
            envelope = json.loads(m["Body"])
            alerts.append(json.loads(envelope["Message"]) if "Message" in envelope else envelope)
        clients.sqs.delete_message_batch(
            QueueUrl=provisioned.alerts_queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


def mirror_lake(clients: Clients, bucket: str, local_root: Path, prefix: str = "") -> int:
    """Copy the processed bucket's lake to a local folder, same relative keys; returns object count."""
    paginator = clients.s3.get_paginator("list_objects_v2")
    count = 0
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix):]
            target = local_root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            clients.s3.download_file(bucket, obj["Key"], str(target))
            count += 1
    return count
