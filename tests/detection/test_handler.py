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


def s3_event(*keys: str, bucket: str = "source-logs") -> dict:
    """A direct S3 notification (as S3 sends it: keys URL-encoded, '+' for spaces)."""
    return {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": bucket},
                                                         "object": {"key": key.replace(" ", "+")}}} for key in keys]}


def sns_event(*keys: str) -> dict:
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(s3_event(key))}} for key in keys]}


def upload_logs(account: Account) -> dict[str, str]:
    """Two good objects (one gzip, one with a space in its key), a corrupt gzip, and an object that
    was announced but is gone by the time the detector reads it."""
    keys = {
        "access": "finance reports/2024-05-14-10-00-00-5F3A0E4C1B2D7A98",
        "cloudtrail": "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/14/" + CLOUDTRAIL_SAMPLE.name,
        "corrupt": "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/14/111122223333_CloudTrail_us-east-1_20240514T1015Z_bad.json.gz",
        "gone": "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/14/111122223333_CloudTrail_us-east-1_20240514T1020Z_gone.json.gz",
    }
    account.s3.put_object(Bucket="source-logs", Key=keys["access"], Body=ACCESS_SAMPLE.read_bytes())
    account.s3.put_object(Bucket="source-logs", Key=keys["cloudtrail"], Body=CLOUDTRAIL_SAMPLE.read_bytes())
    account.s3.put_object(Bucket="source-logs", Key=keys["corrupt"], Body=b"\x1f\x8b\x08\x00garbage-not-gzip")
    account.s3.put_object(Bucket="source-logs", Key=keys["gone"], Body=CLOUDTRAIL_SAMPLE.read_bytes())
    account.s3.delete_object(Bucket="source-logs", Key=keys["gone"])
    return keys


def message_ids(account: Account, messages: list[dict]) -> dict[str, str]:
    by_key = {}
    for message in messages:
        for ref in detector.object_refs(sqs_event([message])):
            by_key[ref.key] = message["MessageId"]
    return by_key


def group_counts(rule_id: str) -> dict[str, int]:
    """Event counts of a rule's dedup groups, read straight from the table."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    items = ddb.scan(TableName="dedup")["Items"]
    return {item["pk"]["S"]: json.loads(item["state"]["S"])["count"] for item in items
            if item["pk"]["S"].startswith(f"{rule_id}#")}


def test_sqs_batch_fails_only_the_message_whose_object_cannot_be_read(account):
    keys = upload_logs(account)
    messages = account.drain(account.detector_queue)
    by_key = message_ids(account, messages)
    assert set(by_key) == set(keys.values())  # keys URL-decoded ('+' back to a space)

    result = detector.handler(sqs_event(messages), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": by_key[keys["gone"]]}]}

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
    # The corrupt gzip is data, not a failure: one quarantine entry says why (a retry would not help).
    entries = [json.loads(account.s3.get_object(Bucket="processed", Key=k)["Body"].read())
               for k in account.keys("processed", "_quarantine/")]
    corrupt = [e for e in entries if e["source"].endswith("_bad.json.gz")]
    assert [(e["line_number"], e["offset"]) for e in corrupt] == [(None, 0)]  # the whole file
    assert corrupt[0]["reason"].startswith("gzip data is corrupt")

    # SQS redelivers the failed message: it fails again; the good objects' alerts are not repeated.
    again = detector.handler(sqs_event([m for m in messages if m["MessageId"] == by_key[keys["gone"]]]), None)
    assert again["batchItemFailures"] == [{"itemIdentifier": by_key[keys["gone"]]}]
    assert account.alerts_published() == []


def test_a_redelivered_batch_changes_no_count_and_publishes_nothing(account):
    keys = upload_logs(account)
    messages = [m for m in account.drain(account.detector_queue)
                if not any(ref.key in (keys["gone"],) for ref in detector.object_refs(sqs_event([m])))]
    assert detector.handler(sqs_event(messages), None) == {"batchItemFailures": []}
    first = account.alerts_published()
    counts = group_counts("AWS.S3.ServerAccess.Error")
    lake_before = sorted(account.keys("processed", "panther_logs/"))
    assert detector.handler(sqs_event(messages), None) == {"batchItemFailures": []}
    assert account.alerts_published() == []
    assert group_counts("AWS.S3.ServerAccess.Error") == counts
    assert sorted(account.keys("processed", "panther_logs/")) == lake_before  # same files, no duplicates
    assert len(first) == len(CLOUDTRAIL_ALERTS | ACCESS_ALERTS)


def _access_lines(status: str, count: int) -> list[str]:
    lines = [line for line in ACCESS_SAMPLE.read_text().splitlines() if f" {status} AccessDenied " in line]
    assert len(lines) >= count
    return lines[:count]


def test_three_403s_delivered_twice_stay_three_and_raise_nothing(account):
    """The issue's case: threshold 5; before, a retried delivery counted 6 and raised an alert."""
    key = "finance/2024-05-14-09-00-00-AAAAAAAAAAAAAAAA"
    account.s3.put_object(Bucket="source-logs", Key=key, Body=("\n".join(_access_lines("403", 3)) + "\n").encode())
    account.drain(account.detector_queue)
    for _ in range(2):
        assert detector.handler(s3_event(key), None) == {"batchItemFailures": []}
    assert list(group_counts("AWS.S3.ServerAccess.Error").values()) == [3]
    assert account.alerts_published() == []
    # Two more, in a new object: the threshold is reached with the true count.
    other = "finance/2024-05-14-09-30-00-BBBBBBBBBBBBBBBB"
    lines = _access_lines("403", 5)[3:]
    account.s3.put_object(Bucket="source-logs", Key=other, Body=("\n".join(lines) + "\n").encode())
    assert detector.handler(s3_event(other), None) == {"batchItemFailures": []}
    (alert,) = account.alerts_published()
    assert (alert["rule_id"], alert["event_count"]) == ("AWS.S3.ServerAccess.Error", 5)


