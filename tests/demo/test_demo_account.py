"""Provisioning the demo account on moto over HTTP, and the attacker's changes applied to it."""

from __future__ import annotations

import gzip
import json
import os

import pytest
from botocore.exceptions import ClientError

from bucketwatch.demo.account import (
    APP_BUCKETS,
    BACKUPS,
    CUSTOMER_DATA,
    DEV_SCRATCH,
    SHARED_REPORTS,
    Provisioner,
)
from bucketwatch.demo.clients import Clients
from bucketwatch.demo.delivery import Deliverer
from bucketwatch.demo.detection import DemoError, DetectorDriver, handler_environment, local_aws
from bucketwatch.demo.story import build_story


@pytest.fixture
def provisioned(aws_endpoint: str):
    clients = Clients(aws_endpoint)
    return clients, Provisioner(clients).run()


def _bodies(clients: Clients, queue_url: str) -> list[dict]:
    messages = clients.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


def test_account_has_the_monitoring_and_application_resources(provisioned) -> None:
    clients, p = provisioned
    n = p.names
    buckets = {b["Name"] for b in clients.s3.list_buckets()["Buckets"]}
    assert buckets == {*APP_BUCKETS, n.access_log_bucket, n.trail_bucket, n.processed_bucket}
    table = clients.dynamodb.describe_table(TableName=n.dedup_table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    ttl = clients.dynamodb.describe_time_to_live(TableName=n.dedup_table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    subscriptions = clients.sns.list_subscriptions_by_topic(TopicArn=p.alerts_topic_arn)["Subscriptions"]
    assert [s["Protocol"] for s in subscriptions] == ["sqs"]
    assert clients.cloudtrail.get_trail_status(Name=n.trail_name)["IsLogging"] is True
    # Good and bad configurations side by side.
    assert clients.s3.get_bucket_versioning(Bucket=CUSTOMER_DATA)["Status"] == "Enabled"
    assert "Status" not in clients.s3.get_bucket_versioning(Bucket=DEV_SCRATCH)
    assert "LoggingEnabled" not in clients.s3.get_bucket_logging(Bucket=DEV_SCRATCH)
    logging = clients.s3.get_bucket_logging(Bucket=CUSTOMER_DATA)["LoggingEnabled"]
    assert logging["TargetBucket"] == n.access_log_bucket
    with pytest.raises(ClientError):
        clients.s3.get_public_access_block(Bucket=DEV_SCRATCH)


def test_new_log_objects_notify_the_detector_queue_but_moto_placeholder_logs_do_not(provisioned) -> None:
    clients, p = provisioned
    n = p.names
    partitioned = f"{CUSTOMER_DATA}/{n.account_id}/{n.region}/{CUSTOMER_DATA}/2026/05/12/2026-05-12-10-15-00-0123456789ABCDEF"
    trail_key = f"AWSLogs/{n.account_id}/CloudTrail/{n.region}/2026/05/12/x.json.gz"
    clients.s3.put_object(Bucket=n.access_log_bucket, Key=partitioned, Body=b"line\n")
    clients.s3.put_object(Bucket=n.trail_bucket, Key=trail_key, Body=b"{}")
    # What moto itself writes for an API call on a logged bucket (SimplePrefix layout).
    clients.s3.put_object(Bucket=n.access_log_bucket, Key=f"{CUSTOMER_DATA}/2026-05-12-10-15-00-ABCDEF0123456789",
                          Body=b"fake")
    keys = []
    for _ in range(3):
        keys += [r["s3"]["object"]["key"] for body in _bodies(clients, p.detector_queue_url)
                 for r in body.get("Records", [])]
    assert sorted(keys) == sorted([partitioned.replace("/", "%2F"), trail_key.replace("/", "%2F")])


def test_the_attackers_changes_take_effect_on_the_endpoint(provisioned) -> None:
    clients, p = provisioned
    deliverer = Deliverer(clients)
    for change in build_story(7, p.names).changes:
        deliverer.apply(change)
    s3 = clients.s3
    assert s3.get_bucket_policy_status(Bucket=SHARED_REPORTS)["PolicyStatus"]["IsPublic"] is True
    grants = s3.get_bucket_acl(Bucket=SHARED_REPORTS)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") for g in grants)
    with pytest.raises(ClientError):
        s3.get_public_access_block(Bucket=SHARED_REPORTS)
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=BACKUPS)
    assert s3.get_bucket_versioning(Bucket=BACKUPS)["Status"] == "Suspended"
    assert clients.cloudtrail.get_trail_status(Name=p.names.trail_name)["IsLogging"] is False


def test_the_demo_environment_sets_real_profiles_aside_and_restores_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    with local_aws("http://127.0.0.1:9"):
        assert "AWS_PROFILE" not in os.environ
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
        assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert os.environ["AWS_PROFILE"] == "production"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAREALKEY"


def test_a_log_object_the_handler_cannot_read_stops_the_demo_and_stays_queued(provisioned) -> None:
    clients, p = provisioned
    n = p.names
    good = f"AWSLogs/{n.account_id}/CloudTrail/{n.region}/2026/05/12/{n.account_id}_CloudTrail_{n.region}_20260512T1005Z_a.json.gz"
    clients.s3.put_object(Bucket=n.trail_bucket, Key=good, Body=gzip.compress(b'{"Records": []}'))
    # Announced, then gone before the detector reads it: the handler cannot read it.
    gone = good.replace("_a.json", "_b.json")
    clients.s3.put_object(Bucket=n.trail_bucket, Key=gone, Body=gzip.compress(b'{"Records": []}'))
    clients.s3.delete_object(Bucket=n.trail_bucket, Key=gone)
    driver = DetectorDriver(clients, p)
    with handler_environment(p, None), pytest.raises(DemoError, match="reported 1 failed messages"):
        driver.drain()
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=p.detector_queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"  # only the broken object, for a retry
