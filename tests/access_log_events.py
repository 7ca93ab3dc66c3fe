"""Realistic S3 server access log lines for tests (the format S3 writes, via our formatter)."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

from detectors.parsers.s3_access_format import format_access_log_line

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
AGENT = "aws-sdk-java/1.12.600 Linux/5.10.205 OpenJDK_64-Bit_Server_VM/17.0.9 java/17.0.9 vendor/Amazon.com_Inc."
_RNG = random.Random(5)


def access_line(when: datetime, bucket: str, requester: str | None, ip: str, operation: str = "REST.GET.OBJECT",
                key: str | None = "data/file.csv", status: int = 200, error: str | None = None,
                size: int | None = 1024) -> str:
    verb = operation.split(".")[1]
    return format_access_log_line({
        "bucketowner": OWNER, "bucket": bucket, "time": when, "remoteip": ip, "requester": requester,
        "requestid": f"{_RNG.getrandbits(64):016X}", "operation": operation, "key": key,
        "requesturi": f"{verb} /{bucket}/{key or ''} HTTP/1.1", "httpstatus": status, "errorcode": error,
        "bytessent": None if error else size, "objectsize": size, "totaltime": _RNG.randint(5, 90),
        "turnaroundtime": _RNG.randint(1, 20), "referrer": None, "useragent": AGENT, "versionid": None,
        "hostid": "x8Yv1lJ2o0Kq3Rw5Tz6Ua7Wb8Xc9Yd0Ze1Af2Bg3Ch4Di5Ej6Fk7Gl8Hm9In0Jo1Kp2Lq3Mr4=",
        "signatureversion": "SigV4" if requester else None, "ciphersuite": "TLS_AES_128_GCM_SHA256",
        "authenticationtype": "AuthHeader" if requester else None,
        "hostheader": f"{bucket}.s3.us-east-1.amazonaws.com", "tlsVersion": "TLSv1.3",
    })


def write_access_log(root: Path, bucket: str, lines: list[tuple[datetime, str]], name: str) -> Path:
    """One delivered log object (SimplePrefix layout), lines in time order."""
    path = root / "s3-access" / bucket / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(line for _, line in sorted(lines, key=lambda item: item[0])) + "\n")
    return path
