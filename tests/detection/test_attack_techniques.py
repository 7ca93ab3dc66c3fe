"""Every technique of the outside catalogue (tests/technique_events.py) raises a Medium or higher
alert naming the bucket or trail, through the path a user runs: CloudTrail files -> `bucketwatch
detect` (rules; rule matches to the lake) -> `bucketwatch schedule run` (correlation rules). And a
benign day of the same kinds of traffic raises nothing above Info."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from access_log_events import write_access_log
from cloudtrail_events import ACCOUNT, utc, write_trail_file
from technique_events import (
    AUDIT_BUCKET,
    BENIGN_CONFIG,
    NOTE,
    OUTSIDE_ACCOUNT,
    TRAIL,
    backdoor_policy,
    batch_deletion,
    benign_access_lines,
    benign_cloudtrail,
    client_side_encryption,
    create_trail,
    individual_deletion,
    replication_to_outside,
    trail_call,
    trail_lifecycle,
)

from bucketwatch.cli import main
from detectors.common.severity import at_least

T0 = utc("2024-05-14T10:00:00Z")
VICTIM = "stratus-red-team-ransomware-bucket-abcdef"
CT_BUCKET = "stratus-red-team-ctlr-bucket-abcdef"


def run(root: Path, *batches: list[dict], config: str | None = None) -> list[dict]:
    """Each batch of records is one CloudTrail file and one `detect` run (in order, sharing the
    lake and state); then one `schedule run` over the last two hours. All alerts, both commands."""
    extra = []
    if config is not None:
        (root / "bucketwatch.yml").write_text(config)
        extra = ["--config", str(root / "bucketwatch.yml")]
    for n, records in enumerate(batches):
        logs = root / f"logs-{n}"
        write_trail_file(logs, records, utc(records[0]["eventTime"]))
        assert main(["detect", str(logs), "--lake", str(root / "lake"), "--state", str(root / "state.sqlite"),
                     "--alerts", str(root / "alerts.jsonl"), "-q", *extra]) == 0
    newest = max(utc(r["eventTime"]) for batch in batches for r in batch)
    now = (newest + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    since = (newest - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert main(["schedule", "run", "--lake", str(root / "lake"), "--state", str(root / "state.sqlite"),
                 "--now", now, "--since", since, "--alerts", str(root / "alerts.jsonl"), "-q", *extra]) == 0
    path = root / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def serious(alerts: list[dict], name: str) -> dict[str, dict]:
    """The Medium-or-higher alerts whose title names `name`, by rule id."""
    return {a["rule_id"]: a for a in alerts if at_least(a["severity"], "Medium") and name in a["title"]}


def test_individual_deletion_then_note(tmp_path):
    alerts = run(tmp_path, individual_deletion(VICTIM, T0))
    found = serious(alerts, VICTIM)
    assert found["Bucketwatch.S3.BulkDeletionThenUpload"]["severity"] == "High"  # schedule run: the correlation
    assert found["AWS.S3.RansomwareNoteUpload"]["severity"] == "Medium"  # detect: the note's name
    deletion = next(a for a in alerts if a["rule_id"] == "AWS.S3.DeleteObject")
    assert deletion["event_count"] == 51 and deletion["severity"] == "Info"


def test_individual_deletion_then_a_note_with_an_ordinary_name(tmp_path):
    records = individual_deletion(VICTIM, T0)
    records[-1]["requestParameters"]["key"] = "README.md"
    found = serious(run(tmp_path, records), VICTIM)
    assert set(found) == {"Bucketwatch.S3.BulkDeletionThenUpload"}


def test_batch_deletion_then_note(tmp_path):
    found = serious(run(tmp_path, batch_deletion(VICTIM, T0)), VICTIM)
    assert found["Bucketwatch.S3.MultiObjectDeleteThenUpload"]["severity"] == "Medium"
    assert found["AWS.S3.RansomwareNoteUpload"]["context"]["key"] == NOTE


def test_client_side_encryption_then_note(tmp_path):
    found = serious(run(tmp_path, client_side_encryption(VICTIM, T0)), VICTIM)
    assert found["AWS.S3.CopyObjectWithClientSideEncryption"]["event_count"] == 51
    assert "AWS.S3.RansomwareNoteUpload" in found


@pytest.mark.parametrize(("config", "severity"), [
    (None, "Medium"),  # the organization is unknown: the account may be a member
    (f"organization:\n  accounts: ['{ACCOUNT}', '222233334444']\n", "High"),
])
def test_backdoored_bucket_policy(tmp_path, config, severity):
    alerts = run(tmp_path, backdoor_policy(VICTIM, T0), config=config)
    found = serious(alerts, VICTIM)
    grant = found["Bucketwatch.S3.BucketPolicyExternalGrant"]
    assert grant["severity"] == severity and OUTSIDE_ACCOUNT in grant["title"]
    assert grant["context"]["grantedActions"] == {OUTSIDE_ACCOUNT: ["s3:GetBucketLocation", "s3:GetObject",
                                                                    "s3:ListBucket"]}
    assert {a["rule_id"] for a in alerts} == {"Bucketwatch.S3.BucketPolicyExternalGrant", "AWS.S3.BucketPolicyModified"}


@pytest.mark.parametrize(("config", "severity"), [
    (None, "Medium"),
    (f"organization:\n  accounts: ['{ACCOUNT}', '222233334444']\n", "High"),
])
def test_replication_to_an_outside_account(tmp_path, config, severity):
    alerts = run(tmp_path, replication_to_outside(VICTIM, T0), config=config)
    found = serious(alerts, VICTIM)["Bucketwatch.S3.ReplicationToExternalAccount"]
    assert found["severity"] == severity and OUTSIDE_ACCOUNT in found["title"]
    assert found["context"]["destinationBuckets"] == {OUTSIDE_ACCOUNT: ["arn:aws:s3:::drop-zone-7"]}
    assert {a["rule_id"] for a in alerts} == {"Bucketwatch.S3.ReplicationToExternalAccount", "AWS.S3.BucketPolicyModified"}


def test_partner_in_trusted_accounts_is_not_external(tmp_path):
    config = f"organization:\n  accounts: ['{ACCOUNT}']\n  trusted_accounts: ['{OUTSIDE_ACCOUNT}']\n"
    alerts = run(tmp_path, backdoor_policy(VICTIM, T0), config=config)
    assert [a["rule_id"] for a in alerts] == ["AWS.S3.BucketPolicyModified"]


def test_trail_lifecycle_after_the_trail_was_created_in_an_earlier_run(tmp_path):
    """Stratus's warm-up creates the trail (CreateTrail, in the lake from an earlier detect); the
    detonation puts the 1-day rule on its bucket. The bucket's name does not say "trail"."""
    bucket = "acme-security-archive"
    found = serious(run(tmp_path, [create_trail(TRAIL, bucket, T0)], trail_lifecycle(bucket, T0 + timedelta(days=3))),
                    bucket)
    lifecycle = found["AWS.CloudTrail.ShortLifecycle"]
    assert lifecycle["severity"] == "High" and lifecycle["context"]["lifecycleRuleDurationDays"] == 1
    assert lifecycle["context"]["lifecycleRuleID"] == "nuke-cloudtrail-logs-after-1-day"


