"""Realistic CloudTrail S3 data events, written to a real lake through `bucketwatch ingest`."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bucketwatch.cli import main

ACCOUNT = "111122223333"


def identity(kind: str, name: str) -> dict[str, Any]:
    """userIdentity as CloudTrail writes it for an IAM user, an assumed role or a federated user."""
    if kind == "IAMUser":
        return {"type": "IAMUser", "principalId": "AIDA" + name.upper()[:12], "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}", "accessKeyId": "AKIAEXAMPLE", "userName": name}
    if kind == "AssumedRole":
        return {"type": "AssumedRole", "principalId": f"AROAEXAMPLE:{name}-session", "accountId": ACCOUNT,
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{name}-session", "accessKeyId": "ASIAEXAMPLE",
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "accountId": ACCOUNT,
                                      "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "userName": name},
                    "attributes": {"creationDate": "2024-05-14T08:00:00Z", "mfaAuthenticated": "false"}}}
    if kind == "FederatedUser":
        return {"type": "FederatedUser", "principalId": f"{ACCOUNT}:{name}", "accountId": ACCOUNT,
                "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/{name}", "accessKeyId": "ASIAFEDERATED",
                "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": "AIDAISSUER",
                                                     "arn": f"arn:aws:iam::{ACCOUNT}:user/broker",
                                                     "accountId": ACCOUNT, "userName": "broker"},
                                   "attributes": {"creationDate": "2024-05-14T08:00:00Z",
                                                  "mfaAuthenticated": "false"}}}
    if kind == "AWSService":
        return {"type": "AWSService", "invokedBy": "athena.amazonaws.com"}
    raise ValueError(kind)


def s3_event(name: str, user: dict[str, Any], bucket: str, key: str, at: datetime, ip: str = "203.0.113.7",
             agent: str = "[aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64]",
             bytes_out: Any = None, bytes_in: Any = 0, error: str | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                             "bytesTransferredIn": bytes_in, "AuthenticationMethod": "AuthHeader",
                             "x-amz-id-2": "EXAMPLEid2"}
    if bytes_out is not None:
        extra["bytesTransferredOut"] = bytes_out
    record: dict[str, Any] = {
        "eventVersion": "1.10", "userIdentity": user, "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": ip, "userAgent": agent,
        "requestParameters": {"bucketName": bucket, "Host": f"{bucket}.s3.us-east-1.amazonaws.com", "key": key},
        "responseElements": None, "additionalEventData": extra,
        "requestID": uuid.uuid4().hex[:16].upper(), "eventID": str(uuid.uuid4()), "readOnly": name == "GetObject",
        "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                      {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        "eventType": "AwsApiCall", "managementEvent": False, "recipientAccountId": ACCOUNT,
        "eventCategory": "Data",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{bucket}.s3.us-east-1.amazonaws.com"},
    }
    if error:
        record["errorCode"], record["errorMessage"] = error, "Access Denied"
    return record


def write_trail_file(root: Path, records: list[dict[str, Any]], at: datetime) -> Path:
    folder = root / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / at.strftime("%Y/%m/%d")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ACCOUNT}_CloudTrail_us-east-1_{at:%Y%m%dT%H%MZ}_{uuid.uuid4().hex[:16]}.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path


def ingest(logs: Path, lake: Path) -> None:
    assert main(["ingest", str(logs), "--lake", str(lake)]) == 0


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
