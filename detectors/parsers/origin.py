"""Which account and region a log record belongs to (the lake's p_account_id / p_region).

- S3 server access logs: the account and region that own the logged bucket. S3 writes them into
  the key with the PartitionedPrefix layout `<prefix><account>/<region>/<bucket>/YYYY/MM/DD/<name>`,
  and keys keep that layout when the logs are replicated to a central archive. With the
  SimplePrefix layout the key does not say; Bucketwatch's own regional log buckets are named
  `bucketwatch-access-logs-<account>-<region>`, so their name does. Otherwise: unknown (null).
- CloudTrail: the record's `recipientAccountId` and `awsRegion`; for a record without them, the
  delivery key `AWSLogs/[o-org/]<account>/CloudTrail/<region>/...`.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
_ACCESS_LOG_NAME = r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-Za-z]{8,}"
# <account>/<region>/<bucket>/YYYY/MM/DD/<log object name> at the end of a key or path.
_PARTITIONED = re.compile(
    rf"(?:^|/)(?P<account>\d{{12}})/(?P<region>{_REGION})/[^/]+/\d{{4}}/\d{{2}}/\d{{2}}/{_ACCESS_LOG_NAME}[^/]*$"
)
_OWN_LOG_BUCKET = re.compile(rf"(?:^s3://|/|^)bucketwatch-access-logs-(?P<account>\d{{12}})-(?P<region>{_REGION})/")
_CLOUDTRAIL_KEY = re.compile(
    rf"(?:^|/)AWSLogs/(?:o-[a-z0-9]+/)?(?P<account>\d{{12}})/CloudTrail(?:-Insight)?/(?P<region>{_REGION})/"
)
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION_ONLY = re.compile(rf"^{_REGION}$")


class Origin(NamedTuple):
    account_id: str | None
    region: str | None


UNKNOWN = Origin(None, None)


def access_log_origin(source: str) -> Origin:
    """Owner account and region of the bucket whose access log `source` (key, URL or path) is."""
    match = _PARTITIONED.search(source) or _OWN_LOG_BUCKET.search(source)
    return Origin(match["account"], match["region"]) if match else UNKNOWN


def cloudtrail_key_origin(source: str) -> Origin:
    match = _CLOUDTRAIL_KEY.search(source)
    return Origin(match["account"], match["region"]) if match else UNKNOWN


def cloudtrail_record_origin(record: dict[str, Any], fallback: Origin = UNKNOWN) -> Origin:
    """The record's own recipientAccountId/awsRegion; the delivery key's where it lacks them."""
    account, region = record.get("recipientAccountId"), record.get("awsRegion")
    return Origin(
        account if isinstance(account, str) and _ACCOUNT.match(account) else fallback.account_id,
        region if isinstance(region, str) and _REGION_ONLY.match(region) else fallback.region,
    )
