"""Write the bundled sample logs (deterministic): one morning at Example Corp, with an attack.

    python -m detectors.samples.make_samples   # writes detectors/samples/logs/

The story (2024-05-14, UTC; account 111122223333; the attacker uses the leaked CI user
`leaked-ci` from 185.220.101.4):
- all morning: the finance-etl role reads finance-reports from 10.0.5.12, the app role writes to
  customer-archive from 10.0.7.7, anonymous visitors read web-assets through the website endpoint,
  S3 expires old objects; one line in the access log is truncated (quarantined);
- 09:05 a developer role (dev-debug) reads finance-reports: not in its known-good list;
- 09:08 a legacy uploader PUTs to web-assets over plain HTTP;
- 09:10 leaked-ci probes finance-reports: 6 GETs denied (403) from outside the allowlist;
- 09:30 leaked-ci blinds and exposes (CloudTrail): StopLogging on the trail, logging disabled,
  versioning suspended with MFA delete off, public access block deleted, a public bucket policy
  on customer-archive;
- 09:40 leaked-ci downloads 120 objects from customer-archive (access log);
- 10:00 leaked-ci rewrites 60 objects with SSE-C, uploads HOW_TO_DECRYPT_FILES.txt and deletes
  a batch of objects with DeleteObjects (CloudTrail data events).
`bucketwatch.yml` beside the logs configures the known-good roles, the IP allowlist and a mass
download threshold of 100 for this story.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from detectors.parsers.s3_access_format import format_access_log_line

HERE = Path(__file__).resolve().parent
LOGS = HERE / "logs"
ACCOUNT = "111122223333"
OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
ATTACKER = f"arn:aws:iam::{ACCOUNT}:user/leaked-ci"
ATTACKER_IP = "185.220.101.4"
ETL = f"arn:aws:sts::{ACCOUNT}:assumed-role/finance-etl/etl-run-0514"
APP = f"arn:aws:sts::{ACCOUNT}:assumed-role/archive-app/i-0a1b2c3d4e5f60718"
DEV = f"arn:aws:sts::{ACCOUNT}:assumed-role/dev-debug/jane"
LEGACY = f"arn:aws:iam::{ACCOUNT}:user/legacy-uploader"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/bucketwatch-data-events"
DAY = datetime(2024, 5, 14, tzinfo=UTC)
SDK_UA = "aws-sdk-java/1.12.600 Linux/5.10.205 OpenJDK_64-Bit_Server_VM/17.0.9 java/17.0.9 vendor/Amazon.com_Inc."
CLI_UA = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 command/s3.cp"
TLS = {"tlsVersion": "TLSv1.3", "ciphersuite": "TLS_AES_128_GCM_SHA256"}


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute, second=second)


class AccessLog:
    def __init__(self, bucket: str, rng: random.Random) -> None:
        self.bucket, self.rng, self.lines = bucket, rng, []

    def add(self, when: datetime, requester: str | None, ip: str, operation: str, key: str | None,
            status: int = 200, error: str | None = None, agent: str = SDK_UA, tls: bool = True,
            size: int | None = None) -> None:
        verb = operation.split(".")[1]
        uri = f"{verb} /{self.bucket}/{key or ''} HTTP/1.1" if not operation.startswith("S3.") else None
        record: dict[str, Any] = {
            "bucketowner": OWNER, "bucket": self.bucket, "time": when, "remoteip": ip,
            "requester": requester, "requestid": f"{self.rng.getrandbits(64):016X}", "operation": operation,
            "key": key, "requesturi": uri, "httpstatus": status if not operation.startswith("S3.") else None,
            "errorcode": error, "bytessent": None if error else size, "objectsize": size,
            "totaltime": self.rng.randint(5, 90), "turnaroundtime": self.rng.randint(1, 20),
            "referrer": None, "useragent": agent, "versionid": None,
            "hostid": "x8Yv1lJ2o0Kq3Rw5Tz6Ua7Wb8Xc9Yd0Ze1Af2Bg3Ch4Di5Ej6Fk7Gl8Hm9In0Jo1Kp2Lq3Mr4=",
            "signatureversion": "SigV4" if requester else None,
            "authenticationtype": "AuthHeader" if requester else None,
            "hostheader": f"{self.bucket}.s3.us-east-1.amazonaws.com",
            "aclrequired": None, "sourceregion": None, "accesspointarn": None,
        }
        if tls:
            record.update(TLS)
        self.lines.append((when, format_access_log_line(record)))

    def write(self, name: str, extra: list[str] = ()) -> None:
        path = LOGS / "s3-access" / self.bucket / name
        path.parent.mkdir(parents=True, exist_ok=True)
        body = [line for _, line in sorted(self.lines, key=lambda item: item[0])] + list(extra)
        path.write_text("\n".join(body) + "\n", encoding="utf-8")


def access_logs(rng: random.Random) -> None:
    finance = AccessLog("finance-reports", rng)
    for i in range(30):
        finance.add(at(8, 30) + timedelta(minutes=2 * i), ETL, "10.0.5.12", "REST.GET.OBJECT",
                    f"reports/2024/04/ledger-{i:03d}.parquet", size=rng.randint(40_000, 900_000))
    finance.add(at(8, 45), ETL, "10.0.5.12", "REST.GET.OBJECT", "reports/2024/04/missing.parquet", 404, "NoSuchKey")
    finance.add(at(9, 5), DEV, "10.1.2.3", "REST.GET.OBJECT", "reports/2024/04/ledger-007.parquet", size=512_000)
    for i in range(6):
        finance.add(at(9, 10, 5 * i), ATTACKER, ATTACKER_IP, "REST.GET.OBJECT", f"payroll/2024-0{i + 1}.csv",
                    403, "AccessDenied", agent=CLI_UA)
    finance.write("2024-05-14-10-00-00-5F3A0E4C1B2D7A98")

    web = AccessLog("web-assets", rng)
    for i in range(20):
        web.add(at(8, 0) + timedelta(minutes=5 * i), None, f"203.0.113.{10 + i}", "WEBSITE.GET.OBJECT",
                f"img/hero-{i % 4}.webp", agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0", tls=False,
                size=88_000)
    web.add(at(9, 8), LEGACY, "198.51.100.23", "REST.PUT.OBJECT", "downloads/catalog.pdf",
            agent="legacy-sync/1.2 (java 1.6)", tls=False, size=2_400_000)
    web.add(at(9, 20), OWNER, "10.0.9.9", "REST.GET.BUCKETPOLICY", None)
    web.write("2024-05-14-10-00-00-8C1D4B7E2A9F6035")

    archive = AccessLog("customer-archive", rng)
    for i in range(10):
        archive.add(at(8, 10) + timedelta(minutes=6 * i), APP, "10.0.7.7", "REST.PUT.OBJECT",
                    f"customers/2024/05/14/export-{i:02d}.json.gz", size=rng.randint(10_000, 90_000))
    archive.add(at(8, 20), "AmazonS3", "-", "S3.EXPIRE.OBJECT", "customers/2023/05/14/export-00.json.gz", tls=False)
    for i in range(120):
        archive.add(at(9, 40) + timedelta(seconds=4 * i), ATTACKER, ATTACKER_IP, "REST.GET.OBJECT",
                    f"customers/2024/{1 + i % 4:02d}/record-{i:04d}.json.gz", agent=CLI_UA,
                    size=rng.randint(10_000, 90_000))
    truncated = archive.lines[0][1].split(" [")[0]  # a line cut off by a bad copy: quarantined
    archive.write("2024-05-14-11-00-00-A7B3C9D1E5F20468", extra=[truncated])


def _digest(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def cloudtrail_event(when: datetime, name: str, who: str, ip: str, params: dict[str, Any],
                     source: str = "s3.amazonaws.com", data: bool = False, **extra: Any) -> dict[str, Any]:
    kind = "AssumedRole" if ":assumed-role/" in who else "IAMUser"
    event: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": kind, "principalId": "AIDAEXAMPLE" + who[-6:].upper(), "arn": who,
                         "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLE" + who[-4:].upper()},
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": ip, "userAgent": CLI_UA if who == ATTACKER else SDK_UA,
        "requestParameters": params, "responseElements": None,
        "requestID": _digest(when, name, params)[:16].upper(),
        "eventID": f"{_digest(name, when, params)[:8]}-0000-4000-8000-{_digest(params, when)[:12]}",
        "readOnly": name.startswith(("Get", "List", "Head")),
        "eventType": "AwsApiCall", "managementEvent": not data, "recipientAccountId": ACCOUNT,
        "eventCategory": "Data" if data else "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{source.split('.')[0]}.us-east-1.amazonaws.com"},
    }
    event.update(extra)
    return event


def cloudtrail_logs() -> None:
    events = []
    for i in range(8):
        events.append(cloudtrail_event(at(8, 10) + timedelta(minutes=6 * i), "PutObject", APP, "10.0.7.7",
                                       {"bucketName": "customer-archive", "key": f"customers/2024/05/14/export-{i:02d}.json.gz"},
                                       data=True))
    events.append(cloudtrail_event(at(8, 50), "GetBucketLocation", APP, "10.0.7.7", {"bucketName": "customer-archive"}))
    events.append(cloudtrail_event(at(9, 30), "StopLogging", ATTACKER, ATTACKER_IP, {"name": TRAIL},
                                   source="cloudtrail.amazonaws.com"))
    events.append(cloudtrail_event(at(9, 31), "PutBucketLogging", ATTACKER, ATTACKER_IP, {
        "bucketName": "customer-archive", "logging": "",
        "BucketLoggingStatus": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}}))
    events.append(cloudtrail_event(at(9, 32), "PutBucketVersioning", ATTACKER, ATTACKER_IP, {
        "bucketName": "customer-archive", "versioning": "",
        "VersioningConfiguration": {"Status": "Suspended", "MfaDelete": "Disabled"}}))
    events.append(cloudtrail_event(at(9, 33), "DeleteBucketPublicAccessBlock", ATTACKER, ATTACKER_IP,
                                   {"bucketName": "customer-archive", "publicAccessBlock": ""}))
    events.append(cloudtrail_event(at(9, 34), "PutBucketPolicy", ATTACKER, ATTACKER_IP, {
        "bucketName": "customer-archive", "policy": "",
        "bucketPolicy": {"Version": "2012-10-17", "Statement": [
            {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::customer-archive/*"}]}}))
    for i in range(60):
        key = f"customers/2024/{1 + i % 4:02d}/record-{i:04d}.json.gz"
        events.append(cloudtrail_event(at(10, 0) + timedelta(seconds=5 * i), "CopyObject", ATTACKER, ATTACKER_IP, {
            "bucketName": "customer-archive", "key": key, "x-amz-copy-source": f"customer-archive/{key}",
            "x-amz-server-side-encryption-customer-algorithm": "AES256"}, data=True))
    events.append(cloudtrail_event(at(10, 6), "PutObject", ATTACKER, ATTACKER_IP,
                                   {"bucketName": "customer-archive", "key": "HOW_TO_DECRYPT_FILES.txt"}, data=True))
    events.append(cloudtrail_event(at(10, 8), "DeleteObjects", ATTACKER, ATTACKER_IP,
                                   {"bucketName": "customer-archive", "delete": ""}, data=True))
    path = (LOGS / "cloudtrail" / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / "2024" / "05" / "14"
            / f"{ACCOUNT}_CloudTrail_us-east-1_20240514T1010Z_q8H2fLx0Ae3kT9Zc.json.gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"Records": sorted(events, key=lambda e: e["eventTime"])}, indent=None).encode()
    path.write_bytes(gzip.compress(payload, mtime=0))


def main() -> None:
    rng = random.Random(514)
    access_logs(rng)
    cloudtrail_logs()


if __name__ == "__main__":
    main()
