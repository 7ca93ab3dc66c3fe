"""The scheduled posture Lambda, invoked in-process against moto over HTTP: failures become
SNS alerts (read back through an SQS subscription), every finding lands in the lake as Parquet."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from types import SimpleNamespace

import boto3
import pyarrow.parquet as pq

from policies.posture_handler import POSTURE_FINDINGS_SCHEMA, handler


def alerts_queue() -> tuple[str, str]:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="bw-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="bw-alerts-copy")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return topic, queue_url


def drain(queue_url: str) -> list[dict]:
    sqs, messages = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        messages += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
    return messages


def test_posture_lambda_alerts_and_writes_the_lake(aws_endpoint, monkeypatch) -> None:
    topic, queue_url = alerts_queue()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bw-processed")
    s3.create_bucket(Bucket="bw-public-acl")
    # Explicit grants: moto's canned "public-read-write" grants READ only (AWS adds WRITE).
    s3.put_bucket_acl(Bucket="bw-public-acl", GrantWrite='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    s3.create_bucket(Bucket="bw-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic)
    monkeypatch.setenv("PROCESSED_BUCKET", "bw-processed")
    monkeypatch.setenv("SCAN_REGIONS", "us-east-1")

    result = handler({"source": "aws.events"}, SimpleNamespace(aws_request_id="req-1"))

    assert result["buckets"] == 2  # bw-eu is outside SCAN_REGIONS
    alerts = drain(queue_url)
    fails = result["summary"]["by_status"]["FAIL"]
    assert fails > 0 and len(alerts) == fails == result["alerts_published"]
    assert {a["kind"] for a in alerts} == {"posture"}
    write = next(a for a in alerts if a["rule_id"] == "BW.S3.PublicWrite")
    assert write["context"]["resource"] == "arn:aws:s3:::bw-public-acl"
    assert write["severity"] == "Critical" and write["dedup"] == "BW.S3.PublicWrite:arn:aws:s3:::bw-public-acl"
    assert write["runbook"] and write["context"]["reason"]
    assert write["context"]["compliance"]["AWS Security Hub"]
    for key in ("title", "first_seen", "last_seen", "event_count", "samples"):
        assert key in write
    assert not any("bw-eu" in a["context"]["resource"] for a in alerts)

    (key,) = result["lake_keys"]
    assert re.fullmatch(r"bucketwatch/posture_findings/year=\d{4}/month=\d\d/day=\d\d/hour=\d\d/part-\w+\.parquet", key)
    body = s3.get_object(Bucket="bw-processed", Key=key)["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    assert table.schema.equals(POSTURE_FINDINGS_SCHEMA)
    assert table.num_rows == result["findings_written"]
    rows = table.to_pylist()
    assert {r["scan_id"] for r in rows} == {"req-1"}
    assert {r["resource"] for r in rows} >= {"arn:aws:s3:::bw-public-acl", "arn:aws:s3:::bw-processed"}
    buckets = [r for r in rows if r["resource_type"] == "AWS.S3.Bucket"]
    assert {(r["p_account_id"], r["p_region"]) for r in buckets} == {("123456789012", "us-east-1")}
    assert sum(r["status"] == "FAIL" for r in rows) == fails
    public_write = [r for r in rows if r["policy"] == "BW.S3.PublicWrite"]
    assert {r["resource"]: r["status"] for r in public_write} == {
        "arn:aws:s3:::bw-public-acl": "FAIL", "arn:aws:s3:::bw-processed": "PASS"}


def test_denied_calls_in_the_lambda_give_unknown_not_alerts(aws_endpoint, monkeypatch, deny) -> None:
    topic, queue_url = alerts_queue()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bw-processed")
    s3.put_bucket_acl(Bucket="bw-processed", ACL="public-read")
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic)
    monkeypatch.setenv("PROCESSED_BUCKET", "bw-processed")
    # The Lambda's role lacks s3:GetBucketAcl: ACL policies must say UNKNOWN, not FAIL.
    original = boto3.Session.__init__

    def session_with_denial(self, *args, **kwargs):
        original(self, *args, **kwargs)
        deny(self, "GetBucketAcl")

    monkeypatch.setattr(boto3.Session, "__init__", session_with_denial)
    result = handler({}, None)
    alerts = drain(queue_url)
    assert not [a for a in alerts if a["rule_id"] in ("BW.S3.PublicRead", "BW.S3.PublicWrite")]
    body = s3.get_object(Bucket="bw-processed", Key=result["lake_keys"][0])["Body"].read()
    rows = {r["policy"]: r for r in pq.read_table(io.BytesIO(body)).to_pylist()}
    assert rows["BW.S3.PublicRead"]["status"] == "UNKNOWN"
    assert "GetBucketAcl denied: AccessDenied" in rows["BW.S3.PublicRead"]["reason"]


def test_handler_module_stays_out_of_cdk_checkov_duckdb() -> None:
    code = ("import sys, policies.posture_handler; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'aws_cdk', 'checkov', 'duckdb', 'jsii'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_suppressions_from_bucketwatch_config_are_kept_not_alerted(aws_endpoint, monkeypatch, tmp_path) -> None:
    topic, queue_url = alerts_queue()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bw-processed")
    s3.put_bucket_acl(Bucket="bw-processed", GrantWrite='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    config = tmp_path / "bucketwatch.yml"
    config.write_text("posture:\n  suppressions:\n    - policy: BW.S3.PublicWrite\n      resource: '*processed'\n"
                      "      reason: lab account, bucket is recreated nightly\n")
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic)
    monkeypatch.setenv("PROCESSED_BUCKET", "bw-processed")
    monkeypatch.setenv("BUCKETWATCH_CONFIG", str(config))
    result = handler({}, None)
    assert not [a for a in drain(queue_url) if a["rule_id"] == "BW.S3.PublicWrite"]
    body = s3.get_object(Bucket="bw-processed", Key=result["lake_keys"][0])["Body"].read()
    row = next(r for r in pq.read_table(io.BytesIO(body)).to_pylist() if r["policy"] == "BW.S3.PublicWrite")
    assert (row["status"], row["verdict"]) == ("SUPPRESSED", "FAIL")
    assert row["suppression_reason"] == "lab account, bucket is recreated nightly"
