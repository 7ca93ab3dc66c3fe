"""Dedup stores (SQLite file, DynamoDB on moto over HTTP) and alert sinks (JSON lines, SNS)."""

from __future__ import annotations

import io
import json

import boto3
import pytest

from detectors.engine.alerts import AlertState
from detectors.engine.sinks import JsonLinesSink, SNSSink, TerminalSink, fit
from detectors.engine.stores import DynamoDBStore, SQLiteStore


def state(count=1):
    return AlertState(rule_id="R", dedup="d", alert_id="a1", window_start=10.0, first_seen=10.0,
                      last_seen=20.0, count=count, uniques=["x"], samples=[{"k": "v"}], context={"c": 1})


def exercise_store(store):
    assert store.get("R#d") == (None, 0)
    assert store.put("R#d", state(1), 0, 999)
    assert not store.put("R#d", state(9), 0, 999)  # someone else created it first
    loaded, version = store.get("R#d")
    assert loaded == state(1) and version == 1
    assert store.put("R#d", state(2), 1, 999)
    assert not store.put("R#d", state(3), 1, 999)  # stale version: concurrent update detected
    assert store.get("R#d")[0].count == 2


def test_sqlite_store(tmp_path):
    store = SQLiteStore(tmp_path / "state" / "dedup.sqlite")
    exercise_store(store)
    store.close()
    reopened = SQLiteStore(tmp_path / "state" / "dedup.sqlite")
    assert reopened.get("R#d")[0].count == 2  # state survives the process


def test_dynamodb_store(aws_endpoint):
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(TableName="dedup", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    store = DynamoDBStore("dedup", client)
    exercise_store(store)
    item = client.get_item(TableName="dedup", Key={"pk": {"S": "R#d"}})["Item"]
    assert item["expires_at"] == {"N": "999"} and item["rule_id"] == {"S": "R"}


def test_dynamodb_store_errors_other_than_conflicts_raise(aws_endpoint):
    from botocore.exceptions import ClientError

    store = DynamoDBStore("no-such-table", boto3.client("dynamodb", region_name="us-east-1"))
    with pytest.raises(ClientError):
        store.put("R#d", state(), 0, 1)


ALERT = {"kind": "detection", "status": "created", "rule_id": "R", "alert_id": "a1", "severity": "High",
         "title": "Bucket made public\nby someone", "dedup": "d", "first_seen": "2024-05-14T09:00:00Z",
         "last_seen": "2024-05-14T09:05:00Z", "event_count": 2, "samples": [{"k": "v"}], "context": {}}


def test_sns_sink_publishes_one_json_message_per_new_alert(aws_endpoint):
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sent = SNSSink(topic, sns).emit([ALERT, {**ALERT, "alert_id": "a2", "status": "updated"}])
    assert sent == 1
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert json.loads(envelope["Message"]) == ALERT
    assert envelope["Subject"] == "[High] Bucket made public by someone"
    assert envelope["MessageAttributes"]["severity"]["Value"] == "High"


def test_sns_sink_truncates_samples_of_oversized_messages(aws_endpoint):
    """Five 100 KB samples: SNS takes at most 256 KB, so samples shrink (never the alert)."""
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    captured = []

    class Recorder:
        def publish(self, **kwargs):
            captured.append(kwargs)
            return sns.publish(**kwargs)

    big = {**ALERT, "samples": [{"eventName": "PutObject", "blob": "x" * 100_000, "n": i} for i in range(5)],
           "runbook": "Revoke the key.", "context": {"bucket": "b"}}
    assert SNSSink(topic, Recorder()).emit([big]) == 1
    text = captured[0]["Message"]
    message = json.loads(text)
    assert len(text.encode()) <= 252 * 1024 and message["truncated"] == ["samples"]
    # As many whole samples as fit (two of 100 KB), the alert's own fields untouched.
    assert [s["n"] for s in message["samples"]] == [0, 1] and message["samples"][0]["blob"] == "x" * 100_000
    assert {k: message[k] for k in ("rule_id", "title", "runbook", "context", "first_seen", "last_seen")} == \
        {k: big[k] for k in ("rule_id", "title", "runbook", "context", "first_seen", "last_seen")}


def test_one_huge_sample_is_cut_not_dropped():
    one = {**ALERT, "samples": [{"eventName": "PutBucketPolicy", "policy": "y" * 400_000, "bucketName": "b"}]}
    message = json.loads(fit(one))
    sample = message["samples"][0]
    assert sample["eventName"] == "PutBucketPolicy" and sample["bucketName"] == "b"
    assert sample["policy"].startswith("y" * 2048) and sample["policy"].endswith("<397952 more characters>")
    huge_context = {**ALERT, "samples": [], "context": {f"k{i}": i for i in range(40_000)}}
    message = json.loads(fit(huge_context))
    assert message["context"] == {"omitted": "too large for one message"} and message["truncated"] == ["context"]
    assert message["title"] == ALERT["title"]


def test_json_lines_and_terminal_sinks(tmp_path):
    path = tmp_path / "out" / "alerts.jsonl"
    JsonLinesSink(path).emit([ALERT])
    JsonLinesSink(path).emit([{**ALERT, "alert_id": "a2"}])
    assert [json.loads(line)["alert_id"] for line in path.read_text().splitlines()] == ["a1", "a2"]
    out = io.StringIO()
    TerminalSink(out).emit([{**ALERT, "severity": "Low", "rule_id": "Z"}, ALERT])
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[HIGH    ] R: Bucket made public") and lines[2].startswith("[LOW     ] Z:")
    assert "2 event(s), 2024-05-14T09:00:00Z .. 2024-05-14T09:05:00Z" in lines[1]
