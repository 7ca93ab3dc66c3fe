"""The pipeline: inputs, log type detection, CloudTrail files, quarantine and the count invariant."""

from __future__ import annotations

import copy
import gzip
import io
import json
from pathlib import Path

import pytest
from test_s3_access_parser import AWS_DOC_LINE, GEN_20, MALFORMED, OLD_18

from detectors.content import InputError
from detectors.parsers.detect import CLOUDTRAIL_DIGEST, detect_log_type, log_type_from_key
from detectors.pipeline import parse_inputs, parse_stream
from detectors.quarantine import MemoryQuarantine

# A management event and a data event, written after AWS's CloudTrail record examples.
PUT_BUCKET_POLICY = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "AssumedRole", "principalId": "AROAEXAMPLE:alice", "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice",
        "accountId": "123456789012", "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/Admin",
                                             "accountId": "123456789012", "userName": "Admin"},
                           "attributes": {"creationDate": "2020-05-10T11:50:00Z", "mfaAuthenticated": "false"}},
    },
    "eventTime": "2020-05-10T12:01:02Z",
    "eventSource": "s3.amazonaws.com",
    "eventName": "PutBucketPolicy",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "198.51.100.23",
    "userAgent": "[aws-cli/2.0.0 Python/3.7.4]",
    "requestParameters": {"bucketName": "payroll-exports", "Host": "payroll-exports.s3.amazonaws.com",
                          "bucketPolicy": {"Version": "2012-10-17", "Statement": [
                              {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": "arn:aws:s3:::payroll-exports/*"}]}, "policy": ""},
    "responseElements": None,
    "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
                            "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader"},
    "requestID": "8E4F2B1A0C9D7E6F",
    "eventID": "0f6c3a1e-1a2b-4c3d-8e9f-0123456789ab",
    "readOnly": False,
    "resources": [{"accountId": "123456789012", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::payroll-exports"}],
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "123456789012",
    "eventCategory": "Management",
    "tlsDetails": {"tlsVersion": "TLSv1.2", "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
                   "clientProvidedHostHeader": "payroll-exports.s3.amazonaws.com"},
    "futureTopLevelField": {"kept": True},
}
GET_OBJECT = {
    "eventVersion": "1.09",
    "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::210987654321:user/bob",
                     "accountId": "210987654321", "userName": "bob"},
    "eventTime": "2020-05-10T13:00:00Z",
    "eventSource": "s3.amazonaws.com",
    "eventName": "GetObject",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "2001:db8::77",
    "userAgent": "[Boto3/1.17.0]",
    "requestParameters": {"bucketName": "payroll-exports", "key": "2020/05/salaries.csv"},
    "responseElements": None,
    "requestID": "1A2B3C4D5E6F7A8B",
    "eventID": "1f6c3a1e-1a2b-4c3d-8e9f-0123456789ac",
    "readOnly": True,
    "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::payroll-exports/2020/05/salaries.csv"},
                  {"accountId": "123456789012", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::payroll-exports"}],
    "eventType": "AwsApiCall",
    "managementEvent": False,
    "recipientAccountId": "123456789012",
    "eventCategory": "Data",
}
TRAIL_KEY = "AWSLogs/123456789012/CloudTrail/us-east-1/2020/05/10/123456789012_CloudTrail_us-east-1_20200510T1205Z_x1.json.gz"
DIGEST = {"awsAccountId": "123456789012", "digestStartTime": "2020-05-10T11:00:00Z", "digestEndTime": "2020-05-10T12:00:00Z",
          "digestS3Bucket": "trail-bucket", "digestS3Object": "AWSLogs/...", "logFiles": []}


def _write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _trail_file(tmp_path: Path, records: list) -> Path:
    return _write(tmp_path / TRAIL_KEY, json.dumps({"Records": records}).encode(), gz=True)


def test_cloudtrail_records_kept_whole_with_p_fields(tmp_path):
    path = _trail_file(tmp_path, [PUT_BUCKET_POLICY, GET_OBJECT])
    run = parse_inputs([str(path)])
    batches = list(run)
    assert [b.log_type for b in batches] == ["AWS.CloudTrail"]
    events = list(batches[0].events())
    for event, original in zip(events, [PUT_BUCKET_POLICY, GET_OBJECT], strict=True):
        assert {k: v for k, v in event.items() if not k.startswith("p_")} == original
        assert event["p_log_type"] == "AWS.CloudTrail"
        assert event["p_source"] == str(path)
    assert events[0]["p_event_time"] == "2020-05-10 12:01:02.000000000"
    assert events[0]["p_any_ip_addresses"] == ["198.51.100.23"]
    assert set(events[0]["p_any_aws_arns"]) == {
        "arn:aws:sts::123456789012:assumed-role/Admin/alice", "arn:aws:iam::123456789012:role/Admin",
        "arn:aws:s3:::payroll-exports/*", "arn:aws:s3:::payroll-exports"}
    assert events[0]["p_any_aws_account_ids"] == ["123456789012"]
    assert events[1]["p_any_ip_addresses"] == ["2001:db8::77"]
    assert set(events[1]["p_any_aws_account_ids"]) == {"210987654321", "123456789012"}
    row = batches[0].table.to_pylist()[0]
    assert json.loads(row["userIdentity"]) == PUT_BUCKET_POLICY["userIdentity"]
    assert json.loads(row["requestParameters"]) == PUT_BUCKET_POLICY["requestParameters"]
    assert json.loads(row["additionalFields"]) == {"futureTopLevelField": {"kept": True}}
    assert row["readOnly"] is False and row["managementEvent"] is True
    assert row["eventName"] == "PutBucketPolicy"
    assert run.stats.lines_in == 2 and run.stats.records_out == 2 and run.stats.quarantined == 0


def test_cloudtrail_bad_records_and_files_are_quarantined(tmp_path):
    no_time = copy.deepcopy(GET_OBJECT)
    del no_time["eventTime"]
    bad_time = dict(GET_OBJECT, eventTime="yesterday")
    good = _trail_file(tmp_path, [PUT_BUCKET_POLICY, no_time, "not-an-object", bad_time])
    broken = _write(tmp_path / "broken.json", b'{"Records": [{"eventTime": "2020-05-10T12:00:00Z",')
    sink = MemoryQuarantine()
    run = parse_inputs([str(good), str(broken)], quarantine=sink)
    assert sum(b.table.num_rows for b in run) == 1
    reasons = {(Path(e.source).name, e.line_number): e.reason for e in sink.entries}
    name = Path(good).name
    assert "eventTime missing" in reasons[(name, 2)]
    assert "expected an object" in reasons[(name, 3)]
    assert "not an ISO 8601 time" in reasons[(name, 4)]
    # the file ends inside its first record: that record is the one entry for the rest of the file
    assert reasons[("broken.json", 1)].startswith("truncated: the text ends inside this value")
    assert run.stats.lines_in == 5 and run.stats.records_out == 1 and run.stats.quarantined == 4


def test_digest_files_are_recognised_and_skipped(tmp_path):
    by_key = _write(tmp_path / "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2020/05/10/d.json.gz",
                    json.dumps(DIGEST).encode(), gz=True)
    by_content = _write(tmp_path / "other/digest.json", json.dumps(DIGEST).encode())
    run = parse_inputs([str(by_key), str(by_content)])
    assert list(run) == []
    assert run.stats.digests_skipped == 2 and run.stats.lines_in == 0 and run.stats.quarantined == 0


@pytest.mark.parametrize(("key", "expected"), [
    ("logs/2020-05-10-12-00-00-0A1B2C3D4E5F6A7B", "AWS.S3ServerAccess"),  # SimplePrefix
    ("logs/123456789012/us-east-1/mybucket/2020/05/10/2020-05-10-12-00-00-0A1B2C3D4E5F6A7B",
     "AWS.S3ServerAccess"),  # PartitionedPrefix
    (TRAIL_KEY, "AWS.CloudTrail"),
    ("AWSLogs/o-abc123def4/123456789012/CloudTrail/eu-west-1/2020/05/10/f.json.gz", "AWS.CloudTrail"),
    ("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2020/05/10/d.json.gz", CLOUDTRAIL_DIGEST),
    ("exports/report.csv", None),
])
def test_log_type_from_key(key, expected):
    assert log_type_from_key(key) == expected


def test_log_type_from_content_when_key_says_nothing():
    assert detect_log_type("x", AWS_DOC_LINE.encode()) == "AWS.S3ServerAccess"
    assert detect_log_type("x", json.dumps({"Records": []}).encode()) == "AWS.CloudTrail"
    assert detect_log_type("x", json.dumps(DIGEST).encode()) == CLOUDTRAIL_DIGEST
    # JSON lines are not a trail file: each line is quarantined as an access log line
    assert detect_log_type("x", b'{"a": 1}\n{"b": 2}\n') == "AWS.S3ServerAccess"


def test_counts_reconcile_over_a_directory_with_gzip_and_bad_lines(tmp_path):
    bad = [MALFORMED["bad-month"][0], MALFORMED["json-line"][0], MALFORMED["elb-log-line"][0]]
    _write(tmp_path / "a" / "2020-05-10-12-00-00-AAAAAAAAAAAAAAAA", f"{AWS_DOC_LINE}\n{bad[0]}\n".encode())
    _write(tmp_path / "a" / "b" / "2020-05-10-13-00-00-BBBBBBBBBBBBBBBB.gz",
           f"{OLD_18}\n\n{bad[1]}\n{GEN_20}\n{bad[2]}".encode(), gz=True)
    _trail_file(tmp_path, [GET_OBJECT])
    sink = MemoryQuarantine()
    run = parse_inputs([str(tmp_path)], quarantine=sink)
    batches = list(run)
    assert run.stats.files == 3
    assert run.stats.lines_in == 7
    assert run.stats.records_out == 4 == sum(b.table.num_rows for b in batches)
    assert run.stats.quarantined == 3
    assert [(Path(e.source).name[:13], e.line_number, e.raw) for e in sink.entries] == [
        ("2020-05-10-12", 2, bad[0]), ("2020-05-10-13", 3, bad[1]), ("2020-05-10-13", 5, bad[2])]


def test_log_type_override(tmp_path):
    path = _write(tmp_path / "access.log", f"{AWS_DOC_LINE}\n".encode())
    sink = MemoryQuarantine()
    run = parse_inputs([str(path)], log_type="AWS.CloudTrail", quarantine=sink)
    assert list(run) == []
    assert run.stats.quarantined == 1 and sink.entries[0].reason == "not a CloudTrail log file: expected a JSON object"
    assert (sink.entries[0].line_number, sink.entries[0].offset, sink.entries[0].size) == (None, 0, len(AWS_DOC_LINE) + 1)


def test_row_ids_are_deterministic_and_unique(tmp_path):
    path = _write(tmp_path / "access.log", "\n".join([AWS_DOC_LINE, OLD_18, AWS_DOC_LINE]).encode())
    first = [i for b in parse_inputs([str(path)]) for i in b.table["p_row_id"].to_pylist()]
    again = [i for b in parse_inputs([str(path)]) for i in b.table["p_row_id"].to_pylist()]
    assert first == again
    assert len(set(first)) == 3


def test_parse_stream_reads_a_gzip_stream_like_the_lambda():
    stream = io.BytesIO(gzip.compress(f"{AWS_DOC_LINE}\n{OLD_18}\n".encode()))
    batches = list(parse_stream(stream, "s3://logs/2020-05-10-12-00-00-AAAAAAAAAAAAAAAA"))
    events = [e for b in batches for e in b.events()]
    assert [e["bucket"] for e in events] == ["amzn-s3-demo-bucket1", "examplebucket"]
    assert events[0]["time"] == "2019-02-06 00:00:38.000000000"
    assert "errorcode" not in events[0]  # absent fields are left out, as in Panther's events
    assert events[0]["p_any_aws_account_ids"] == ["123456789012"]


def test_missing_input_fails_before_any_output(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        parse_inputs([str(tmp_path / "nope.log")])


def test_truncated_gzip_keeps_its_good_prefix_and_quarantines_the_rest_as_one_entry(tmp_path):
    lines = [AWS_DOC_LINE if i % 2 else OLD_18 for i in range(4000)]
    text = ("\n".join(lines) + "\n").encode()
    compressed = gzip.compress(text)
    path = _write(tmp_path / "2020-05-10-12-00-00-AAAAAAAAAAAAAAAA.gz", compressed[: len(compressed) * 2 // 3])
    later = _write(tmp_path / "2020-05-10-13-00-00-BBBBBBBBBBBBBBBB", f"{OLD_18}\n".encode())
    sink = MemoryQuarantine()
    run = parse_inputs([str(path), str(later)], quarantine=sink)
    rows = sum(b.table.num_rows for b in run)
    (entry,) = sink.entries
    assert entry.reason.startswith("gzip data is truncated") and entry.source == str(path)
    # everything before the entry's offset was read as whole lines; the entry starts at a line start
    good = text[: entry.offset]
    assert good.endswith(b"\n") and rows == good.count(b"\n") + 1  # + the line of the later file
    assert 0 < entry.offset < len(text) and entry.line_number == good.count(b"\n") + 1
    assert run.stats.records_in == rows + 1 and run.stats.unreadable == 0


def test_corrupt_gzip_header_is_one_entry_and_the_run_goes_on(tmp_path):
    bad = _write(tmp_path / "x.gz", b"\x1f\x8b\x08\x00garbage-not-gzip")
    good = _write(tmp_path / "y.log", f"{OLD_18}\n".encode())
    sink = MemoryQuarantine()
    run = parse_inputs([str(bad), str(good)], quarantine=sink)
    assert sum(b.table.num_rows for b in run) == 1
    assert [(e.source, e.line_number, e.offset) for e in sink.entries] == [(str(bad), 1, 0)]
    assert sink.entries[0].reason.startswith("gzip data is corrupt")


def test_workers_give_the_same_records_in_the_same_order(tmp_path):
    for i in range(4):
        _write(tmp_path / f"2020-05-10-12-00-0{i}-AAAAAAAAAAAAAAAA", "\n".join([AWS_DOC_LINE, OLD_18, GEN_20]).encode())
    one = [b.table.drop_columns(["p_parse_time"]) for b in parse_inputs([str(tmp_path)])]
    two = [b.table.drop_columns(["p_parse_time"]) for b in parse_inputs([str(tmp_path)], workers=2)]
    assert [t.to_pylist() for t in one] == [t.to_pylist() for t in two]


def test_line_numbers_and_row_ids_across_many_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr("detectors.sources.CHUNK_BYTES", 1500)  # a few lines per chunk
    bad = MALFORMED["json-line"][0]
    lines = []
    for i in range(60):
        lines.append(bad if i % 7 == 3 else (AWS_DOC_LINE if i % 2 else OLD_18))
        if i % 11 == 5:
            lines.append("")  # empty lines still count for numbering
    path = _write(tmp_path / "many.gz", "\n".join(lines).encode(), gz=True)
    sink = MemoryQuarantine()
    run = parse_inputs([str(path)], quarantine=sink)
    batches = list(run)
    assert len(batches) > 10
    expected_bad = [n for n, line in enumerate(lines, start=1) if line == bad]
    assert [e.line_number for e in sink.entries] == expected_bad
    ids = [i for b in batches for i in b.table["p_row_id"].to_pylist()]
    assert len(ids) == len(set(ids)) == run.stats.records_out == 60 - len(expected_bad)
    assert [r for b in batches for r in b.table["requestid"].to_pylist()] == [
        "3E57427F3EXAMPLE" if line == AWS_DOC_LINE else "5D1F2B3C4A5E6F70" for line in lines if line and line != bad]
    again = [i for b in parse_inputs([str(path)]) for i in b.table["p_row_id"].to_pylist()]
    assert again == ids


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    raw = AWS_DOC_LINE.replace("S3Console/0.4", "S3Console/\xff0.4").encode("latin-1")
    path = _write(tmp_path / "bytes.log", raw + b"\n" + OLD_18.encode() + b"\n")
    events = [e for b in parse_inputs([str(path)]) for e in b.events()]
    assert [e["useragent"] for e in events] == ["S3Console/\ufffd0.4", "aws-cli/1.7.8 Python/2.7.9 Darwin/14.1.0"]
