"""CloudTrail inputs met in practice besides AWS's own log files: empty Records, times without a
zone, files joined end to end (two gzip members), single events as EventBridge delivers them or
CloudTrail Lake exports them (one document or JSON lines), insight files, `aws cloudtrail
lookup-events` output (Event history) and plain JSON arrays of records. Every record is either
in the output or quarantined with a reason; the counts reconcile."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from detectors.parsers.detect import detect_log_type, log_type_from_key
from detectors.parsers.limits import MAX_DEPTH
from detectors.pipeline import parse_inputs
from detectors.quarantine import MemoryQuarantine

TRAIL_DIR = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01"
INSIGHT_KEY = ("AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2024/01/01/"
               "123456789012_CloudTrail-Insight_us-east-1_20240101T0600Z_abc.json.gz")


def event(event_id: str, time: str) -> dict:
    return {"eventVersion": "1.09", "eventTime": time, "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1", "eventID": event_id,
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
            "requestParameters": {"bucketName": "payroll", "key": "2024/jan.csv"}}


def _parse(tmp_path: Path, name: str, data: bytes) -> tuple[list[dict], MemoryQuarantine, object]:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sink = MemoryQuarantine()
    run = parse_inputs([str(path)], quarantine=sink)
    events = [e for batch in run for e in batch.events()]
    assert run.stats.lines_in == run.stats.records_out + run.stats.quarantined
    return events, sink, run.stats


def test_empty_records_is_no_records_and_no_quarantine(tmp_path):
    events, sink, stats = _parse(tmp_path, f"{TRAIL_DIR}/empty.json", b'{"Records": []}')
    assert events == [] and sink.entries == [] and stats.lines_in == 0


def test_missing_event_time_is_quarantined_and_zoneless_time_is_utc(tmp_path):
    no_time = event("e2", "x")
    del no_time["eventTime"]
    data = json.dumps({"Records": [event("e1", "2024-01-01T10:00:00"), no_time]}).encode()
    events, sink, _ = _parse(tmp_path, f"{TRAIL_DIR}/f.json", data)
    assert [(e["eventID"], e["p_event_time"]) for e in events] == [("e1", "2024-01-01 10:00:00.000000000")]
    assert [(e.line_number, e.reason) for e in sink.entries] == [(2, "eventTime missing or not a string")]


def test_concatenated_gzip_members_keep_every_record(tmp_path):
    first = gzip.compress(json.dumps({"Records": [event("a", "2024-01-01T01:00:00Z")]}).encode())
    second = gzip.compress(json.dumps({"Records": [event("b", "2024-01-01T02:00:00Z")]}).encode())
    events, sink, _ = _parse(tmp_path, f"{TRAIL_DIR}/joined.json.gz", first + second)
    assert [e["eventID"] for e in events] == ["a", "b"] and sink.entries == []


def test_eventbridge_envelope_yields_its_detail(tmp_path):
    envelope = {"version": "0", "id": "6f1c", "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
                "account": "123456789012", "time": "2024-01-01T03:00:00Z", "region": "us-east-1", "resources": [],
                "detail": event("eb", "2024-01-01T03:00:00Z")}
    events, sink, _ = _parse(tmp_path, "eventbridge/event.json", json.dumps(envelope).encode())
    assert [(e["eventID"], e["eventName"]) for e in events] == [("eb", "GetObject")] and sink.entries == []


@pytest.mark.parametrize("layout", ["one-document", "json-lines"])
def test_single_events_outside_records(tmp_path, layout):
    if layout == "one-document":
        data, expected = json.dumps(event("lake", "2024-01-01T04:00:00Z")).encode(), ["lake"]
    else:
        data = b"\n".join(json.dumps(event(i, "2024-01-01T05:00:00Z")).encode() for i in ("l1", "l2")) + b"\n"
        expected = ["l1", "l2"]
    events, sink, _ = _parse(tmp_path, "lake-export/events.json", data)
    assert [e["eventID"] for e in events] == expected and sink.entries == []
    assert all(e["p_log_type"] == "AWS.CloudTrail" for e in events)


def test_insight_file_records_are_kept_with_their_details(tmp_path):
    insight = {"eventVersion": "1.08", "eventTime": "2024-01-01T06:00:00Z", "awsRegion": "us-east-1",
               "eventID": "i1", "eventType": "AwsCloudTrailInsight", "recipientAccountId": "123456789012",
               "sharedEventID": "s1", "eventCategory": "Insight",
               "insightDetails": {"state": "Start", "eventSource": "s3.amazonaws.com", "eventName": "DeleteObject",
                                  "insightType": "ApiCallRateInsight"}}
    assert log_type_from_key(INSIGHT_KEY) == "AWS.CloudTrail"
    events, sink, _ = _parse(tmp_path, INSIGHT_KEY, gzip.compress(json.dumps({"Records": [insight]}).encode()))
    assert sink.entries == []
    (kept,) = events
    assert kept["insightDetails"] == insight["insightDetails"] and "eventName" not in kept


def test_json_lines_of_events_are_detected_as_cloudtrail():
    line = json.dumps(event("x", "2024-01-01T00:00:00Z")).encode()
    assert detect_log_type("export.json", line + b"\n" + line + b"\n") == "AWS.CloudTrail"


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty file"),
    (b'{"Records": []}{"other": 1}', "JSON object has no Records list"),
    (b'{"detail-type": "Scheduled Event", "detail": {}}', "no Records list"),
    (b'{"Records": {"a": 1}}', "Records is a dict, expected a list"),
    (b'{"Records": "x"}', "Records is a str, expected a list"),
])
def test_unusable_documents_say_why(tmp_path, data, reason):
    events, sink, stats = _parse(tmp_path, f"{TRAIL_DIR}/bad.json", data)
    assert events == [] and stats.quarantined == 1
    assert reason in sink.entries[0].reason and sink.entries[0].line_number is None


def lookup_events_output(records: list, next_token: str | None = "token") -> bytes:
    """What `aws cloudtrail lookup-events` prints (indented JSON): each record as JSON text in
    `CloudTrailEvent`, beside Event history's own summary fields."""
    items = [{"EventId": r.get("eventID") if isinstance(r, dict) else None, "EventName": "GetObject",
              "ReadOnly": "true", "EventTime": "2024-01-01T00:00:00+00:00", "EventSource": "s3.amazonaws.com",
              "Username": "alice", "Resources": [],
              "CloudTrailEvent": r if isinstance(r, str) else json.dumps(r)} for r in records]
    document = {"Events": items, **({"NextToken": next_token} if next_token else {})}
    return json.dumps(document, indent=4).encode()


