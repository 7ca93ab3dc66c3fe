"""The central posture scan fanned out over SQS, against moto over HTTP: the scheduled run sends
one message per account to a real (moto) queue; each message, received from that queue and handed
to the worker as Lambda's SQS event source would, scans its account into the lake and the alerts.

`deliver` plays the event source mapping: receive one message (batch size 1), invoke the worker,
delete the message unless the worker reported it in batchItemFailures, in which case it becomes
visible again (visibility timeout 0 here) and, past the queue's maxReceiveCount, moves to the
dead-letter queue (moto's redrive, as SQS does)."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from local_queues import alerts_queue, drain
from org_world import (
    AUDIT_ROLE,
    SETUP_ROLE,
    OrgWorld,
    assumed,
    build_organization,
    create_bucket,
    refuse_roles,
)

from detectors.common.organization import ENVIRONMENT_VARIABLE
from policies.config import PostureSettings
from policies.model import BUCKET_RESOURCE_TYPE, TRAIL_RESOURCE_TYPE
from policies.posture_fanout import OwnerScanProbe, reported_here, worker_handler
from policies.posture_handler import QUEUE_VARIABLE, handler
from policies.registry import policies_for
from policies.runner import Finding, ResourceRef

LAKE = "bw-central-processed"
PREFIX = "bucketwatch/posture_findings/"
MAX_RECEIVES = 3
SCHEDULED = {"id": "7bf73129-1428-4cd3-a780-95db273d1602", "time": "2025-05-12T06:00:00Z",
             "source": "aws.events", "detail-type": "Scheduled Event"}


def work_queue() -> tuple[str, str]:
    """The work queue with a redrive policy to its dead-letter queue, as the central stack has."""
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="bw-posture-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="bw-posture-accounts", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)})})["QueueUrl"]
    return url, dlq_url


def sqs_event(message: dict[str, Any]) -> dict[str, Any]:
    """The event Lambda's SQS event source builds from one received message."""
    return {"Records": [{"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                         "body": message["Body"], "attributes": {}, "messageAttributes": {},
                         "eventSource": "aws:sqs", "awsRegion": "us-east-1"}]}


def deliver(queue_url: str, rounds: int = 50) -> list[tuple[str, dict[str, Any]]]:
    """Poll like the event source mapping until the queue is empty: (body, worker answer) per delivery."""
    sqs, deliveries = boto3.client("sqs"), []
    for _ in range(rounds):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0).get("Messages")
        if not messages:
            return deliveries
        (message,) = messages
        answer = worker_handler(sqs_event(message), None)
        deliveries.append((message["Body"], answer))
        if not answer["batchItemFailures"]:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError(f"the queue still held messages after {rounds} deliveries")


def lake_rows() -> dict[str, list[dict[str, Any]]]:
    s3, rows = boto3.client("s3"), {}
    for item in s3.list_objects_v2(Bucket=LAKE, Prefix=PREFIX).get("Contents", []):
        body = s3.get_object(Bucket=LAKE, Key=item["Key"])["Body"].read()
        rows[item["Key"]] = pq.read_table(io.BytesIO(body)).to_pylist()
    return rows


