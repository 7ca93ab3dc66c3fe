"""The detector Lambda on the local AWS endpoint: for any event it either succeeds or fails loudly
(RuntimeError with the reasons, for Lambda's retries and dead-letter queue) — never another
exception; and for any object content it succeeds, every record accounted for (the handler
checks records in = rows written + quarantined per object and fails the object otherwise)."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from fuzz_strategies import any_log_bytes, json_values
from hypothesis import given
from hypothesis import strategies as st

from detectors import handler as detector

REGION = "us-east-1"


@pytest.fixture
def lambda_env(aws_endpoint, monkeypatch):
    s3 = boto3.client("s3", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    for bucket in ("source-logs", "processed"):
        s3.create_bucket(Bucket=bucket)
    ddb.create_table(TableName="dedup", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    monkeypatch.setenv("ALERTS_TOPIC_ARN", sns.create_topic(Name="alerts")["TopicArn"])
    monkeypatch.setenv("PROCESSED_BUCKET", "processed")
    monkeypatch.setenv("DEDUP_TABLE", "dedup")
    monkeypatch.delenv("BUCKETWATCH_CONFIG", raising=False)
    return s3, sns, ddb


def _s3_record(key):
    return {"eventSource": "aws:s3", "s3": {"bucket": {"name": "source-logs"}, "object": {"key": key}}}


messages = st.one_of(
    json_values.map(json.dumps), st.text(max_size=50), st.just(""),
    st.lists(st.one_of(json_values, st.builds(_s3_record, json_values)), max_size=3).map(
        lambda records: json.dumps({"Records": records})),
)
records = st.one_of(
    json_values,
    st.builds(lambda body, mid: {"eventSource": "aws:sqs", "messageId": mid, "body": body}, messages,
              st.one_of(st.text(min_size=1, max_size=8), json_values)),
    st.builds(lambda body: {"EventSource": "aws:sns", "Sns": {"Message": body}}, messages),
    st.builds(_s3_record, json_values),
)
events = st.one_of(json_values, st.builds(lambda r: {"Records": r}, st.lists(records, max_size=4)))


@given(events)
def test_any_event_succeeds_or_fails_loudly(lambda_env, event):
    s3, sns, ddb = lambda_env
    try:
        result = detector.run(event, s3, sns, ddb)
    except RuntimeError as exc:
        assert str(exc)  # a reason for the dead-letter queue
        return
    assert set(result) == {"batchItemFailures"}


@given(any_log_bytes(), st.sampled_from(["logs/2024-05-14-10-00-00-5F3A0E4C1B2D7A98",
                                         "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/f.json.gz", "x"]))
def test_any_object_content_is_processed_and_accounted_for(lambda_env, data, name):
    s3, sns, ddb = lambda_env
    key = f"{uuid.uuid4().hex}/{name}"
    s3.put_object(Bucket="source-logs", Key=key, Body=data)
    event = {"Records": [_s3_record(key)]}
    assert detector.run(event, s3, sns, ddb) == {"batchItemFailures": []}
    assert detector.run(event, s3, sns, ddb) == {"batchItemFailures": []}  # a re-delivery: skipped
