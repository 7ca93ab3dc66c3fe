"""Generate realistic, varied S3 server access log lines (for the ingest benchmark and tests).

Records are built as dicts with the schema's field names, then written with the project's one
formatter (`detectors.parsers.s3_access_format`). Variety on purpose: every format generation
(18..27 fields), IPv4 and IPv6, canonical ids / IAM users / assumed roles / anonymous requesters,
URL-encoded keys, long user agents, raw quotes inside the user agent and request-URI, time zone
offsets other than +0000, lifecycle records with status `-`, errors 400/403/404/405/500/503.

    python bench/gen_access_logs.py OUT.log --lines 1000000 [--seed 7]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from detectors.parsers.s3_access_format import format_access_log_line

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
BUCKETS = ["amzn-s3-demo-bucket1", "prod-data-lake", "payroll-exports", "static-site-assets"]
REQUESTERS = [
    OWNER,
    "arn:aws:iam::123456789012:user/alice",
    "arn:aws:iam::123456789012:user/deploy-bot",
    "arn:aws:sts::123456789012:assumed-role/DataPipelineRole/i-0abcd1234efgh5678",
    "arn:aws:sts::210987654321:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/bob@example.com",
    "arn:aws:sts::123456789012:assumed-role/eagle/regionalDeliverySession",
    None,  # anonymous
    "svc:logging.s3.amazonaws.com",
]
USER_AGENTS = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-18-amd64 exe/x86_64.debian.12 prompt/off command/s3.cp",
    "aws-sdk-java/1.12.261 Linux/4.14.326-245.539.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/25.392-b08 "
    "java/1.8.0_392 vendor/Amazon.com_Inc. cfg/retry-mode/standard",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.12.2 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.210-178.855.amzn2int.x86_64",
    "curl/8.5.0",
    None,
]
QUOTED_AGENTS = ['Mozilla/5.0 (compatible; "Evil" Bot/1.0)', 'python-requests/2.31.0 "injected" "x"']
OPERATIONS = [
    ("REST.GET.OBJECT", "GET", 40), ("REST.PUT.OBJECT", "PUT", 15), ("REST.HEAD.OBJECT", "HEAD", 10),
    ("REST.DELETE.OBJECT", "DELETE", 4), ("REST.GET.BUCKET", "GET", 8), ("REST.COPY.OBJECT", "PUT", 2),
    ("REST.POST.MULTI_OBJECT_DELETE", "POST", 1), ("REST.GET.ACL", "GET", 2), ("REST.PUT.BUCKETPOLICY", "PUT", 1),
    ("REST.GET.VERSIONING", "GET", 2), ("BATCH.DELETE.OBJECT", "DELETE", 1), ("WEBSITE.GET.OBJECT", "GET", 2),
]
LIFECYCLE = ["S3.EXPIRE.OBJECT", "S3.TRANSITION_SIA.OBJECT", "S3.TRANSITION_GIR.OBJECT", "S3.CREATE.DELETEMARKER"]
ERRORS = [(400, "InvalidArgument"), (403, "AccessDenied"), (403, "SignatureDoesNotMatch"), (404, "NoSuchKey"),
          (405, "MethodNotAllowed"), (500, "InternalError"), (503, "SlowDown")]
KEY_PARTS = ["reports", "2020", "Q2", "photos", "puppy%20dog.jpg", "data%2Bset", "exports", "caf%C3%A9.csv",
             "logs", "a+b", "part-00000.snappy.parquet", "%E2%9C%93check.txt"]
OFFSETS = [UTC] * 8 + [timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))]
START = datetime(2020, 5, 8, tzinfo=UTC)
SPAN_SECONDS = 6 * 24 * 3600  # 8..13 May 2020: straddles the tutorial's `day>=10`


def _ip(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.02:
        return None
    if roll < 0.25:
        return f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
    return f"{rng.choice((10, 54, 192, 203, 198))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}X}"


def generate_record(rng: random.Random, progress: float | None = None, start: datetime = START,
                    span_seconds: int = SPAN_SECONDS) -> dict[str, Any]:
    """One record; `progress` (0..1) places it in time order across the span, as in delivered log
    files (a few seconds of jitter), else anywhere in the span."""
    offset = rng.randrange(span_seconds) if progress is None else int(progress * span_seconds) + rng.randrange(30)
    when = start + timedelta(seconds=offset)
    bucket = rng.choice(BUCKETS)
    record: dict[str, Any] = {
        "bucketowner": OWNER, "bucket": bucket, "time": when.astimezone(rng.choice(OFFSETS)),
        "requestid": _hex(rng, 16), "hostid": _hex(rng, 40) + "=",
    }
    if rng.random() < 0.01:
        key = "/".join(rng.sample(KEY_PARTS, 3))
        record.update(operation=rng.choice(LIFECYCLE), key=key, requester="AmazonS3", objectsize=rng.randrange(1, 10**7),
                      versionid=_hex(rng, 32))
        return record
    operation, method, _ = rng.choices(OPERATIONS, weights=[w for *_, w in OPERATIONS])[0]
    key = "/".join(rng.sample(KEY_PARTS, rng.randrange(1, 4))) if "OBJECT" in operation else None
    agent = rng.choice(QUOTED_AGENTS) if rng.random() < 0.005 else rng.choice(USER_AGENTS)
    status, error = rng.choice(ERRORS) if rng.random() < 0.08 else (rng.choice((200, 200, 200, 204, 206, 304)), None)
    size = rng.randrange(0, 5 * 10**7) if key else None
    uri = f"{method} /{bucket}/{key or ''}{'?versionId=' + _hex(rng, 8) if rng.random() < 0.05 else ''} HTTP/1.1"
    if rng.random() < 0.003:
        uri = f'{method} /{bucket}/{key or ""}?q="quoted" HTTP/1.1'
    tls = rng.random() > 0.03
    record.update(
        remoteip=_ip(rng), requester=rng.choice(REQUESTERS), operation=operation, key=key, requesturi=uri,
        httpstatus=status, errorcode=error, bytessent=(rng.randrange(0, size or 4096) if not error else 243),
        objectsize=size, totaltime=rng.randrange(1, 3000), turnaroundtime=rng.randrange(0, 200),
        referrer=rng.choice((None, None, None, f"https://console.aws.amazon.com/s3/buckets/{bucket}")),
        useragent=agent, versionid=_hex(rng, 32) if rng.random() < 0.1 else None,
        signatureversion=rng.choice(("SigV4", "SigV4", "SigV2")),
        ciphersuite="ECDHE-RSA-AES128-GCM-SHA256" if tls else None,
        authenticationtype=rng.choice(("AuthHeader", "QueryString")),
        hostheader=f"{bucket}.s3.us-west-2.amazonaws.com", tlsVersion=rng.choice(("TLSv1.2", "TLSv1.3")) if tls else None,
        accesspointarn="arn:aws:s3:us-west-2:123456789012:accesspoint/analytics" if rng.random() < 0.05 else None,
        aclrequired="Yes" if rng.random() < 0.02 else None, sourceregion="us-west-2" if rng.random() < 0.9 else None,
    )
    return record


def _field_count(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.6:
        return 27
    if roll < 0.8:
        return 26
    return rng.randrange(18, 26)


def generate(n: int, seed: int = 7, ordered: bool = True, start: datetime = START,
             span_seconds: int = SPAN_SECONDS) -> Iterator[tuple[dict[str, Any], int, str]]:
    """(record, field count, line) triples; the record holds what the line says (fields beyond the
    generation's count are absent from the line, so the record drops them too). `ordered`: in time
    order across the span (delivered objects); else each line anywhere in it (a mixed archive)."""
    rng = random.Random(seed)
    from detectors.schema import S3_ACCESS_FIELDS

    for i in range(n):
        record = generate_record(rng, i / n if ordered else None, start, span_seconds)
        count = _field_count(rng)
        for name in S3_ACCESS_FIELDS[count:]:
            record.pop(name, None)
        yield record, count, format_access_log_line(record, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with open(args.out, "w", encoding="utf-8") as out:
        batch = []
        for _, _, line in generate(args.lines, args.seed):
            batch.append(line)
            if len(batch) >= 10_000:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            out.write("\n".join(batch) + "\n")


if __name__ == "__main__":
    main()