def test_an_invocation_that_died_after_counting_is_not_counted_again(account):
    """Without the object marker (as if the Lambda died before writing it), the rows' own markers
    keep every dedup group exactly once."""
    keys = upload_logs(account)
    account.drain(account.detector_queue)
    assert detector.handler(s3_event(keys["cloudtrail"], keys["access"]), None) == {"batchItemFailures": []}
    published = account.alerts_published()
    counts = {rule: group_counts(rule) for rule in CLOUDTRAIL_ALERTS | ACCESS_ALERTS}
    ddb = boto3.client("dynamodb", region_name=REGION)
    markers = [i["pk"]["S"] for i in ddb.scan(TableName="dedup")["Items"] if i["pk"]["S"].startswith("object#")]
    assert len(markers) == 2
    for marker in markers:
        ddb.delete_item(TableName="dedup", Key={"pk": {"S": marker}})
    assert detector.handler(s3_event(keys["cloudtrail"], keys["access"]), None) == {"batchItemFailures": []}
    assert account.alerts_published() == []
    assert {rule: group_counts(rule) for rule in CLOUDTRAIL_ALERTS | ACCESS_ALERTS} == counts
    assert len(published) == len(CLOUDTRAIL_ALERTS | ACCESS_ALERTS)


class Throttle:
    """DynamoDB answering ProvisionedThroughputExceeded to TransactWriteItems once SNS has accepted
    an alert, `times` times: injected through botocore's own `before-send` hook, so the real client
    (and its retry logic) handles a real error response."""

    def __init__(self, dynamodb, sns, times: float) -> None:
        self.left, self.armed, self.throttled = times, False, 0
        sns.meta.events.register("before-send.sns.Publish", self._arm)
        dynamodb.meta.events.register("before-send.dynamodb.TransactWriteItems", self._answer)

    def _arm(self, **_):
        self.armed = True

    def _answer(self, request, **_):
        from botocore.awsrequest import AWSResponse

        if not self.armed or self.left <= 0:
            return None
        self.left -= 1
        self.throttled += 1
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                           "message": "Rate of requests exceeds the allowed throughput."}).encode()
        return AWSResponse(request.url, 400, {"x-amzn-ErrorType": "ProvisionedThroughputExceededException"},
                           _Raw(body))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body