def test_trail_lifecycle_in_the_same_run_as_the_trail(tmp_path):
    records = [create_trail(TRAIL, CT_BUCKET, T0), *trail_lifecycle(CT_BUCKET, T0 + timedelta(minutes=5))]
    assert serious(run(tmp_path, records), CT_BUCKET)["AWS.CloudTrail.ShortLifecycle"]["severity"] == "High"


def test_trail_lifecycle_on_the_deployed_stacks_trail_bucket(tmp_path, monkeypatch):
    """Nothing in the logs names the bucket: the stack says which one its trail writes to."""
    monkeypatch.setenv("BUCKETWATCH_TRAIL_BUCKETS", json.dumps([AUDIT_BUCKET]))
    found = serious(run(tmp_path, trail_lifecycle(AUDIT_BUCKET, T0)), AUDIT_BUCKET)
    assert found["AWS.CloudTrail.ShortLifecycle"]["severity"] == "High"


def test_trail_lifecycle_on_a_configured_bucket(tmp_path):
    config = f"detections:\n  cloudtrail_buckets: [{AUDIT_BUCKET}]\n"
    found = serious(run(tmp_path, trail_lifecycle(AUDIT_BUCKET, T0), config=config), AUDIT_BUCKET)
    assert found["AWS.CloudTrail.ShortLifecycle"]["severity"] == "High"


def test_trail_lifecycle_on_an_unknown_bucket_named_like_a_trail_is_low(tmp_path):
    bucket = "old-cloudtrail-exports"  # Panther's guess: the name says "trail"; nothing else does
    alerts = run(tmp_path, trail_lifecycle(bucket, T0))
    lifecycle = next(a for a in alerts if a["rule_id"] == "AWS.CloudTrail.ShortLifecycle")
    assert lifecycle["severity"] == "Low" and not serious(alerts, bucket)


@pytest.mark.parametrize(("name", "params", "severity"), [
    ("StopLogging", {}, "High"),
    ("DeleteTrail", {}, "High"),
    ("PutEventSelectors", {"eventSelectors": [{"readWriteType": "WriteOnly", "includeManagementEvents": False,
                                               "dataResources": []}]}, "Medium"),
])
def test_trail_tampering(tmp_path, name, params, severity):
    found = serious(run(tmp_path, trail_call(name, T0, **params)), TRAIL)
    assert found["Bucketwatch.CloudTrail.LoggingTampered"]["severity"] == severity


