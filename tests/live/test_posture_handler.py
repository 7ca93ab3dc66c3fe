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
import pytest
from local_queues import alerts_queue, drain
from org_world import AUDIT_ROLE, OUTSIDER, build_organization, refuse_roles

from detectors.common.organization import ENVIRONMENT_VARIABLE
from policies.posture_handler import (
    POSTURE_FINDINGS_SCHEMA,
    RESEND_DELAY_SECONDS,
    SEND_ATTEMPTS,
    handler,
    publish_alerts,
    send_batches,
)


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


def test_central_lambda_scans_every_member_once_through_the_audit_role(aws_endpoint, monkeypatch) -> None:
    world = build_organization()
    refuse_roles(monkeypatch, {world.role_arn("m2")})  # m2's audit role does not trust the central scanner
    topic, queue_url = alerts_queue()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bw-central-processed")
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic)
    monkeypatch.setenv("PROCESSED_BUCKET", "bw-central-processed")
    monkeypatch.setenv("SCAN_REGIONS", "us-east-1,eu-west-1")
    accounts = [world.management, *world.members.values()]  # as infra writes it: central first
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, json.dumps({"id": "o-a1b2c3d4e5", "accounts": accounts,
                                                         "audit_role_name": AUDIT_ROLE}))

    result = handler({"source": "aws.events"}, SimpleNamespace(aws_request_id="org-1"))

    assert [(a["account_id"], a["error"] is None) for a in result["accounts"]] == [
        (world.management, True), (world.members["m0"], True), (world.members["m1"], True), (world.members["m2"], False)]
    assert world.role_arn("m2") in result["accounts"][3]["error"]
    body = s3.get_object(Bucket="bw-central-processed", Key=result["lake_keys"][0])["Body"].read()
    rows = pq.read_table(io.BytesIO(body)).to_pylist()
    # Each (policy, resource) once: no account is scanned twice in one schedule.
    assert len({(r["policy"], r["resource"]) for r in rows}) == len(rows) == result["findings_written"]
    in_regions = {b: where for b, where in world.buckets.items()
                  if where[1] in ("us-east-1", "eu-west-1") and where[0] != world.members["m2"]}
    buckets = {r["name"]: (r["p_account_id"], r["p_region"]) for r in rows if r["resource_type"] == "AWS.S3.Bucket"}
    assert buckets == {**in_regions, "bw-central-processed": (world.management, "us-east-1")}
    unknown = [r for r in rows if r["status"] == "UNKNOWN"]
    assert [(r["policy"], r["p_account_id"]) for r in unknown] == [
        ("BW.S3.AccountPublicAccessBlock", world.members["m2"])]
    alerts = drain(queue_url)
    assert len(alerts) == result["alerts_published"] == sum(r["status"] == "FAIL" for r in rows)
    public = next(a for a in alerts if a["rule_id"] == "BW.S3.PublicRead")
    assert public["context"]["account_id"] == world.members["m0"] and public["context"]["region"] == "eu-west-1"
    # Cross-account grants inside the organization are not findings; the outsider's is.
    shared = next(r for r in rows if r["policy"] == "BW.S3.CrossAccountPrincipals" and r["name"] == world.shared)
    assert shared["status"] == "FAIL" and shared["reason"].endswith(OUTSIDER)


def test_an_organization_without_accounts_or_role_fails_loudly(aws_endpoint, monkeypatch) -> None:
    monkeypatch.setenv("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t")
    monkeypatch.setenv("PROCESSED_BUCKET", "bw-processed")
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, json.dumps({"accounts": ["111111111111"]}))
    with pytest.raises(ValueError, match="audit_role_name"):
        handler({}, None)


def test_alerts_the_topic_cannot_take_are_sent_again_alone(aws_endpoint) -> None:
    """SNS answers a batch with the entries it could not take (throttled: SenderFault false):
    those are sent again after a pause, the ones it took are not, so no alert arrives twice.
    The service is moto; the throttling of the first answer is added to its real answer."""
    sns = boto3.client("sns")
    topic, queue = alerts_queue()
    calls: list[list[str]] = []

    def throttled_once(chunk: list[dict]) -> dict:
        calls.append([entry["Id"] for entry in chunk])
        if len(calls) > 1:
            return sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=chunk)
        taken = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=chunk[:8])
        return {**taken, "Failed": [{"Id": entry["Id"], "Code": "Throttled", "SenderFault": False}
                                    for entry in chunk[8:]]}

    pauses: list[float] = []
    entries = [{"Message": json.dumps({"n": n})} for n in range(10)]
    send_batches(throttled_once, entries, "SNS alerts", sleep=pauses.append)
    assert calls == [[str(n) for n in range(10)], ["8", "9"]]
    assert pauses == [RESEND_DELAY_SECONDS]
    assert sorted(message["n"] for message in drain(queue)) == list(range(10))


def test_an_alert_the_topic_refuses_fails_the_invocation_without_resending(aws_endpoint) -> None:
    """An entry SNS refuses as wrong (here: over its size limit, SenderFault true) is not sent
    again, it would be refused again: the invocation fails, saying what SNS said."""
    sns = boto3.client("sns")
    topic, queue = alerts_queue()
    alerts = [{"policy_id": "S3.Bucket.Logging", "big": "x" * 300_000}, {"policy_id": "S3.Bucket.Logging"}]
    with pytest.raises(RuntimeError, match=r"SNS alerts: 1 refused as invalid: .*too long"):
        publish_alerts(sns, topic, alerts)
    assert [message["policy_id"] for message in drain(queue)] == ["S3.Bucket.Logging"]  # sent once


def test_alerts_still_not_taken_after_every_attempt_fail_the_invocation() -> None:
    pauses: list[float] = []

    def always_busy(chunk: list[dict]) -> dict:
        return {"Successful": [], "Failed": [{"Id": chunk[0]["Id"], "Code": "InternalError", "SenderFault": False}]}

    with pytest.raises(RuntimeError, match=f"SQS account messages: 1 not accepted after {SEND_ATTEMPTS} attempts"):
        send_batches(always_busy, [{"MessageBody": "a"}], "SQS account messages", sleep=pauses.append)
    assert pauses == [RESEND_DELAY_SECONDS * 2 ** n for n in range(SEND_ATTEMPTS - 1)]