def test_lookup_events_output_yields_each_cloudtrail_event(tmp_path):
    records = [event(f"e{i}", f"2024-01-01T0{i}:00:00Z") for i in range(3)]
    events, sink, stats = _parse(tmp_path, "history/lookup-events.json", lookup_events_output(records))
    assert [(e["eventID"], e["eventName"], e["p_event_time"][:19]) for e in events] == [
        ("e0", "GetObject", "2024-01-01 00:00:00"), ("e1", "GetObject", "2024-01-01 01:00:00"),
        ("e2", "GetObject", "2024-01-01 02:00:00")]
    assert events[0]["requestParameters"] == {"bucketName": "payroll", "key": "2024/jan.csv"}
    assert sink.entries == [] and stats.records_out == 3


def test_lookup_events_items_that_are_not_events_are_quarantined_one_by_one(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000  # past the JSON decoder's recursion limit
    nested = {**event("nested", "2024-01-01T00:06:00Z"), "requestParameters": json.loads("[" * 200 + "]" * 200)}
    items = [event("good-1", "2024-01-01T00:00:00Z"), "{not json", deep, event("good-2", "2024-01-01T00:05:00Z"),
             json.dumps([1, 2]), nested]
    data = lookup_events_output(items, next_token=None)
    document = json.loads(data)
    document["Events"].insert(2, {"EventId": "x", "EventName": "GetObject"})  # no CloudTrailEvent at all
    events, sink, stats = _parse(tmp_path, "history/mixed.json", json.dumps(document).encode())
    assert [e["eventID"] for e in events] == ["good-1", "good-2"]
    reasons = [(entry.line_number, entry.reason.split(":")[0]) for entry in sink.entries]
    assert reasons == [(2, "CloudTrailEvent is not valid JSON"),
                       (3, "Events item without CloudTrailEvent text (expected aws cloudtrail lookup-events output)"),
                       (4, f"CloudTrailEvent nested deeper than {MAX_DEPTH} levels"),
                       (6, "record is a list, expected an object"),
                       (7, f"nested deeper than {MAX_DEPTH} levels")]
    assert stats.records_out + stats.quarantined == 7


def test_lookup_events_larger_than_the_record_limit_is_read_event_by_event(tmp_path):
    """Event history dumps run to many MB: the limit applies to each event, not the document."""
    records = [{**event(f"e{i}", "2024-01-01T00:00:00Z"), "padding": "x" * 900} for i in range(40)]
    data = lookup_events_output(records)
    assert len(data) > 40 * 1000
    path = tmp_path / "history" / "big.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    sink = MemoryQuarantine()
    run = parse_inputs([str(path)], quarantine=sink, max_record_bytes=4096)
    events = [e for batch in run for e in batch.events()]
    assert [e["eventID"] for e in events] == [f"e{i}" for i in range(40)] and sink.entries == []


def test_a_json_array_of_records_is_cloudtrail_record_by_record(tmp_path):
    records = [event("a", "2024-01-01T01:00:00Z"), 7, event("b", "2024-01-01T02:00:00Z")]
    data = json.dumps(records, indent=2).encode()
    assert detect_log_type("export.json", data[:4096]) == "AWS.CloudTrail"
    events, sink, _ = _parse(tmp_path, "export/records.json", data)
    assert [e["eventID"] for e in events] == ["a", "b"]
    assert [(entry.line_number, entry.reason) for entry in sink.entries] == [
        (2, "record is a int, expected an object")]


def test_a_json_array_after_a_trail_document_is_read_as_records(tmp_path):
    events, sink, stats = _parse(tmp_path, f"{TRAIL_DIR}/joined.json", b'{"Records": []}\n[1, 2]')
    assert events == [] and stats.quarantined == 2
    assert [(entry.line_number, entry.reason) for entry in sink.entries] == [
        (1, "record is a int, expected an object"), (2, "record is a int, expected an object")]


def test_a_json_array_of_other_things_is_not_taken_for_cloudtrail():
    assert detect_log_type("numbers.json", b"[1, 2, 3]\n") != "AWS.CloudTrail"


# A trail delivering to CloudWatch Logs, and a subscription filter sending the log group on to
# Firehose: Firehose writes each subscription message (gzip) to S3 as it comes, member after member.
CONTROL_MESSAGE = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
                   "subscriptionFilters": [], "logEvents": [
                       {"id": "", "timestamp": 1704067200000,
                        "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}
FIREHOSE_KEY = "firehose/2024/01/01/00/trail-to-s3-1-2024-01-01-00-00-00-6f1c2a9e-0000-4e6b-9f3b-2d2b8b1e5a10"


def log_subscription(messages: list, group: str = "aws-cloudtrail-logs-123456789012") -> dict:
    return {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
            "logStream": "123456789012_CloudTrail_us-east-1", "subscriptionFilters": ["trail-to-firehose"],
            "logEvents": [{"id": f"3753221530046848{i:04d}", "timestamp": 1704067200000 + i,
                           "message": m if isinstance(m, str) else json.dumps(m)} for i, m in enumerate(messages)]}


def firehose_object(*documents: dict) -> bytes:
    return b"".join(gzip.compress(json.dumps(d, separators=(",", ":")).encode()) for d in documents)


def test_cloudwatch_logs_subscription_messages_from_firehose_yield_each_record(tmp_path):
    data = firehose_object(CONTROL_MESSAGE,
                           log_subscription([event("c1", "2024-01-01T00:01:00Z"), event("c2", "2024-01-01T00:02:00Z")]),
                           log_subscription([event("c3", "2024-01-01T01:03:00Z")]))
    assert detect_log_type(FIREHOSE_KEY, gzip.decompress(data)[:4096]) == "AWS.CloudTrail"
    events, sink, stats = _parse(tmp_path, FIREHOSE_KEY, data)
    assert [(e["eventID"], e["p_event_time"][:19]) for e in events] == [
        ("c1", "2024-01-01 00:01:00"), ("c2", "2024-01-01 00:02:00"), ("c3", "2024-01-01 01:03:00")]
    assert events[0]["requestParameters"] == {"bucketName": "payroll", "key": "2024/jan.csv"}
    assert sink.entries == [] and stats.records_out == 3  # the control message holds no log data


def test_subscription_log_events_that_are_not_cloudtrail_are_quarantined_one_by_one(tmp_path):
    flow_log = "2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.0.220 49152 443 6 20 4249 1418530010 1418530070 ACCEPT OK"
    document = log_subscription([event("ok-1", "2024-01-01T00:00:00Z"), "{not json", {"level": "info"}, flow_log,
                                 event("ok-2", "2024-01-01T00:05:00Z")], group="/aws/vpc/flow-logs")
    document["logEvents"].insert(1, {"id": "x", "timestamp": 1704067200000})  # no message at all
    events, sink, stats = _parse(tmp_path, "firehose/mixed.json", json.dumps(document).encode())
    assert [e["eventID"] for e in events] == ["ok-1", "ok-2"]
    not_cloudtrail = "message is not a CloudTrail event (no eventVersion and eventTime; log group '/aws/vpc/flow-logs')"
    assert [(entry.line_number, entry.reason.split(":")[0]) for entry in sink.entries] == [
        (2, "logEvents item without message text (expected a CloudWatch Logs subscription message)"),
        (3, "message is not valid JSON"), (4, not_cloudtrail), (5, "message is not valid JSON")]
    assert stats.records_out + stats.quarantined == 6
    assert all(entry.raw for entry in sink.entries)  # each log event kept as it came


def test_subscription_messages_one_per_line_are_detected_as_cloudtrail():
    lines = b"".join(json.dumps(log_subscription([event(f"l{i}", "2024-01-01T00:00:00Z")])).encode() + b"\n"
                     for i in range(2))
    assert detect_log_type("firehose/lines.json", lines) == "AWS.CloudTrail"
    other = json.dumps(log_subscription(["GET /index.html 200"], group="/app/web")).encode() + b"\n"
    assert detect_log_type("firehose/app.json", other * 2) != "AWS.CloudTrail"


def test_detect_raises_the_alert_from_a_trail_delivered_through_cloudwatch_logs(tmp_path):
    from bucketwatch.cli import main

    delete_policy = {**event("attack-1", "2024-01-01T00:30:00Z"), "eventName": "DeleteBucketPolicy",
                     "requestParameters": {"bucketName": "payroll", "policy": ""}}
    path = tmp_path / FIREHOSE_KEY
    path.parent.mkdir(parents=True)
    path.write_bytes(firehose_object(CONTROL_MESSAGE, log_subscription([event("read", "2024-01-01T00:29:00Z"),
                                                                       delete_policy])))
    alerts = tmp_path / "alerts.jsonl"
    code = main(["detect", str(path), "--lake", str(tmp_path / "lake"), "--alerts", str(alerts), "--quiet"])
    raised = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert code == 0
    assert [(a["rule_id"], a["event_count"]) for a in raised if a["rule_id"] == "AWS.S3.BucketPolicyModified"] == [
        ("AWS.S3.BucketPolicyModified", 1)]
