"""S3 server access log lines shaped like real-world ones (service principals, unicode and
percent-encoded keys, copy and batch-delete operations, access points, very long user agents,
lines re-saved with trailing blanks or CRLF). Both parsers must give the hand-written record.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from detectors.parsers.s3_access import parse_chunk
from detectors.parsers.s3_access_line import parse_access_line
from detectors.schema import S3_ACCESS_FIELDS

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
HEAD = f"{OWNER} amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000]"
TIME = datetime(2019, 2, 6, 0, 0, 38)
HOST = "amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com"
TAIL = f"HID= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader {HOST} TLSv1.2"
TAIL_FIELDS = {"hostid": "HID=", "signatureversion": "SigV4", "ciphersuite": "ECDHE-RSA-AES128-GCM-SHA256",
               "authenticationtype": "AuthHeader", "hostheader": HOST, "tlsVersion": "TLSv1.2"}
LONG_AGENT = "aws-sdk-java/1.12.600 Linux/5.10 OpenJDK_64-Bit_Server_VM/17 " + "exec-env/" * 2000


def expect(**fields):
    record = {name: None for name in (*S3_ACCESS_FIELDS, "additionalFields")}
    record.update(bucketowner=OWNER, bucket="amzn-s3-demo-bucket1", time=TIME, **fields)
    return record


CASES = {
    # Percent sequences are logged as sent (a double-encoded %2520 stays as is).
    "percent-encoded-key": (
        f'{HEAD} 192.0.2.3 arn:aws:iam::123456789012:user/alice R1 REST.GET.OBJECT my%2520file%20name.txt '
        f'"GET /amzn-s3-demo-bucket1/my%2520file%2520name.txt HTTP/1.1" 200 - 10 10 7 6 "-" "curl/8.0" - {TAIL}',
        expect(remoteip="192.0.2.3", requester="arn:aws:iam::123456789012:user/alice", requestid="R1",
               operation="REST.GET.OBJECT", key="my%2520file%20name.txt",
               requesturi="GET /amzn-s3-demo-bucket1/my%2520file%2520name.txt HTTP/1.1", httpstatus=200,
               bytessent=10, objectsize=10, totaltime=7, turnaroundtime=6, useragent="curl/8.0", **TAIL_FIELDS)),
    "unicode-key-assumed-role-acl-required": (
        f'{HEAD} 192.0.2.3 arn:aws:sts::123456789012:assumed-role/Admin/jane@example.com R2 REST.PUT.OBJECT '
        f'日本/ファイル.txt "PUT /日本/ファイル.txt HTTP/1.1" 200 - - 5 30 20 "-" "Boto3/1.34" - {TAIL} - Yes',
        expect(remoteip="192.0.2.3", requester="arn:aws:sts::123456789012:assumed-role/Admin/jane@example.com",
               requestid="R2", operation="REST.PUT.OBJECT", key="日本/ファイル.txt",
               requesturi="PUT /日本/ファイル.txt HTTP/1.1", httpstatus=200, objectsize=5, totaltime=30,
               turnaroundtime=20, useragent="Boto3/1.34", aclrequired="Yes", **TAIL_FIELDS)),
    "service-principal-expire": (
        f'{HEAD} - svc:s3.amazonaws.com R3 S3.EXPIRE.OBJECT logs/old.gz "-" - - - 100 - - "-" "-" - - - - - - - -',
        expect(requester="svc:s3.amazonaws.com", requestid="R3", operation="S3.EXPIRE.OBJECT", key="logs/old.gz",
               objectsize=100)),
    "batch-delete-ipv6-unquoted-dashes": (
        f"{HEAD} 2001:db8::8a2e:370:7334 AWS:AROAEXAMPLEID:i-0abc R4 BATCH.DELETE.OBJECT a/b.txt - 204 - - 12 - - - - - {TAIL}",
        expect(remoteip="2001:db8::8a2e:370:7334", requester="AWS:AROAEXAMPLEID:i-0abc", requestid="R4",
               operation="BATCH.DELETE.OBJECT", key="a/b.txt", httpstatus=204, objectsize=12, **TAIL_FIELDS)),
    "copy-source-through-access-point": (
        f'{HEAD} 2001:db8::1 {OWNER} R5 REST.COPY.OBJECT_GET src/key.txt '
        f'"PUT /dst/key.txt HTTP/1.1" 200 - - 1024 50 - "-" "aws-cli/2.15" - {TAIL} '
        "arn:aws:s3:us-west-1:123456789012:accesspoint/example-ap -",
        expect(remoteip="2001:db8::1", requester=OWNER, requestid="R5", operation="REST.COPY.OBJECT_GET",
               key="src/key.txt", requesturi="PUT /dst/key.txt HTTP/1.1", httpstatus=200, objectsize=1024,
               totaltime=50, useragent="aws-cli/2.15",
               accesspointarn="arn:aws:s3:us-west-1:123456789012:accesspoint/example-ap", **TAIL_FIELDS)),
    "sigv2-query-string-long-agent": (
        f'{HEAD} 192.0.2.3 - R6 REST.GET.OBJECT k "GET /k?AWSAccessKeyId=AKIAEXAMPLE&Signature=abc%2B HTTP/1.1" '
        f'200 - 1 1 1 1 "-" "{LONG_AGENT}" - HID2= SigV2 - QueryString amzn-s3-demo-bucket1.s3.amazonaws.com -',
        expect(remoteip="192.0.2.3", requestid="R6", operation="REST.GET.OBJECT", key="k",
               requesturi="GET /k?AWSAccessKeyId=AKIAEXAMPLE&Signature=abc%2B HTTP/1.1", httpstatus=200,
               bytessent=1, objectsize=1, totaltime=1, turnaroundtime=1, useragent=LONG_AGENT, hostid="HID2=",
               signatureversion="SigV2", authenticationtype="QueryString",
               hostheader="amzn-s3-demo-bucket1.s3.amazonaws.com")),
}
# Lines re-saved by tools: trailing blanks (with or without a CR) are not extra empty fields.
_BASE_LINE, _BASE_RECORD = CASES["percent-encoded-key"]
CASES["trailing-spaces"] = (_BASE_LINE + "   ", _BASE_RECORD)
CASES["trailing-space-and-cr"] = (_BASE_LINE + " \r", _BASE_RECORD)


@pytest.mark.parametrize("case", sorted(CASES))
def test_line_parser(case):
    line, record = CASES[case]
    assert parse_access_line(line) == record


@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_parser(case):
    line, record = CASES[case]
    result = parse_chunk((line + "\n").encode())
    assert result.rejected == []
    assert [{k: v for k, v in row.items() if k != "__index"} for row in result.table.to_pylist()] == [record]


def test_batch_of_all_cases_keeps_every_record_in_order():
    lines = [CASES[case][0] for case in sorted(CASES)]
    result = parse_chunk(("\n".join(lines) + "\n").encode())
    assert result.rejected == []
    assert [row["requestid"] for row in result.table.to_pylist()] == [CASES[c][1]["requestid"] for c in sorted(CASES)]


def test_quarantine_keeps_trailing_blanks_of_a_rejected_line():
    bad = f'{HEAD} 192.0.2.3 - R7 REST.GET.OBJECT k "GET /k HTTP/1.1" 2OO - 1 1 1 1 "-" "x" - {TAIL}  '
    result = parse_chunk((bad + "\r\n").encode())
    (rejected,) = result.rejected
    assert "httpstatus is not a number" in rejected.reason and rejected.raw == bad