def test_a_benign_day_raises_nothing_above_info(tmp_path):
    day = utc("2024-05-13T00:00:00Z")
    for bucket, lines in benign_access_lines(day).items():
        write_access_log(tmp_path / "logs-access", bucket, lines, "2024-05-13-00-00-00-0123456789ABCDEF")
    assert main(["detect", str(tmp_path / "logs-access"), "--lake", str(tmp_path / "lake"), "--state",
                 str(tmp_path / "state.sqlite"), "--alerts", str(tmp_path / "alerts.jsonl"), "-q",
                 "--config", str(_config(tmp_path))]) == 0
    alerts = run(tmp_path, benign_cloudtrail(day), config=BENIGN_CONFIG)
    loud = [(a["rule_id"], a["severity"], a["title"]) for a in alerts if at_least(a["severity"], "Low")]
    assert loud == []
    # It did look: the administrator's changes and the cleanup job are there, at Info.
    assert {a["rule_id"] for a in alerts} == {"AWS.S3.BucketPolicyModified", "AWS.S3.DeleteObjects"}


def _config(root: Path) -> Path:
    path = root / "bucketwatch.yml"
    path.write_text(BENIGN_CONFIG)
    return path


def test_the_detector_lambda_knows_the_bucket_it_reads_trail_logs_from(aws_endpoint, monkeypatch, tmp_path):
    """In AWS the CloudTrail file itself comes from the trail bucket: a 1-day lifecycle on that
    very bucket is High with nothing configured, and goes to the destination routed for High."""
    import gzip

    import boto3

    from detectors import handler as detector

    s3, sns, sqs = (boto3.client(n, region_name="us-east-1") for n in ("s3", "sns", "sqs"))
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    for bucket in ("acme-audit-logs", "lake"):
        s3.create_bucket(Bucket=bucket)
    ddb.create_table(TableName="dedup", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    topics = {name: sns.create_topic(Name=name)["TopicArn"] for name in ("alerts", "pager")}
    inbox = sqs.create_queue(QueueName="pager-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topics["pager"], Protocol="sqs", Endpoint=arn)
    (tmp_path / "bw.yml").write_text("alerts:\n  destinations:\n    - {name: pager, min_severity: High}\n")
    for key, value in {"ALERTS_TOPIC_ARN": topics["alerts"], "PROCESSED_BUCKET": "lake", "DEDUP_TABLE": "dedup",
                       "BUCKETWATCH_CONFIG": str(tmp_path / "bw.yml"),
                       "BUCKETWATCH_ALERT_TOPICS": json.dumps({"pager": topics["pager"]})}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("BUCKETWATCH_TRAIL_BUCKETS", raising=False)
    key = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/14/{ACCOUNT}_CloudTrail_us-east-1_20240514T1005Z_a.json.gz"
    s3.put_object(Bucket="acme-audit-logs", Key=key,
                  Body=gzip.compress(json.dumps({"Records": trail_lifecycle("acme-audit-logs", T0)}).encode()))
    event = {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "acme-audit-logs"}, "object": {"key": key}}}]}
    assert detector.handler(event) == {"batchItemFailures": []}
    messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    routed = [json.loads(json.loads(m["Body"])["Message"]) for m in messages]
    assert [(a["rule_id"], a["severity"]) for a in routed] == [("AWS.CloudTrail.ShortLifecycle", "High")]
    assert "acme-audit-logs" in routed[0]["title"] and routed[0]["destinations"] == ["pager"]


def test_trail_buckets_kept_by_the_scheduler_are_read_by_detect(tmp_path):
    """`schedule run` keeps bucketwatch.cloudtrail_buckets; a later `detect` reads it (here the
    CloudTrail table itself is gone, so only the kept result can say which bucket it is)."""
    import shutil

    bucket = "acme-security-archive"
    write_trail_file(tmp_path / "logs-0", [create_trail(TRAIL, bucket, T0)], T0)
    lake, state = str(tmp_path / "lake"), str(tmp_path / "s.sqlite")
    assert main(["detect", str(tmp_path / "logs-0"), "--lake", lake, "--state", state, "-q"]) == 0
    assert main(["schedule", "run", "--lake", lake, "--state", state, "-q", "--only", "Bucketwatch CloudTrail Buckets",
                 "--now", "2024-05-14T11:05:00Z"]) == 0
    kept = tmp_path / "lake" / "bucketwatch" / "cloudtrail_buckets" / "result.parquet"
    assert kept.is_file()
    shutil.rmtree(tmp_path / "lake" / "panther_logs" / "aws_cloudtrail")
    write_trail_file(tmp_path / "logs-1", trail_lifecycle(bucket, T0 + timedelta(days=1)), T0 + timedelta(days=1))
    assert main(["detect", str(tmp_path / "logs-1"), "--no-lake", "--lake", lake, "-q",
                 "--alerts", str(tmp_path / "a.jsonl")]) == 0
    alerts = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert serious(alerts, bucket)["AWS.CloudTrail.ShortLifecycle"]["severity"] == "High"
