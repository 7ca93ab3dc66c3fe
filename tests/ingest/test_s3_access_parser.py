"""S3 server access log parsing, on lines written by hand from AWS's documented format.

Every case runs through both parsers: the vectorized batch parser (what ingestion uses) and the
per-line parser (the fallback and source of quarantine reasons). Expected values are written
out by hand from the line, never taken from parser output.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from detectors.parsers.s3_access import parse_chunk
from detectors.parsers.s3_access_line import LineError, parse_access_line
from detectors.schema import S3_ACCESS_FIELDS

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
HOSTID = "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234="


def expect(**fields):
    """A full record: every schema field absent unless given."""
    record = {name: None for name in (*S3_ACCESS_FIELDS, "additionalFields")}
    record.update(fields)
    return record


# The first example record of AWS's "Amazon S3 server access log format" page (27 fields).
AWS_DOC_LINE = (
    f"{OWNER} amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 {OWNER} 3E57427F3EXAMPLE "
    'REST.GET.VERSIONING - "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - '
    f"{HOSTID} SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com "
    "TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes us-east-1"
)
AWS_DOC_RECORD = expect(
    bucketowner=OWNER, bucket="amzn-s3-demo-bucket1", time=datetime(2019, 2, 6, 0, 0, 38), remoteip="192.0.2.3",
    requester=OWNER, requestid="3E57427F3EXAMPLE", operation="REST.GET.VERSIONING",
    requesturi="GET /amzn-s3-demo-bucket1?versioning HTTP/1.1", httpstatus=200, bytessent=113, totaltime=7,
    useragent="S3Console/0.4", hostid=HOSTID, signatureversion="SigV4", ciphersuite="ECDHE-RSA-AES128-GCM-SHA256",
    authenticationtype="AuthHeader", hostheader="amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com",
    tlsVersion="TLSV1.2", accesspointarn="arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP",
    aclrequired="Yes", sourceregion="us-east-1",
)

# Oldest generation: 18 fields, ends with the version id. Pacific time, a referrer, a key with %20.
OLD_18 = (
    f"{OWNER} examplebucket [14/Feb/2015:23:59:59 -0800] 203.0.113.9 arn:aws:iam::123456789012:user/alice "
    "5D1F2B3C4A5E6F70 REST.PUT.OBJECT photos/2015/puppy%20dog.jpg "
    '"PUT /examplebucket/photos/2015/puppy%20dog.jpg HTTP/1.1" 200 - - 52734 129 32 '
    '"https://console.aws.amazon.com/s3/home" "aws-cli/1.7.8 Python/2.7.9 Darwin/14.1.0" '
    "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
)
OLD_18_RECORD = expect(
    bucketowner=OWNER, bucket="examplebucket", time=datetime(2015, 2, 15, 7, 59, 59), remoteip="203.0.113.9",
    requester="arn:aws:iam::123456789012:user/alice", requestid="5D1F2B3C4A5E6F70", operation="REST.PUT.OBJECT",
    key="photos/2015/puppy%20dog.jpg", requesturi="PUT /examplebucket/photos/2015/puppy%20dog.jpg HTTP/1.1",
    httpstatus=200, objectsize=52734, totaltime=129, turnaroundtime=32,
    referrer="https://console.aws.amazon.com/s3/home", useragent="aws-cli/1.7.8 Python/2.7.9 Darwin/14.1.0",
    versionid="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
)

# 20 fields (host id and signature version added), IPv6, anonymous requester, a 403.
GEN_20 = (
    f"{OWNER} public-assets [31/Dec/2017:23:30:00 +0000] 2001:db8:85a3::8a2e:370:7334 - 0A1B2C3D4E5F6A7B "
    'REST.GET.OBJECT index.html "GET /index.html HTTP/1.1" 403 AccessDenied 243 - 12 - "-" "curl/7.58.0" - '
    "HOSTID20= SigV2"
)
GEN_20_RECORD = expect(
    bucketowner=OWNER, bucket="public-assets", time=datetime(2017, 12, 31, 23, 30), remoteip="2001:db8:85a3::8a2e:370:7334",
    requestid="0A1B2C3D4E5F6A7B", operation="REST.GET.OBJECT", key="index.html",
    requesturi="GET /index.html HTTP/1.1", httpstatus=403, errorcode="AccessDenied", bytessent=243, totaltime=12,
    useragent="curl/7.58.0", hostid="HOSTID20=", signatureversion="SigV2",
)

# 24 fields (through TLS version); the offset +0530 crosses midnight and the year.
GEN_24 = (
    f"{OWNER} ledger [01/Jan/2021:05:29:59 +0530] 198.51.100.7 "
    "arn:aws:sts::123456789012:assumed-role/DataPipelineRole/i-0abcd1234efgh5678 7C6B5A4F3E2D1C0B "
    'REST.HEAD.OBJECT 2020/12/31/ledger.csv "HEAD /2020/12/31/ledger.csv HTTP/1.1" 200 - - 8812 4 3 "-" '
    '"Boto3/1.16.0 Python/3.8.5 Linux/5.4.0 Botocore/1.19.0" - HID24= SigV4 ECDHE-RSA-AES128-GCM-SHA256 '
    "AuthHeader ledger.s3.ap-south-1.amazonaws.com TLSv1.2"
)
GEN_24_RECORD = expect(
    bucketowner=OWNER, bucket="ledger", time=datetime(2020, 12, 31, 23, 59, 59), remoteip="198.51.100.7",
    requester="arn:aws:sts::123456789012:assumed-role/DataPipelineRole/i-0abcd1234efgh5678",
    requestid="7C6B5A4F3E2D1C0B", operation="REST.HEAD.OBJECT", key="2020/12/31/ledger.csv",
    requesturi="HEAD /2020/12/31/ledger.csv HTTP/1.1", httpstatus=200, objectsize=8812, totaltime=4,
    turnaroundtime=3, useragent="Boto3/1.16.0 Python/3.8.5 Linux/5.4.0 Botocore/1.19.0", hostid="HID24=",
    signatureversion="SigV4", ciphersuite="ECDHE-RSA-AES128-GCM-SHA256", authenticationtype="AuthHeader",
    hostheader="ledger.s3.ap-south-1.amazonaws.com", tlsVersion="TLSv1.2",
)

# 29 fields: two fields AWS may add in future, kept as logged in additionalFields.
GEN_29 = AWS_DOC_LINE + " newfield-1 -"
GEN_29_RECORD = {**AWS_DOC_RECORD, "additionalFields": ["newfield-1", "-"]}

# A field AWS may add after the known ones could be quoted, with spaces inside: the user agent
# then does not run to the line's last quote (the vectorized parser would have taken it there).
GEN_28_QUOTED = AWS_DOC_LINE + ' "new field, quoted" newfield-2'
GEN_28_QUOTED_RECORD = {**AWS_DOC_RECORD, "additionalFields": ['"new field, quoted"', "newfield-2"]}

# Raw quotes inside the request-URI, the referrer and the user agent (S3 does not escape them).
RAW_QUOTES = (
    f"{OWNER} web [10/May/2020:12:00:01 +0000] 192.0.2.44 - 1111222233334444 WEBSITE.GET.OBJECT search "
    '"GET /search?q="drop table" HTTP/1.1" 404 NoSuchKey 310 - 9 - "https://evil.example/"x"" '
    '"Mozilla/5.0 (compatible; "Evil" Bot/1.0)" - HIDQ= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader '
    "web.s3-website-us-east-1.amazonaws.com TLSv1.3 - - us-east-1"
)
RAW_QUOTES_RECORD = expect(
    bucketowner=OWNER, bucket="web", time=datetime(2020, 5, 10, 12, 0, 1), remoteip="192.0.2.44",
    requestid="1111222233334444", operation="WEBSITE.GET.OBJECT", key="search",
    requesturi='GET /search?q="drop table" HTTP/1.1', httpstatus=404, errorcode="NoSuchKey", bytessent=310,
    totaltime=9, referrer='https://evil.example/"x"', useragent='Mozilla/5.0 (compatible; "Evil" Bot/1.0)',
    hostid="HIDQ=", signatureversion="SigV4", ciphersuite="ECDHE-RSA-AES128-GCM-SHA256",
    authenticationtype="AuthHeader", hostheader="web.s3-website-us-east-1.amazonaws.com", tlsVersion="TLSv1.3",
    sourceregion="us-east-1",
)

# Lifecycle actions are logged by S3 itself: no IP, requester AmazonS3, status `-`.
LIFECYCLE_EXPIRE = (
    f"{OWNER} archive [11/May/2020:03:12:45 +0000] - AmazonS3 A1B2C3D4E5F6A7B8 S3.EXPIRE.OBJECT "
    'logs/2019/app.log "-" - - - 3462992 - - "-" "-" - HIDL= - - - - - - - -'
)
LIFECYCLE_EXPIRE_RECORD = expect(
    bucketowner=OWNER, bucket="archive", time=datetime(2020, 5, 11, 3, 12, 45), requester="AmazonS3",
    requestid="A1B2C3D4E5F6A7B8", operation="S3.EXPIRE.OBJECT", key="logs/2019/app.log", objectsize=3462992,
    hostid="HIDL=",
)
LIFECYCLE_TRANSITION = (
    f"{OWNER} archive [11/May/2020:03:12:46 +0000] - AmazonS3 B1C2D3E4F5A6B7C8 S3.TRANSITION_SIA.OBJECT "
    'data/part%2B1.parquet "-" - - - 1024 - - "-" "-" 3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY HIDT='
)
LIFECYCLE_TRANSITION_RECORD = expect(
    bucketowner=OWNER, bucket="archive", time=datetime(2020, 5, 11, 3, 12, 46), requester="AmazonS3",
    requestid="B1C2D3E4F5A6B7C8", operation="S3.TRANSITION_SIA.OBJECT", key="data/part%2B1.parquet",
    objectsize=1024, versionid="3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", hostid="HIDT=",
)

# Bare `-` where a quoted field is expected, and keys kept exactly as logged (no decoding).
BARE_DASHES = (
    f"{OWNER} b1 [29/Feb/2020:00:00:00 +0000] 10.0.0.1 {OWNER} C0FFEE0000000001 REST.GET.OBJECT "
    'a%2Fb%20c+d%C3%A9.txt "GET /b1/a%2Fb%20c+d%C3%A9.txt HTTP/1.1" 206 - 100 5000 20 19 - - -'
)
BARE_DASHES_RECORD = expect(
    bucketowner=OWNER, bucket="b1", time=datetime(2020, 2, 29), remoteip="10.0.0.1", requester=OWNER,
    requestid="C0FFEE0000000001", operation="REST.GET.OBJECT", key="a%2Fb%20c+d%C3%A9.txt",
    requesturi="GET /b1/a%2Fb%20c+d%C3%A9.txt HTTP/1.1", httpstatus=206, bytessent=100, objectsize=5000,
    totaltime=20, turnaroundtime=19,
)

VALID = {
    "aws-doc-27": (AWS_DOC_LINE, AWS_DOC_RECORD),
    "old-18": (OLD_18, OLD_18_RECORD),
    "gen-20-ipv6": (GEN_20, GEN_20_RECORD),
    "gen-24-offset": (GEN_24, GEN_24_RECORD),
    "gen-29-unknown-trailing": (GEN_29, GEN_29_RECORD),
    "gen-28-quoted-added-field": (GEN_28_QUOTED, GEN_28_QUOTED_RECORD),
    "raw-quotes": (RAW_QUOTES, RAW_QUOTES_RECORD),
    "lifecycle-expire": (LIFECYCLE_EXPIRE, LIFECYCLE_EXPIRE_RECORD),
    "lifecycle-transition": (LIFECYCLE_TRANSITION, LIFECYCLE_TRANSITION_RECORD),
    "bare-dashes": (BARE_DASHES, BARE_DASHES_RECORD),
}

# Generations 25 and 26 (access point ARN, ACL required): the doc line cut after those fields.
_DOC_TOKENS = AWS_DOC_LINE.split(" ")
VALID["gen-25"] = (" ".join(_DOC_TOKENS[:-2]), {**AWS_DOC_RECORD, "aclrequired": None, "sourceregion": None})
VALID["gen-26"] = (" ".join(_DOC_TOKENS[:-1]), {**AWS_DOC_RECORD, "sourceregion": None})
# A user agent with raw quotes, then a quoted added field: the agent keeps its own quotes.
VALID["raw-quotes-and-quoted-added-field"] = (RAW_QUOTES + ' "added"', {**RAW_QUOTES_RECORD,
                                                                        "additionalFields": ['"added"']})
# An older generation (7 fields after the agent) whose agent holds quoted words: they stay in it.
VALID["gen-24-raw-quotes-in-agent"] = (
    GEN_24.replace('"Boto3/1.16.0 Python/3.8.5 Linux/5.4.0 Botocore/1.19.0"', '"curl "x" y z"'),
    {**GEN_24_RECORD, "useragent": 'curl "x" y z'})


def _batch_parse(lines: list[str]) -> list[dict]:
    result = parse_chunk("\n".join(lines) + "\n")
    assert result.rejected == []
    return [{k: v for k, v in row.items() if k != "__index"} for row in result.table.to_pylist()]


@pytest.mark.parametrize("case", sorted(VALID))
def test_line_parser(case):
    line, record = VALID[case]
    assert parse_access_line(line) == record


@pytest.mark.parametrize("case", sorted(VALID))
def test_batch_parser(case):
    line, record = VALID[case]
    assert _batch_parse([line]) == [record]


def test_batch_parser_keeps_order_across_fast_and_slow_lines():
    names = ["aws-doc-27", "raw-quotes", "old-18", "gen-29-unknown-trailing", "bare-dashes", "gen-24-offset"]
    assert _batch_parse([VALID[n][0] for n in names]) == [VALID[n][1] for n in names]


ELB_LINE = (
    'http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 '
    '0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - '
    'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
    '"Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-"'
)
MALFORMED = {
    "truncated-after-key": (AWS_DOC_LINE[:AWS_DOC_LINE.index('"GET')], "truncated"),
    "truncated-in-user-agent": (AWS_DOC_LINE[:AWS_DOC_LINE.index("S3Console") + 4], "truncated"),
    "truncated-before-versionid": (AWS_DOC_LINE[:AWS_DOC_LINE.index('"S3Console/0.4"') + 15], "versionid missing"),
    "truncated-in-head": (f"{OWNER} amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38", "truncated"),
    "bad-month": (AWS_DOC_LINE.replace("06/Feb/2019", "06/Fbe/2019"), "bad month 'Fbe'"),
    "bad-day": (AWS_DOC_LINE.replace("06/Feb/2019", "30/Feb/2019"), "invalid time"),
    "bad-offset": (AWS_DOC_LINE.replace("+0000]", "UTC]"), "offset"),
    "status-not-a-number": (AWS_DOC_LINE.replace('HTTP/1.1" 200 -', 'HTTP/1.1" 2OO -'), "httpstatus is not a number"),
    "bytes-not-a-number": (AWS_DOC_LINE.replace(" 200 - 113 ", " 200 - 11x3 "), "bytessent is not a number"),
    "size-out-of-range": (AWS_DOC_LINE.replace(" 200 - 113 ", " 200 - 1130000000000000000000 "),
                          "bytessent is out of range"),
    "negative-size": (AWS_DOC_LINE.replace(" 200 - 113 ", " 200 - -113 "), "bytessent is not a number"),
    "hex-status": (AWS_DOC_LINE.replace('HTTP/1.1" 200 -', 'HTTP/1.1" 0xC8 -'), "httpstatus is not a number"),
    "bad-ipv6": (GEN_20.replace("2001:db8:85a3::8a2e:370:7334", "2001:::85a3::1"), "remoteip is not an IP address"),
    "bad-ip": (AWS_DOC_LINE.replace("192.0.2.3", "999.0.2.3"), "remoteip is not an IP address"),
    "json-line": ('{"eventVersion": "1.08", "eventSource": "s3.amazonaws.com", "eventName": "GetObject"}', "JSON"),
    "elb-log-line": (ELB_LINE, "not bracketed"),
    "syslog-line": ("Feb  6 00:00:38 ip-10-0-0-1 sshd[1234]: Accepted publickey for ec2-user from 10.0.0.9",
                    "not bracketed"),
    "unquoted-uri": (AWS_DOC_LINE.replace('"GET /amzn-s3-demo-bucket1?versioning HTTP/1.1"', "GET"),
                     "request-URI is not quoted"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_line_gives_reason(case):
    line, reason = MALFORMED[case]
    with pytest.raises(LineError) as caught:
        parse_access_line(line)
    assert reason in str(caught.value)


def test_batch_rejects_malformed_with_position_and_reason():
    bad = [MALFORMED[name][0] for name in sorted(MALFORMED)]
    lines = [AWS_DOC_LINE, *bad, OLD_18]
    result = parse_chunk("\n".join(lines) + "\n")
    assert result.lines == len(lines)
    assert result.table.num_rows == 2
    assert [r.index for r in result.rejected] == list(range(1, len(bad) + 1))
    for rejected, name in zip(result.rejected, sorted(MALFORMED), strict=True):
        assert MALFORMED[name][1] in rejected.reason
        assert rejected.raw == MALFORMED[name][0]


def test_empty_lines_hold_no_record_and_are_not_counted():
    result = parse_chunk(f"\n{AWS_DOC_LINE}\n\n{OLD_18}\r\n")
    assert result.lines == 2
    assert result.table["__index"].to_pylist() == [1, 3]
    assert result.table["versionid"].to_pylist() == [None, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"]
