"""The scheduled Lambda's handler against moto over HTTP: Athena (start, status, results queued
through moto's API: moto runs no SQL), state and dedup in DynamoDB, alerts to SNS topics,
ResultTables to S3. What moto cannot show (that Athena accepts the SQL and returns these rows for
it) is checked in shape: the SQL sent is Athena's dialect and parses as Trino."""

from __future__ import annotations

import io
import json
import urllib.request

import boto3
import pyarrow.parquet as pq
import pytest
import sqlglot

from detectors.common.errors import UserError
from detectors.scheduled import lambda_handler
from detectors.sql.executors import AthenaExecutor

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
LEAKED = "arn:aws:iam::111122223333:user/leaked-ci"


def queue_results(endpoint: str, *results: tuple[list[tuple[str, str]], list[list[str | None]]]) -> None:
    """Queue Athena results in moto, in the shape Athena returns them: a header row, then values
    as text (a NULL has no VarCharValue)."""
    payload = {"account_id": ACCOUNT, "region": REGION, "results": []}
    for columns, rows in results:
        header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
        data = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
        payload["results"].append({"rows": [header, *data],
                                   "column_info": [{"Name": n, "Type": t, "Label": n} for n, t in columns]})
    request = urllib.request.Request(f"{endpoint}/moto-api/static/athena/query-results", method="POST",
                                     data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(request).status == 201


class Stack:
    """What infra/scheduler.py deploys, made on moto."""

    def __init__(self, endpoint: str, monkeypatch) -> None:
        self.endpoint = endpoint
        self.clients = {n: boto3.client(n, region_name=REGION) for n in ("athena", "dynamodb", "s3", "sns", "sqs")}
        self.clients["athena"].create_work_group(Name="bucketwatch", Configuration={
            "ResultConfiguration": {"OutputLocation": "s3://lake/athena-results/"}})
        self.clients["s3"].create_bucket(Bucket="lake")
        for table in ("state", "dedup"):
            self.clients["dynamodb"].create_table(
                TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        self.topics, self.inboxes = {}, {}
        for name in ("alerts", "pager"):
            self.topics[name] = self.clients["sns"].create_topic(Name=name)["TopicArn"]
            url = self.clients["sqs"].create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
            arn = self.clients["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.clients["sns"].subscribe(TopicArn=self.topics[name], Protocol="sqs", Endpoint=arn)
            self.inboxes[name] = url
        for key, value in {"ATHENA_WORKGROUP": "bucketwatch", "PROCESSED_BUCKET": "lake", "STATE_TABLE": "state",
                           "DEDUP_TABLE": "dedup", "ALERTS_TOPIC_ARN": self.topics["alerts"],
                           "BUCKETWATCH_ALERT_TOPICS": json.dumps({"pager": self.topics["pager"]})}.items():
            monkeypatch.setenv(key, value)

    def invoke(self, item: str, time: str) -> dict:
        return lambda_handler.handler({"item": item, "time": time})

    def received(self, name: str) -> list[dict]:
        messages = self.clients["sqs"].receive_message(QueueUrl=self.inboxes[name], MaxNumberOfMessages=10,
                                                       WaitTimeSeconds=1).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]

    def queries(self) -> list[str]:
        athena = self.clients["athena"]
        ids = athena.list_query_executions(WorkGroup="bucketwatch")["QueryExecutionIds"]
        return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]

    def state(self) -> dict[str, dict]:
        items = self.clients["dynamodb"].scan(TableName="state")["Items"]
        return {i["pk"]["S"]: json.loads(i["value"]["S"]) for i in items}


@pytest.fixture
def stack(aws_endpoint, monkeypatch, tmp_path):
    config = tmp_path / "bw.yml"
    config.write_text("alerts:\n  destinations:\n    - {name: pager, min_severity: High}\n")
    monkeypatch.setenv("BUCKETWATCH_CONFIG", str(config))
    monkeypatch.delenv("BUCKETWATCH_ORGANIZATION", raising=False)
    monkeypatch.delenv("BUCKETWATCH_TRAIL_BUCKETS", raising=False)
    return Stack(aws_endpoint, monkeypatch)


DOWNLOAD_COLUMNS = [("user_arn", "varchar"), ("user_name", "varchar"), ("user_type", "varchar"),
                    ("bucket_name", "varchar"), ("source_ip", "varchar"), ("user_agent", "varchar"),
                    ("account_id", "varchar"), ("total_bytes_downloaded", "bigint"), ("object_count", "bigint"),
                    ("first_download_time", "timestamp"), ("last_download_time", "timestamp"),
                    ("sample_objects", "array(varchar)")]
DOWNLOAD = [LEAKED, "leaked-ci", "IAMUser", "customer-archive", "198.51.100.66", "aws-cli/2.15", "111122223333",
            str(2 * 1024 ** 3), "4", "2024-05-14 10:01:00.000", "2024-05-14 10:04:00.000", "[export/0.tar, export/1.tar]"]


def test_a_scheduled_query_runs_in_athena_and_its_rule_alerts_once(stack):
    queue_results(stack.endpoint, (DOWNLOAD_COLUMNS, [DOWNLOAD]))
    result = stack.invoke("AWS S3 Large Download", "2024-05-14T10:10:07Z")
    assert result == {"runs": 1, "alerts": 1, "updated": 0, "skipped_ticks": {}}
    [alert] = stack.received("alerts")
    assert alert["rule_id"] == "AWS.S3.LargeDownload" and alert["severity"] == "High"
    assert alert["context"]["total_bytes_downloaded"] == 2 * 1024 ** 3 and alert["destinations"] == ["pager"]
    assert alert["samples"][0]["sample_objects"] == ["export/0.tar", "export/1.tar"]  # Athena's array text, as a list
    assert alert["samples"][0]["first_download_time"] == "2024-05-14 10:01:00.000000000"
    assert [a["alert_id"] for a in stack.received("pager")] == [alert["alert_id"]]
    # The SQL Athena got: the Snowflake query in Athena's dialect, as of the tick (10:10:00).
    [sql] = stack.queries()
    assert "JSON_EXTRACT_SCALAR(userIdentity, '$.arn') AS user_arn" in sql
    assert "CAST('2024-05-14 10:10:00.000000' AS TIMESTAMP)" in sql and "userIdentity:" not in sql
    sqlglot.parse_one(sql, read="trino")
    assert stack.state()["schedule#query#AWS S3 Large Download"]["last_run"] == 1715681400.0

    # The same tick again: nothing runs. The next tick's rows: the open alert is updated, not re-sent.
    assert stack.invoke("AWS S3 Large Download", "2024-05-14T10:12:00Z")["runs"] == 0
    queue_results(stack.endpoint, (DOWNLOAD_COLUMNS, [DOWNLOAD]))
    assert stack.invoke("AWS S3 Large Download", "2024-05-14T10:20:01Z") == {
        "runs": 1, "alerts": 0, "updated": 1, "skipped_ticks": {}}
    assert stack.received("alerts") == []


SIGNAL_COLUMNS = [("p_rule_id", "varchar"), ("p_row_id", "varchar"), ("p_event_time", "timestamp"),
                  ("p_log_type", "varchar"), ("eventsource", "varchar"), ("eventname", "varchar"),
                  ("useridentity", "varchar"), ("requestparameters", "varchar"), ("sourceipaddress", "varchar")]


def signal(rule_id: str, row: str, when: str, name: str, key: str) -> list[str]:
    return [rule_id, row, when, "AWS.CloudTrail", "s3.amazonaws.com", name,
            json.dumps({"type": "IAMUser", "arn": LEAKED}),
            json.dumps({"bucketName": "victim-bucket", "key": key}), "198.51.100.66"]


def test_a_correlation_rule_runs_over_rule_matches_in_athena(stack):
    rows = [signal("AWS.S3.DeleteObject", f"d{i}", f"2024-05-14 10:02:{i:02d}.000", "DeleteObject", f"f{i}.sql")
            for i in range(3)]
    rows.append(signal("Bucketwatch.S3.ObjectUpload", "u1", "2024-05-14 10:05:00.000", "PutObject", "FILES-DELETED.txt"))
    queue_results(stack.endpoint, (SIGNAL_COLUMNS, []), (SIGNAL_COLUMNS, rows))  # access-log matches, then CloudTrail's
    result = stack.invoke("Bucketwatch.S3.BulkDeletionThenUpload", "2024-05-14T10:15:00Z")
    assert result["alerts"] == 1
    [alert] = stack.received("alerts")
    assert alert["rule_id"] == "Bucketwatch.S3.BulkDeletionThenUpload" and "victim-bucket" in alert["title"]
    assert [e["step"] for e in alert["samples"][0]["events"]] == ["Mass Deletion", "Upload"]
    assert stack.received("pager")[0]["alert_id"] == alert["alert_id"]  # High: routed to the pager topic
    queries = stack.queries()
    assert len(queries) == 2 and all("panther_rule_matches." in q for q in queries)
    progress = [k for k in stack.state() if k.startswith("correlation#Bucketwatch.S3.BulkDeletionThenUpload#")]
    assert progress == ['correlation#Bucketwatch.S3.BulkDeletionThenUpload#["victim-bucket", "' + LEAKED + '"]']


def test_a_result_table_is_kept_in_the_processed_bucket(stack):
    columns = [("bucket", "varchar"), ("source", "varchar"), ("first_seen", "timestamp"), ("last_seen", "timestamp")]
    queue_results(stack.endpoint, (columns, [["acme-audit-logs", "trail settings", "2024-05-10 09:00:00.000",
                                              "2024-05-10 09:00:00.000"]]))
    stack.invoke("Bucketwatch CloudTrail Buckets", "2024-05-14T10:05:30Z")
    body = stack.clients["s3"].get_object(Bucket="lake", Key="bucketwatch/cloudtrail_buckets/result.parquet")["Body"]
    assert pq.read_table(io.BytesIO(body.read())).to_pylist() == [
        {"bucket": "acme-audit-logs", "source": "trail settings", "first_seen": "2024-05-10 09:00:00.000000000",
         "last_seen": "2024-05-10 09:00:00.000000000"}]


def test_a_query_past_its_timeout_is_stopped_and_the_run_fails(stack):
    """moto keeps the query RUNNING (its state manager, set through its API); the executor gives
    up at the query's TimeoutMinutes, stops it, and the handler raises for a retry."""
    request = urllib.request.Request(
        f"{stack.endpoint}/moto-api/state-manager/set-transition", method="POST",
        data=json.dumps({"model_name": "athena::execution",
                         "transition": {"progression": "manual", "times": 1000}}).encode())
    urllib.request.urlopen(request)
    ticks = iter(range(0, 10_000, 60))
    executor = AthenaExecutor("bucketwatch", stack.clients["athena"], clock=lambda: next(ticks), sleep=lambda _: None)
    with pytest.raises(UserError, match="query stopped after its timeout of 180 s"):
        executor.run("SELECT 1", timeout_s=180)
    athena = stack.clients["athena"]
    [query_id] = athena.list_query_executions(WorkGroup="bucketwatch")["QueryExecutionIds"]
    assert athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] == "CANCELLED"


def test_an_unknown_item_is_an_error(stack):
    with pytest.raises(UserError, match="nothing scheduled is called 'No such query'"):
        stack.invoke("No such query", "2024-05-14T10:00:00Z")
    with pytest.raises(ValueError, match="the event must name the scheduled item"):
        lambda_handler.handler({"time": "2024-05-14T10:00:00Z"})
