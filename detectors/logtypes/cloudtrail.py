"""AWS.CloudTrail: trail files, EventBridge/CloudTrail Lake events, Event history, CloudWatch Logs
subscription messages (detectors/parsers/cloudtrail.py)."""

from __future__ import annotations

import re
from typing import Any

from detectors.logtypes import LogType, has_any_key
from detectors.parsers.cloudtrail import CLOUDTRAIL_DIGEST, from_row
from detectors.pipeline import parse_cloudtrail_file
from detectors.schema import CLOUDTRAIL_SCHEMA, LOG_TYPE_CLOUDTRAIL

# AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz
# (CloudTrail-Insight/ likewise: insight events are CloudTrail records, insightDetails kept in additionalFields)
_CLOUDTRAIL_KEY = re.compile(r"(^|/)AWSLogs/(?:o-[a-z0-9]+/)?\d{12}/CloudTrail(?:-Insight)?/")
_DIGEST_KEY = re.compile(r"(^|/)AWSLogs/(?:o-[a-z0-9]+/)?\d{12}/CloudTrail-Digest/")


def sniff_key(key: str) -> str | None:
    if _DIGEST_KEY.search(key):
        return CLOUDTRAIL_DIGEST
    if _CLOUDTRAIL_KEY.search(key):
        return LOG_TYPE_CLOUDTRAIL
    return None


def sniff_content(head: bytes) -> str | None:
    """A JSON document is CloudTrail (or quarantined as not a trail file), as is a JSON array
    of CloudTrail records; JSON lines are not, unless their first line is a CloudTrail event."""
    text = head.lstrip()
    probe = text[:4096]
    if text.startswith(b"["):  # an array of records (else not ours: the access-log parser says why)
        return LOG_TYPE_CLOUDTRAIL if b'"eventVersion"' in probe and b'"eventTime"' in probe else None
    if not text.startswith(b"{"):
        return None
    if b'"Records"' in probe:
        return LOG_TYPE_CLOUDTRAIL
    if b'"digestStartTime"' in probe or b'"digestS3Bucket"' in probe:
        return CLOUDTRAIL_DIGEST
    first_line, _, rest = text.partition(b"\n")
    if b'"eventVersion"' in first_line and (b'"eventTime"' in first_line or b'"detail-type"' in first_line):
        return LOG_TYPE_CLOUDTRAIL  # CloudTrail events one per line (EventBridge archive, Lake export)
    if b'"logEvents"' in first_line and b'\\"eventVersion\\"' in first_line:
        return LOG_TYPE_CLOUDTRAIL  # CloudWatch Logs subscription messages of a trail, one per line
    if first_line.rstrip().endswith(b"}") and rest.strip():
        return None  # JSON lines, not a trail file
    return LOG_TYPE_CLOUDTRAIL  # one JSON document: a trail file, or quarantined as not one


def actor_user(event: Any) -> str | None:
    """The human-meaningful actor of a CloudTrail record (Panther's data model semantics)."""
    identity = event.get("userIdentity") or {}
    kind = identity.get("type")
    if kind == "Root":
        return identity.get("userName") or identity.get("accountId") or "root"
    if kind in ("AssumedRole", "FederatedUser"):
        issuer = identity.deep_get("sessionContext", "sessionIssuer", "userName")
        if issuer:
            return issuer
    if kind == "AWSService":
        return identity.get("invokedBy")
    if identity.get("userName"):
        return identity.get("userName")
    arn = identity.get("arn")
    return arn.split("/")[-1] if isinstance(arn, str) and "/" in arn else arn


LOG_TYPE = LogType(
    name=LOG_TYPE_CLOUDTRAIL,
    table="aws_cloudtrail",
    schema=CLOUDTRAIL_SCHEMA,
    parse=parse_cloudtrail_file,
    sniff_key=sniff_key,
    sniff_content=sniff_content,
    skipped=(CLOUDTRAIL_DIGEST,),
    data_model={
        "actor_user": actor_user,
        "source_ip": ("sourceIPAddress",),
        "user_agent": ("userAgent",),
        "event_type": ("eventName",),
        "user_account_id": ("userIdentity", "accountId"),
        "user_arn": ("userIdentity", "arn"),
    },
    looks_like=has_any_key("eventName", "eventSource", "userIdentity"),
    event_from_row=from_row,
)