def clients(throttle_times: float = 0):
    from botocore.config import Config

    once = Config(retries={"mode": "standard", "max_attempts": 1})  # our own backoff is what is tested
    s3 = boto3.client("s3", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION, config=once)
    return s3, sns, dynamodb, Throttle(dynamodb, sns, throttle_times)


def test_a_throttle_after_publishing_is_retried_without_publishing_again(account, monkeypatch):
    monkeypatch.setattr("detectors.engine.stores.RETRY_BASE_S", 0.001)
    keys = upload_logs(account)
    account.drain(account.detector_queue)
    s3, sns, dynamodb, throttle = clients(throttle_times=3)  # within the store's retries
    assert detector.run(s3_event(keys["cloudtrail"]), s3, sns, dynamodb) == {"batchItemFailures": []}
    assert throttle.throttled == 3
    alerts = account.alerts_published()
    assert sorted(a["rule_id"] for a in alerts) == sorted(CLOUDTRAIL_ALERTS)


def test_a_long_throttle_fails_the_invocation_and_the_retry_does_not_republish(account, monkeypatch):
    from detectors.engine.stores import RETRY_ATTEMPTS

    monkeypatch.setattr("detectors.engine.stores.RETRY_BASE_S", 0.001)
    keys = upload_logs(account)
    account.drain(account.detector_queue)
    s3, sns, dynamodb, throttle = clients(throttle_times=float("inf"))  # longer than the store waits
    with pytest.raises(detector.SharedOutputError, match="ProvisionedThroughputExceeded"):
        detector.run(sns_event(keys["cloudtrail"]), s3, sns, dynamodb)
    first = account.alerts_published()
    assert len(first) == 1 and throttle.throttled >= RETRY_ATTEMPTS  # published, then its state write failed
    throttle.left = 0  # DynamoDB recovers; Lambda retries the event
    assert detector.run(sns_event(keys["cloudtrail"]), s3, sns, dynamodb) == {"batchItemFailures": []}
    second = account.alerts_published()
    ids = [a["alert_id"] for a in first + second]
    assert len(ids) == len(set(ids)) == len(CLOUDTRAIL_ALERTS)  # every alert exactly once
    assert {a["rule_id"] for a in first + second} == CLOUDTRAIL_ALERTS


UNUSABLE = {
    "not JSON": ("this is not json", "message is not JSON"),
    "empty": ("", "empty message"),
    "null": ("null", "message is a JSON NoneType"),
    "records of strings": (json.dumps({"Records": ["x"]}), "S3 record 1 has no bucket name"),
    "numeric key": (json.dumps({"Records": [{"s3": {"bucket": {"name": "source-logs"}, "object": {"key": 5}}}]}),
                    "object key is 5, expected a string"),
    "not S3": (json.dumps({"hello": "world"}), "not an S3 event notification"),
    "no records": (json.dumps({"Records": []}), "not an S3 event notification"),
}