@pytest.fixture
def central(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The organization world, m2's audit role not trusting the scanner, and the central
    environment: the organization, the work queue, the lake bucket and the alerts topic."""
    world = build_organization()
    refuse_roles(monkeypatch, {world.role_arn("m2")})
    topic, alerts = alerts_queue()
    boto3.client("s3").create_bucket(Bucket=LAKE)
    queue_url, dlq_url = work_queue()
    accounts = [world.management, *world.members.values()]
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic)
    monkeypatch.setenv("PROCESSED_BUCKET", LAKE)
    monkeypatch.setenv("SCAN_REGIONS", "us-east-1,eu-west-1")
    monkeypatch.setenv(QUEUE_VARIABLE, queue_url)
    organization(monkeypatch, accounts)
    return SimpleNamespace(world=world, accounts=accounts, alerts=alerts, queue_url=queue_url, dlq_url=dlq_url)


def organization(monkeypatch: pytest.MonkeyPatch, accounts: list[str]) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, json.dumps({"id": "o-a1b2c3d4e5", "accounts": accounts,
                                                         "audit_role_name": AUDIT_ROLE}))


def send(queue_url: str, body: str) -> None:
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)


def test_the_scheduled_run_sends_one_message_per_account_and_scans_nothing(central, monkeypatch) -> None:
    # 15 accounts: two SendMessageBatch calls (ten at most each).
    extra = [f"{900000000000 + n}" for n in range(11)]
    organization(monkeypatch, [*central.accounts, *extra])

    result = handler(SCHEDULED, SimpleNamespace(aws_request_id="dispatch-1"))

    assert result == {"scan_id": SCHEDULED["id"], "scan_time": "2025-05-12T06:00:00+00:00", "accounts_dispatched": 15}
    bodies = [json.loads(m) for m in drain_raw(central.queue_url)]
    assert sorted(b["account_id"] for b in bodies) == sorted([*central.accounts, *extra])
    assert {(b["scan_id"], b["scan_time"]) for b in bodies} == {(SCHEDULED["id"], "2025-05-12T06:00:00+00:00")}
    assert lake_rows() == {} and drain(central.alerts) == []


def drain_raw(queue_url: str) -> list[str]:
    sqs, bodies = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def one_invocation_rows(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the central Lambda wrote before the fan-out: every account in one invocation."""
    with monkeypatch.context() as scope:
        scope.delenv(QUEUE_VARIABLE)
        scope.setenv("PROCESSED_BUCKET", "bw-one-invocation")  # created before both scans: both judge it
        result = handler(SCHEDULED, SimpleNamespace(aws_request_id="one-invocation"))
    s3 = boto3.client("s3")
    (key,) = result["lake_keys"]
    return pq.read_table(io.BytesIO(s3.get_object(Bucket="bw-one-invocation", Key=key)["Body"].read())).to_pylist()


def verdicts(rows: list[dict[str, Any]]) -> list[tuple]:
    return sorted((r["policy"], r["resource"], r["status"], r["reason"], r["p_account_id"], r["p_region"]) for r in rows)


def test_workers_write_each_accounts_findings_as_the_one_invocation_scan_did(central, monkeypatch) -> None:
    world: OrgWorld = central.world
    boto3.client("s3").create_bucket(Bucket="bw-one-invocation")
    handler(SCHEDULED, None)

    deliveries = deliver(central.queue_url)

    # m2's role cannot be assumed: a verdict (UNKNOWN), not a failed message.
    assert [answer for _, answer in deliveries] == [{"batchItemFailures": []}] * 4
    files = lake_rows()
    assert len(files) == 4  # one file per account of this scan run
    rows = [row for file in files.values() for row in file]
    assert {r["scan_id"] for r in rows} == {SCHEDULED["id"]}
    assert {str(r["scan_time"]) for r in rows} == {"2025-05-12 06:00:00"}
    assert all("/year=2025/month=05/day=12/hour=06/" in key for key in files)
    for file in files.values():  # each file holds exactly one account's findings
        assert len({r["p_account_id"] for r in file}) == 1
    m2 = [r for r in rows if r["p_account_id"] == world.members["m2"]]
    assert [(r["policy"], r["status"]) for r in m2] == [("BW.S3.AccountPublicAccessBlock", "UNKNOWN")]
    assert "account not scanned" in m2[0]["reason"] and world.role_arn("m2") in m2[0]["reason"]
    alerts = drain(central.alerts)
    assert len(alerts) == sum(r["status"] == "FAIL" for r in rows) > 0
    public = next(a for a in alerts if a["rule_id"] == "BW.S3.PublicRead")
    assert public["context"]["account_id"] == world.members["m0"]
    # The same verdicts, row for row, as one invocation scanning the whole organization.
    assert verdicts(rows) == verdicts(one_invocation_rows(monkeypatch))


def test_the_same_message_delivered_twice_leaves_the_accounts_findings_once(central) -> None:
    m0 = central.world.members["m0"]
    body = json.dumps({"scan_id": "run-1", "scan_time": "2025-05-12T06:00:00+00:00", "account_id": m0})
    send(central.queue_url, body)
    deliver(central.queue_url)
    first = lake_rows()
    send(central.queue_url, body)  # SQS delivers at least once
    assert [answer for _, answer in deliver(central.queue_url)] == [{"batchItemFailures": []}]

    again = lake_rows()
    assert list(again) == list(first) and len(again) == 1
    (rows,) = again.values()
    assert len({(r["policy"], r["resource"]) for r in rows}) == len(rows)
    assert {r["p_account_id"] for r in rows} == {m0}


def test_a_retry_after_new_buckets_replaces_the_file_rather_than_adding_one(central) -> None:
    m1 = central.world.members["m1"]
    body = json.dumps({"scan_id": "run-2", "scan_time": "2025-05-12T06:00:00+00:00", "account_id": m1})
    send(central.queue_url, body)
    deliver(central.queue_url)
    (before,) = lake_rows().values()
    create_bucket(assumed(central.world.role_arn("m1", SETUP_ROLE)), f"m1-new-{m1}", "us-east-1")
    send(central.queue_url, body)
    deliver(central.queue_url)

    (after,) = lake_rows().values()
    assert {r["name"] for r in after} - {r["name"] for r in before} == {f"m1-new-{m1}"}
    assert len({(r["policy"], r["resource"]) for r in after}) == len(after)


@pytest.mark.parametrize(("body", "reason"), [
    ("not json {", "message: body is not JSON"),
    ('["a list"]', "message: expected a mapping, got list"),
    ('{"scan_id": "r", "scan_time": "2025-05-12T06:00:00+00:00"}', "message.account_id: expected a non-empty string"),
    ('{"scan_id": "r", "scan_time": "yesterday", "account_id": "ACCOUNT"}', "message.scan_time: expected an ISO 8601 time"),
    ('{"scan_id": "r", "scan_time": "2025-05-12T06:00:00", "account_id": "ACCOUNT"}', "expected a time with its UTC offset"),
    ('{"scan_id": "r", "scan_time": "2025-05-12T06:00:00+00:00", "account_id": "555555555555"}',
     "message.account_id: 555555555555 is not one of the organization's accounts"),
    ('{"scan_id": "r", "scan_time": "2025-05-12T06:00:00+00:00", "account_id": "ACCOUNT", "role": "Admin"}',
     "message: unknown key(s) role"),
])
def test_a_malformed_message_is_logged_retried_then_kept_in_the_dead_letter_queue(
        central, capsys, body: str, reason: str) -> None:
    send(central.queue_url, body.replace("ACCOUNT", central.world.members["m0"]))

    deliveries = deliver(central.queue_url)

    # Failed alone on each of maxReceiveCount deliveries, then SQS moves it aside: no endless loop.
    assert len(deliveries) == MAX_RECEIVES
    assert all(len(answer["batchItemFailures"]) == 1 for _, answer in deliveries)
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    rejected = [line for line in logged if line["message"] == "message rejected"]
    assert len(rejected) == MAX_RECEIVES and all(reason in line["reason"] for line in rejected)
    kept = drain_raw(central.dlq_url)
    assert kept == [body.replace("ACCOUNT", central.world.members["m0"])]
    assert lake_rows() == {} and drain(central.alerts) == []


def test_only_the_failing_message_of_a_batch_is_reported(central, capsys) -> None:
    m1 = central.world.members["m1"]
    good = {"messageId": "good", "body": json.dumps({"scan_id": "run-3", "scan_time": "2025-05-12T06:00:00+00:00",
                                                     "account_id": m1})}
    bad = {"messageId": "bad", "body": "{"}

    assert worker_handler({"Records": [bad, good]}, None) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert {r["p_account_id"] for file in lake_rows().values() for r in file} == {m1}


def test_a_scan_that_fails_is_reported_for_retry(central, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PROCESSED_BUCKET", "bw-no-such-lake")  # the lake write fails
    send(central.queue_url, json.dumps({"scan_id": "run-4", "scan_time": "2025-05-12T06:00:00+00:00",
                                        "account_id": central.world.members["m1"]}))

    deliveries = deliver(central.queue_url)

    assert len(deliveries) == MAX_RECEIVES and len(drain_raw(central.dlq_url)) == 1
    errors = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"account scan failed"' in line]
    assert len(errors) == MAX_RECEIVES and "NoSuchBucket" in errors[0]["reason"]


def test_the_worker_refuses_a_non_sqs_event(central) -> None:
    with pytest.raises(ValueError, match="expects an SQS event"):
        worker_handler({"source": "aws.events"}, None)


def test_a_trail_seen_from_several_accounts_is_reported_by_one_worker() -> None:
    """An organization trail's shadow copies appear in every member's DescribeTrails: only its
    owner's worker reports it, or the first listed account's when the owner is not scanned."""
    policy = policies_for(PostureSettings())[0]
    accounts = ["111111111111", "222222222222", "333333333333"]

    def seen(owner: str, kind: str = TRAIL_RESOURCE_TYPE) -> list[str]:
        finding = Finding(policy, ResourceRef(id=f"arn:aws:cloudtrail:us-east-1:{owner}:trail/org", source="live",
                                              account=owner), "PASS", "", "PASS", resource_type=kind)
        return [account for account in accounts if reported_here(finding, account, accounts)]

    assert seen("222222222222") == ["222222222222"]  # the owner is scanned: its worker alone
    assert seen("999999999999") == ["111111111111"]  # the management account, not listed: the first account
    assert seen("999999999999", BUCKET_RESOURCE_TYPE) == accounts  # buckets are only ever listed by their owner


def test_a_trail_whose_owner_cannot_be_scanned_is_reported_by_the_first_account() -> None:
    """The management account owns the organization trail and often has no audit role: its
    worker sees nothing, so the first listed account's worker reports the trail's shadow copy."""
    policy = policies_for(PostureSettings())[0]
    accounts = ["111111111111", "222222222222", "333333333333"]
    asked: list[str] = []

    def owner_scanned(account: str) -> bool:
        asked.append(account)
        return account != "222222222222"

    finding = Finding(policy, ResourceRef(id="arn:aws:cloudtrail:us-east-1:222222222222:trail/org", source="live",
                                          account="222222222222"), "PASS", "", "PASS", resource_type=TRAIL_RESOURCE_TYPE)
    reporters = [a for a in accounts if a != "222222222222" and reported_here(finding, a, accounts, owner_scanned)]
    assert reporters == ["111111111111"] and asked == ["222222222222"]  # only the first account's worker asks
    owner_is_first = Finding(policy, ResourceRef(id="arn:aws:cloudtrail:us-east-1:111111111111:trail/org",
                                                 source="live", account="111111111111"), "PASS", "", "PASS",
                             resource_type=TRAIL_RESOURCE_TYPE)
    assert [a for a in accounts if reported_here(owner_is_first, a, accounts, owner_scanned)] == ["111111111111"]


def test_the_owner_probe_assumes_the_audit_role_once_per_account(central) -> None:
    """Against moto: a member whose role can be assumed is scanned by its own worker, one whose
    role is refused (m2) is not, and the central account needs no role (its own credentials)."""
    world: OrgWorld = central.world
    probe = OwnerScanProbe(AUDIT_ROLE)
    calls: list[str] = []
    probe.session.events.register("before-call.sts.AssumeRole", lambda **kwargs: calls.append("AssumeRole"))
    assert probe(world.members["m0"]) is True
    assert probe(world.members["m2"]) is False
    assert probe(world.management) is True  # the caller's own account
    assert probe(world.members["m2"]) is False
    assert probe(world.members["m0"]) is True
    assert calls == ["AssumeRole"]  # m0 once (remembered); m2 is refused before a call is sent
