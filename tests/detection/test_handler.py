"""The detector Lambda end to end on moto over HTTP: S3 object -> SNS notification -> (SQS) ->
handler invoked in-process -> lake objects + alerts read back from a queue on the alerts topic."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from detectors import handler as detector

SAMPLES = Path(__file__).resolve().parents[2] / "detectors" / "samples" / "logs"
ACCESS_SAMPLE = next((SAMPLES / "s3-access" / "finance-reports").iterdir())
CLOUDTRAIL_SAMPLE = next((SAMPLES / "cloudtrail").rglob("*.json.gz"))
REGION = "us-east-1"
# Alerts the samples raise without a config file (see detectors/samples/make_samples.py).
CLOUDTRAIL_ALERTS = {
    "AWS.S3.SecurityControlDisabling", "Bucketwatch.CloudTrail.LoggingTampered", "Bucketwatch.S3.BucketMadePublic",
    "AWS.S3.CopyObjectWithClientSideEncryption", "AWS.S3.DeletePublicAccessBlock", "AWS.S3.RansomwareNoteUpload",
    "AWS.S3.DisableBucketLogging", "AWS.S3.DisableMfaDelete", "AWS.S3.SuspendVersioning",
    "AWS.S3.BucketPolicyModified", "AWS.S3.DeleteObjects", "AWS.CloudTrail.ResourceMadePublic",
}
ACCESS_ALERTS = {"AWS.S3.ServerAccess.Error"}


class Account:
    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        ddb = boto3.client("dynamodb", region_name=REGION)
        for bucket in ("source-logs", "processed"):
            self.s3.create_bucket(Bucket=bucket)
        ddb.create_table(TableName="dedup", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        self.notifications = self.sns.create_topic(Name="log-notifications")["TopicArn"]
        self.alerts = self.sns.create_topic(Name="alerts")["TopicArn"]
        self.detector_queue = self._subscribed_queue("detector-queue", self.notifications)
        self.alerts_queue = self._subscribed_queue("alerts-inbox", self.alerts)
        self.s3.put_bucket_notification_configuration(Bucket="source-logs", NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": self.notifications, "Events": ["s3:ObjectCreated:*"]}]})

    def _subscribed_queue(self, name: str, topic: str) -> str:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        return url

    def drain(self, url: str) -> list[dict]:
        messages = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                return messages
            messages += batch
            for message in batch:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def alerts_published(self) -> list[dict]:
        return [json.loads(json.loads(m["Body"])["Message"]) for m in self.drain(self.alerts_queue)]

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for item in listing.get("Contents", [])]


@pytest.fixture
def account(aws_endpoint, monkeypatch):
    acct = Account()
    monkeypatch.setenv("ALERTS_TOPIC_ARN", acct.alerts)
    monkeypatch.setenv("PROCESSED_BUCKET", "processed")
    monkeypatch.setenv("DEDUP_TABLE", "dedup")
    monkeypatch.delenv("BUCKETWATCH_CONFIG", raising=False)
    return acct


def sqs_event(messages: list[dict]) -> dict:
    return {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                         "eventSource": "aws:sqs", "awsRegion": REGION} for m in messages]}


def upload_logs(account: Account) -> dict[str, str]:
    """Two good objects (one gzip, one with a space in its key) and a corrupt one."""
    keys = {
        "access": "finance reports/2024-05-14-10-00-00-5F3A0E4C1B2D7A98",
        "cloudtrail": "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/14/" + CLOUDTRAIL_SAMPLE.name,
        "bad": "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/14/111122223333_CloudTrail_us-east-1_20240514T1015Z_bad.json.gz",
    }
    account.s3.put_object(Bucket="source-logs", Key=keys["access"], Body=ACCESS_SAMPLE.read_bytes())
    account.s3.put_object(Bucket="source-logs", Key=keys["cloudtrail"], Body=CLOUDTRAIL_SAMPLE.read_bytes())
    account.s3.put_object(Bucket="source-logs", Key=keys["bad"], Body=b"\x1f\x8b\x08\x00garbage-not-gzip")
    return keys


def test_sqs_batch_with_a_bad_object_fails_only_that_message(account):
    keys = upload_logs(account)
    messages = account.drain(account.detector_queue)
    by_key = {}
    for message in messages:
        for ref in detector.object_refs(sqs_event([message])):
            by_key[ref.key] = message["MessageId"]
    assert set(by_key) == set(keys.values())  # keys URL-decoded ('+' back to a space)

    result = detector.handler(sqs_event(messages), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": by_key[keys["bad"]]}]}

    alerts = account.alerts_published()
    assert {a["rule_id"] for a in alerts} == CLOUDTRAIL_ALERTS | ACCESS_ALERTS
    assert len(alerts) == len(CLOUDTRAIL_ALERTS | ACCESS_ALERTS)
    error_alert = next(a for a in alerts if a["rule_id"] == "AWS.S3.ServerAccess.Error")
    assert error_alert["kind"] == "detection" and error_alert["status"] == "created"
    assert error_alert["event_count"] == 6  # all six 403s arrived in one object, one flush
    assert error_alert["first_seen"] == "2024-05-14T09:10:00Z" and error_alert["samples"]

    lake = account.keys("processed")
    assert any(k.startswith("panther_logs/aws_s3serveraccess/year=2024/month=05/day=14/hour=09/") for k in lake)
    assert any(k.startswith("panther_logs/aws_cloudtrail/year=2024/month=05/day=14/hour=10/") for k in lake)
    assert any(k.startswith("panther_rule_matches/aws_cloudtrail/year=2024/month=05/day=14/hour=09/") for k in lake)
    assert any(k.startswith("panther_rule_matches/aws_s3serveraccess/") for k in lake)

    # SQS redelivers the failed message: it fails again; the good objects' alerts are not repeated.
    again = detector.handler(sqs_event([m for m in messages if m["MessageId"] == by_key[keys["bad"]]]), None)
    assert again["batchItemFailures"] == [{"itemIdentifier": by_key[keys["bad"]]}]
    assert account.alerts_published() == []


def test_reprocessing_good_objects_updates_alerts_instead_of_repeating_them(account):
    keys = upload_logs(account)
    messages = [m for m in account.drain(account.detector_queue)
                if any(ref.key != keys["bad"] for ref in detector.object_refs(sqs_event([m])))]
    assert detector.handler(sqs_event(messages), None) == {"batchItemFailures": []}
    first = account.alerts_published()
    lake_before = sorted(account.keys("processed", "panther_logs/"))
    assert detector.handler(sqs_event(messages), None) == {"batchItemFailures": []}
    assert account.alerts_published() == []
    assert sorted(account.keys("processed", "panther_logs/")) == lake_before  # same files, no duplicates
    assert len(first) == len(CLOUDTRAIL_ALERTS | ACCESS_ALERTS)


def test_sns_delivery_raises_after_processing_the_good_objects(account):
    keys = upload_logs(account)
    account.drain(account.detector_queue)
    records = []
    for key in (keys["bad"], keys["cloudtrail"]):
        notification = {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "source-logs"},
                                                                     "object": {"key": key}}}]}
        records.append({"EventSource": "aws:sns", "Sns": {"Message": json.dumps(notification)}})
    with pytest.raises(RuntimeError, match=r"_bad\.json\.gz"):
        detector.handler({"Records": records}, None)
    assert {a["rule_id"] for a in account.alerts_published()} == CLOUDTRAIL_ALERTS


def test_direct_s3_event_with_url_encoded_key_and_quarantine(account):
    lines = ACCESS_SAMPLE.read_text().splitlines()
    body = "\n".join([*lines, "this is not an access log line"]) + "\n"
    account.s3.put_object(Bucket="source-logs", Key="logs/a b+c/2024-05-14-10-00-00-ABCDEF0123456789", Body=body.encode())
    event = {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "source-logs"},
                                                          "object": {"key": "logs/a+b%2Bc/2024-05-14-10-00-00-ABCDEF0123456789"}}}]}
    assert detector.handler(event, None) == {"batchItemFailures": []}
    (quarantine_key,) = account.keys("processed", "_quarantine/")
    entry = json.loads(account.s3.get_object(Bucket="processed", Key=quarantine_key)["Body"].read().decode().splitlines()[0])
    assert entry["source"] == "s3://source-logs/logs/a b+c/2024-05-14-10-00-00-ABCDEF0123456789"
    assert entry["line_number"] == len(lines) + 1 and entry["raw"] == "this is not an access log line"


def test_alert_topic_failure_raises_and_keeps_the_alert_for_the_retry(account, monkeypatch):
    keys = upload_logs(account)
    account.drain(account.detector_queue)
    event = {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "source-logs"},
                                                          "object": {"key": keys["cloudtrail"].replace(" ", "+")}}}]}
    monkeypatch.setenv("ALERTS_TOPIC_ARN", account.alerts.replace(":alerts", ":no-such-topic"))
    with pytest.raises(detector.SharedOutputError):
        detector.handler(event, None)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", account.alerts)
    assert detector.handler(event, None) == {"batchItemFailures": []}
    assert {a["rule_id"] for a in account.alerts_published()} == CLOUDTRAIL_ALERTS


def test_s3_test_event_and_junk_are_ignored():
    test_event = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1",
                               "body": json.dumps({"Type": "Notification", "Message": json.dumps(
                                   {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})})},
                              {"eventSource": "aws:sqs", "messageId": "m2", "body": "not json"}]}
    assert detector.object_refs(test_event) == []


def test_config_file_from_the_environment_enables_the_tutorial_detections(account, monkeypatch):
    monkeypatch.setenv("BUCKETWATCH_CONFIG", str(SAMPLES.parent / "bucketwatch.yml"))
    account.s3.put_object(Bucket="source-logs", Key="finance/2024-05-14-10-00-00-5F3A0E4C1B2D7A98",
                          Body=ACCESS_SAMPLE.read_bytes())
    account.drain(account.detector_queue)
    event = {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "source-logs"}, "object": {
        "key": "finance/2024-05-14-10-00-00-5F3A0E4C1B2D7A98"}}}]}
    assert detector.handler(event, None) == {"batchItemFailures": []}
    assert {a["rule_id"] for a in account.alerts_published()} == {
        "AWS.S3.ServerAccess.Error", "AWS.S3.ServerAccess.IPWhitelist", "AWS.S3.ServerAccess.UnknownRequester"}


def test_bad_config_file_raises_for_a_retry(account, monkeypatch, tmp_path):
    from detectors.common.errors import UserError

    bad = tmp_path / "bw.yml"
    bad.write_text("detections:\n  ip_allowlist: [{cidrs: [nope]}]\n")
    monkeypatch.setenv("BUCKETWATCH_CONFIG", str(bad))
    with pytest.raises(UserError, match=r"detections\.ip_allowlist\[0\]\.cidrs\[0\]"):
        detector.handler({"Records": []}, None)