def test_unusable_sqs_messages_fail_with_their_reason_and_the_good_one_is_processed(account, caplog):
    keys = upload_logs(account)
    account.drain(account.detector_queue)
    good = {"messageId": "good", "eventSource": "aws:sqs", "body": json.dumps(s3_event(keys["cloudtrail"]))}
    bad = [{"messageId": name, "eventSource": "aws:sqs", "body": body} for name, (body, _) in UNUSABLE.items()]
    result = detector.handler({"Records": [*bad, good]}, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": name} for name in sorted(UNUSABLE)]}
    assert {a["rule_id"] for a in account.alerts_published()} == CLOUDTRAIL_ALERTS
    logged = caplog.text
    for name, (_, reason) in UNUSABLE.items():
        assert f"unusable message {name}: record" in logged and reason in logged


@pytest.mark.parametrize("name", sorted(UNUSABLE))
def test_unusable_sns_message_raises_with_its_reason_after_the_good_objects(account, name):
    keys = upload_logs(account)
    account.drain(account.detector_queue)
    body, reason = UNUSABLE[name]
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": body}}, *sns_event(keys["access"])["Records"]]}
    with pytest.raises(RuntimeError, match=reason):
        detector.handler(event, None)
    assert {a["rule_id"] for a in account.alerts_published()} == ACCESS_ALERTS


@pytest.mark.parametrize("event", [None, "x", [], {}, {"Records": []}, {"Records": "x"}, {"Records": [5]},
                                   {"Records": [{"eventSource": "aws:kinesis"}]},
                                   {"Records": [{"EventSource": "aws:sns", "Sns": None}]}])
def test_events_that_name_no_object_raise_for_the_dead_letter_queue(account, event):
    with pytest.raises(RuntimeError, match=r"event has no records|record 1"):
        detector.handler(event, None)


def test_a_record_nested_1200_deep_hides_nothing_else_in_its_object(account):
    """The issue's case: the other 76 records and their 11 alerts are evaluated."""
    import gzip

    records = json.loads(gzip.decompress(CLOUDTRAIL_SAMPLE.read_bytes()))["Records"]
    deep = '{"eventVersion": "1.09", "eventTime": "2024-05-14T09:00:00Z", "x": ' + "[" * 1200 + "]" * 1200 + "}"
    text = '{"Records": [' + json.dumps(records[0]) + ", " + deep + ", " + \
        ", ".join(json.dumps(r) for r in records[1:]) + "]}"
    key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/14/111122223333_CloudTrail_us-east-1_20240514T1030Z_deep.json.gz"
    account.s3.put_object(Bucket="source-logs", Key=key, Body=gzip.compress(text.encode()))
    account.drain(account.detector_queue)
    assert detector.handler(s3_event(key), None) == {"batchItemFailures": []}
    assert {a["rule_id"] for a in account.alerts_published()} == CLOUDTRAIL_ALERTS
    (quarantine_key,) = account.keys("processed", "_quarantine/")
    (entry,) = [json.loads(x) for x in account.s3.get_object(Bucket="processed", Key=quarantine_key)["Body"].read().splitlines()]
    assert (entry["line_number"], entry["reason"]) == (2, "nested deeper than 128 levels")
    assert entry["offset"] == len('{"Records": [' + json.dumps(records[0]) + ", ")
    rows = sum(1 for k in account.keys("processed", "panther_logs/aws_cloudtrail/"))
    assert rows >= 1


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
    assert entry["offset"] == len(("\n".join(lines) + "\n").encode())


def test_alert_topic_failure_raises_and_keeps_the_alert_for_the_retry(account, monkeypatch):
    keys = upload_logs(account)
    account.drain(account.detector_queue)
    event = s3_event(keys["cloudtrail"])
    monkeypatch.setenv("ALERTS_TOPIC_ARN", account.alerts.replace(":alerts", ":no-such-topic"))
    with pytest.raises(detector.SharedOutputError):
        detector.handler(event, None)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", account.alerts)
    assert detector.handler(event, None) == {"batchItemFailures": []}
    assert {a["rule_id"] for a in account.alerts_published()} == CLOUDTRAIL_ALERTS


def test_shared_output_failure_in_sqs_mode_fails_this_and_later_messages_only(account, monkeypatch):
    keys = upload_logs(account)
    account.drain(account.detector_queue)
    first = {"messageId": "m1", "eventSource": "aws:sqs", "body": json.dumps(s3_event(keys["access"]))}
    second = {"messageId": "m2", "eventSource": "aws:sqs", "body": json.dumps(s3_event(keys["cloudtrail"]))}
    assert detector.handler({"Records": [first]}, None) == {"batchItemFailures": []}
    monkeypatch.setenv("ALERTS_TOPIC_ARN", account.alerts.replace(":alerts", ":no-such-topic"))
    assert detector.handler({"Records": [first, second]}, None) == {"batchItemFailures": [{"itemIdentifier": "m2"}]}


def test_s3_test_event_is_ignored_and_is_not_an_error():
    test_event = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1",
                               "body": json.dumps({"Type": "Notification", "Message": json.dumps(
                                   {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})})}]}
    assert detector.read_event(test_event) == ([], [])


