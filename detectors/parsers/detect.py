"""Which log a file holds: from its key path (AWS's delivery layouts) and then its content."""

from __future__ import annotations

import re

from detectors.schema import LOG_TYPE_CLOUDTRAIL, LOG_TYPE_S3

CLOUDTRAIL_DIGEST = "CloudTrail.Digest"  # pseudo log type: recognised and skipped

# AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz
# (CloudTrail-Insight/ likewise: insight events are CloudTrail records, insightDetails kept in additionalFields)
_CLOUDTRAIL_KEY = re.compile(r"(^|/)AWSLogs/(?:o-[a-z0-9]+/)?\d{12}/CloudTrail(?:-Insight)?/")
_DIGEST_KEY = re.compile(r"(^|/)AWSLogs/(?:o-[a-z0-9]+/)?\d{12}/CloudTrail-Digest/")
# SimplePrefix: <prefix>YYYY-mm-DD-HH-MM-SS-UniqueString;
# PartitionedPrefix: <prefix><account>/<region>/<bucket>/YYYY/MM/DD/YYYY-mm-DD-HH-MM-SS-UniqueString
_ACCESS_LOG_NAME = re.compile(r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-Za-z]{8,}$")


def log_type_from_key(key: str) -> str | None:
    if _DIGEST_KEY.search(key):
        return CLOUDTRAIL_DIGEST
    if _CLOUDTRAIL_KEY.search(key):
        return LOG_TYPE_CLOUDTRAIL
    name = key.rsplit("/", 1)[-1]
    for suffix in (".gz", ".log", ".txt"):
        name = name.removesuffix(suffix)
    if _ACCESS_LOG_NAME.search(name):
        return LOG_TYPE_S3
    return None


def log_type_from_content(head: bytes) -> str:
    """From the first bytes: a JSON document is CloudTrail, anything else is read as access log
    lines (so lines of any other kind, JSON lines included, are quarantined one by one)."""
    text = head.lstrip()
    if not text.startswith(b"{"):
        return LOG_TYPE_S3
    probe = text[:4096]
    if b'"Records"' in probe:
        return LOG_TYPE_CLOUDTRAIL
    if b'"digestStartTime"' in probe or b'"digestS3Bucket"' in probe:
        return CLOUDTRAIL_DIGEST
    first_line, _, rest = text.partition(b"\n")
    if b'"eventVersion"' in first_line and (b'"eventTime"' in first_line or b'"detail-type"' in first_line):
        return LOG_TYPE_CLOUDTRAIL  # CloudTrail events one per line (EventBridge archive, Lake export)
    if first_line.rstrip().endswith(b"}") and rest.strip():
        return LOG_TYPE_S3  # JSON lines, not a trail file
    return LOG_TYPE_CLOUDTRAIL  # one JSON document: a trail file, or quarantined as not one


def detect_log_type(key: str, head: bytes) -> str:
    """Key path first (it is what AWS controls), then content."""
    return log_type_from_key(key) or log_type_from_content(head)
