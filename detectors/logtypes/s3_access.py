"""AWS.S3ServerAccess: S3 server access log lines (vectorized parser in detectors/parsers/s3_access.py).

The catch-all type: content no other type claims is read as access-log lines, so lines of any
other kind (JSON lines included) are quarantined one by one with a reason.
"""

from __future__ import annotations

import re

from detectors.logtypes import LogType, has_any_key
from detectors.pipeline import parse_access_log
from detectors.schema import LOG_TYPE_S3, S3_ACCESS_SCHEMA

# SimplePrefix: <prefix>YYYY-mm-DD-HH-MM-SS-UniqueString;
# PartitionedPrefix: <prefix><account>/<region>/<bucket>/YYYY/MM/DD/YYYY-mm-DD-HH-MM-SS-UniqueString
_ACCESS_LOG_NAME = re.compile(r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-Za-z]{8,}$")


def sniff_key(key: str) -> str | None:
    name = key.rsplit("/", 1)[-1]
    for suffix in (".gz", ".log", ".txt"):
        name = name.removesuffix(suffix)
    return LOG_TYPE_S3 if _ACCESS_LOG_NAME.search(name) else None


LOG_TYPE = LogType(
    name=LOG_TYPE_S3,
    table="aws_s3serveraccess",
    schema=S3_ACCESS_SCHEMA,
    parse=parse_access_log,
    sniff_key=sniff_key,
    catch_all=True,
    data_model={
        "http_status": ("httpstatus",),
        "source_ip": ("remoteip",),
        "user_agent": ("useragent",),
        "actor_user": ("requester",),
    },
    looks_like=has_any_key("operation", "remoteip", "bucket", "requester"),
)