def test_config_file_from_the_environment_enables_the_tutorial_detections(account, monkeypatch):
    monkeypatch.setenv("BUCKETWATCH_CONFIG", str(SAMPLES.parent / "bucketwatch.yml"))
    account.s3.put_object(Bucket="source-logs", Key="finance/2024-05-14-10-00-00-5F3A0E4C1B2D7A98",
                          Body=ACCESS_SAMPLE.read_bytes())
    account.drain(account.detector_queue)
    assert detector.handler(s3_event("finance/2024-05-14-10-00-00-5F3A0E4C1B2D7A98"), None) == {"batchItemFailures": []}
    assert {a["rule_id"] for a in account.alerts_published()} == {
        "AWS.S3.ServerAccess.Error", "AWS.S3.ServerAccess.IPWhitelist", "AWS.S3.ServerAccess.UnknownRequester"}


def test_config_file_limits_the_record_size(account, monkeypatch, tmp_path):
    config = tmp_path / "bw.yml"
    config.write_text("ingest:\n  max_record_bytes: 1024\n")
    monkeypatch.setenv("BUCKETWATCH_CONFIG", str(config))
    line = ACCESS_SAMPLE.read_text().splitlines()[0]
    long_line = line.replace('"-" "aws-sdk-java', '"https://example.com/' + "a" * 2000 + '" "aws-sdk-java', 1)
    account.s3.put_object(Bucket="source-logs", Key="f/2024-05-14-10-00-00-CCCCCCCCCCCCCCCC",
                          Body=f"{line}\n{long_line}\n".encode())
    assert detector.handler(s3_event("f/2024-05-14-10-00-00-CCCCCCCCCCCCCCCC"), None) == {"batchItemFailures": []}
    (key,) = account.keys("processed", "_quarantine/")
    (entry,) = [json.loads(x) for x in account.s3.get_object(Bucket="processed", Key=key)["Body"].read().splitlines()]
    assert (entry["line_number"], entry["raw"], entry["size"]) == (2, None, len(long_line))
    assert entry["reason"].startswith("line is longer than the maximum record size (1,024 bytes)")


def test_bad_config_file_raises_for_a_retry(account, monkeypatch, tmp_path):
    from detectors.common.errors import UserError

    bad = tmp_path / "bw.yml"
    bad.write_text("detections:\n  ip_allowlist: [{cidrs: [nope]}]\n")
    monkeypatch.setenv("BUCKETWATCH_CONFIG", str(bad))
    with pytest.raises(UserError, match=r"detections\.ip_allowlist\[0\]\.cidrs\[0\]"):
        detector.handler({"Records": []}, None)


def test_a_trail_delivered_through_cloudwatch_logs_and_firehose_raises_the_same_alerts(account):
    """A trail sent to CloudWatch Logs, on through a subscription filter to Firehose, lands in S3
    as gzip members of subscription messages under Firehose's own key layout: the detector reads
    each log event's record and raises what the trail file itself raises."""
    import gzip

    records = json.loads(gzip.decompress(CLOUDTRAIL_SAMPLE.read_bytes()))["Records"]
    control = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
               "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 0, "message": "CWL CONTROL MESSAGE"}]}
    halves = (records[: len(records) // 2], records[len(records) // 2:])
    body = gzip.compress(json.dumps(control).encode()) + b"".join(gzip.compress(json.dumps({
        "messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": "aws-cloudtrail-logs-111122223333",
        "logStream": "111122223333_CloudTrail_us-east-1", "subscriptionFilters": ["to-firehose"],
        "logEvents": [{"id": str(i), "timestamp": 0, "message": json.dumps(r)} for i, r in enumerate(half)]}).encode())
        for half in halves)
    key = "firehose/2024/05/14/10/trail-to-s3-1-2024-05-14-10-00-00-6f1c2a9e-0000-4e6b-9f3b-2d2b8b1e5a10"
    account.s3.put_object(Bucket="source-logs", Key=key, Body=body)
    account.drain(account.detector_queue)
    assert detector.handler(s3_event(key), None) == {"batchItemFailures": []}
    assert {a["rule_id"] for a in account.alerts_published()} == CLOUDTRAIL_ALERTS
    assert account.keys("processed", "_quarantine/") == []
    assert account.keys("processed", "panther_logs/aws_cloudtrail/")
