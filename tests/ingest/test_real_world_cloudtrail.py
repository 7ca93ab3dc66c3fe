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
