"""Helpers shared by Bucketwatch's built-in rules (importable by user packs too).

`s3_access(event)` gives one view of an S3 request whether it came from a server access log
or a CloudTrail data event, so each tutorial detection is one rule covering both log types.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from panther_base_helpers import pattern_match

from detectors import config as _config
from detectors import logtypes as _logtypes
from detectors.common.organization import OrganizationSettings
from detectors.engine.declared import Condition, Declared, holds, where  # noqa: F401  (re-exported for rules)
from detectors.engine.vector import (  # noqa: F401  (re-exported for rules)
    blank,
    column_ci,
    joined,
    matched,
    outside_networks,
    rows_where,
    starts,
    take_sorted,
    text,
)

CLOUDTRAIL = "AWS.CloudTrail"
S3_ACCESS = "AWS.S3ServerAccess"

# REST.<VERB>.<RESOURCE> in access logs -> CloudTrail eventName, for the object calls rules use.
ACCESS_LOG_OPERATIONS = {
    "REST.GET.OBJECT": "GetObject",
    "REST.HEAD.OBJECT": "HeadObject",
    "REST.PUT.OBJECT": "PutObject",
    "REST.POST.OBJECT": "PostObject",
    "REST.COPY.OBJECT": "CopyObject",
    "REST.COPY.OBJECT_GET": "CopyObjectSource",
    "REST.DELETE.OBJECT": "DeleteObject",
    "BATCH.DELETE.OBJECT": "DeleteObject",
    "REST.POST.MULTI_OBJECT_DELETE": "DeleteObjects",
    "REST.POST.UPLOAD": "CompleteMultipartUpload",
    "REST.PUT.PART": "UploadPart",
}
OBJECT_EVENT_NAMES = frozenset({
    "GetObject", "HeadObject", "PutObject", "CopyObject", "DeleteObject", "DeleteObjects",
    "GetObjectAcl", "PutObjectAcl", "GetObjectTagging", "PutObjectTagging", "RestoreObject",
    "CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload",
    "GetObjectAttributes", "SelectObjectContent",
})
# CloudTrail has no HTTP status; these S3 error codes are the 400/403/405 ones.
ERROR_CODE_STATUS = {
    "AccessDenied": 403, "AllAccessDisabled": 403, "InvalidAccessKeyId": 403,
    "SignatureDoesNotMatch": 403, "RequestTimeTooSkewed": 403, "InvalidObjectState": 403,
    "AccountProblem": 403, "InvalidSecurity": 403, "RequestExpired": 400,
    "MethodNotAllowed": 405, "InvalidRequest": 400, "InvalidArgument": 400, "BadDigest": 400,
    "ExpiredToken": 400, "InvalidToken": 400, "IncompleteBody": 400, "AuthorizationHeaderMalformed": 400,
    "InvalidDigest": 400, "MalformedXML": 400, "KeyTooLongError": 400, "EntityTooLarge": 400,
}


@dataclass(frozen=True)
class S3Access:
    """One S3 request, whichever log recorded it."""

    log_type: str
    bucket: str | None
    key: str | None
    principal: str | None
    ip: str | None
    operation: str | None  # CloudTrail-style name, e.g. GetObject
    raw_operation: str | None  # as logged: REST.GET.OBJECT or GetObject
    error: str | None
    http_status: int | None
    tls: bool | None  # None when the record cannot tell
    user_agent: str | None
    internal: bool  # S3's own or another AWS service's request, not a client's
    anonymous: bool = False  # not signed by any AWS identity

    @property
    def object_call(self) -> bool:
        return self.operation in OBJECT_EVENT_NAMES

    @property
    def principal_label(self) -> str:
        return self.principal or "anonymous"

    @property
    def bucket_label(self) -> str:
        return self.bucket or "<unknown bucket>"


def settings() -> _config.DetectionSettings:
    return _config.active()


def organization() -> OrganizationSettings:
    """The organization the active settings know: its accounts and trusted accounts are not
    external. Unknown (no accounts) unless configured or deployed with one."""
    return settings().organization


def external_account(account: str | None) -> bool:
    """Whether another account (already known to differ from the caller's) counts as external:
    outside the organization and its trusted accounts; any account when the organization is
    unknown, as before organizations were known."""
    if not account:
        return False
    outside = organization().is_external(account)
    return True if outside is None else outside


_TRAIL_BUCKETS_SEEN: dict[int, tuple[Any, set[str]]] = {}


def _trail_buckets_seen() -> set[str]:
    """Trail buckets learnt from events during this run (one set per active settings object:
    each `detect`, Lambda invocation and rule test starts with its own)."""
    current = settings()
    slot = _TRAIL_BUCKETS_SEEN.get(id(current))
    if slot is None or slot[0] is not current:
        if len(_TRAIL_BUCKETS_SEEN) > 64:
            _TRAIL_BUCKETS_SEEN.clear()
        slot = (current, set())
        _TRAIL_BUCKETS_SEEN[id(current)] = slot
    return slot[1]


def note_trail_bucket(event: Mapping[str, Any]) -> str | None:
    """Learn from a CloudTrail record which bucket holds trail logs: the bucket a successful
    CreateTrail/UpdateTrail names, and the bucket the record's own log file was read from."""
    found = []
    if event.get("eventSource") == "cloudtrail.amazonaws.com" and event.get("eventName") in (
            "CreateTrail", "UpdateTrail") and not event.get("errorCode"):
        params = event.get("requestParameters") or {}
        response = event.get("responseElements") or {}
        found.append(params.get("s3BucketName") or response.get("s3BucketName"))
    source = str(event.get("p_source") or "")
    if source.startswith("s3://"):
        found.append(source[5:].split("/", 1)[0])
    seen = _trail_buckets_seen()
    seen.update(str(name) for name in found if name)
    return next((str(name) for name in found if name), None)


def cloudtrail_buckets() -> frozenset[str]:
    """Buckets known to hold CloudTrail logs: configured (detections.cloudtrail_buckets), the
    deployed stack's trail bucket, the lake's trails (detectors.baseline.trail_buckets), and
    what `note_trail_bucket` learnt earlier in this run."""
    return frozenset(settings().cloudtrail_buckets) | _trail_buckets_seen()


def is_cloudtrail_bucket(bucket: str | None) -> bool:
    return bool(bucket) and bucket in cloudtrail_buckets()


def s3_access(event: Mapping[str, Any]) -> S3Access | None:
    """The request view of an access-log record or an S3 CloudTrail call (None otherwise: also
    for the events of any other registered log type, which are not S3 requests). An event of an
    unregistered type (a scheduled query's rows) is read as an access-log record.

    Computed once per event and kept in the event's memo: several rules ask for it.
    """
    memo = getattr(event, "memo", None)
    if memo is not None and "s3_access" in memo:
        return memo["s3_access"]
    log_type = getattr(event, "log_type", None) or event.get("p_log_type")
    if log_type == CLOUDTRAIL or (log_type is None and "eventName" in event):
        access = _from_cloudtrail(event)
    elif log_type != S3_ACCESS and log_type in _logtypes.NAMES:
        access = None
    else:
        access = _from_access_log(event)
    if memo is not None:
        memo["s3_access"] = access
    return access


def _same(value: Any) -> Any:
    return value


def _status(value: Any) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _tls(version: Any, cipher: Any, authentication: Any, host: Any) -> bool | None:
    if version or cipher:
        return True
    # '-' in the cipher suite column means plain HTTP, but only lines that have the column can
    # say so: old 18-20 field lines end before it. The later authentication type and host
    # header columns show that the line has it.
    if authentication or host:
        return False
    return None


# Every S3Access field of an access-log record: (its columns, the function of their values). The
# row view below and the vectorized form of declared rules (`s3_match`) both derive from this.
ACCESS_LOG_FIELDS: dict[str, tuple[tuple[str, ...], Any]] = {
    "raw_operation": (("operation",), _same),
    "operation": (("operation",), lambda op: ACCESS_LOG_OPERATIONS.get(op or "")),
    # S3.* operations are S3's own work (lifecycle, replication, delete markers).
    "internal": (("operation",), lambda op: (op or "").startswith("S3.")),
    "object_call": (("operation",), lambda op: pattern_match(op, "REST.*.OBJECT")),
    "bucket": (("bucket",), _same),
    "bucket_label": (("bucket",), lambda bucket: bucket or "<unknown bucket>"),
    "key": (("key",), _same),
    "principal": (("requester",), _same),
    "principal_label": (("requester",), lambda requester: requester or "anonymous"),
    "anonymous": (("requester",), lambda requester: not requester),
    "ip": (("remoteip",), _same),
    "error": (("errorcode",), _same),
    "http_status": (("httpstatus",), _status),
    "tls": (("tlsVersion", "ciphersuite", "authenticationtype", "hostheader"), _tls),
    "user_agent": (("useragent",), _same),
}


class _AccessLogRequest:
    """S3Access for an access-log record, reading each field only when a rule asks for it
    (most rules look at three or four of them, on every candidate row)."""

    log_type = S3_ACCESS

    def __init__(self, event: Mapping[str, Any]) -> None:
        self._event = event

    def __getattr__(self, name: str) -> Any:
        derivation = ACCESS_LOG_FIELDS.get(name)
        if derivation is None:
            raise AttributeError(name)
        columns, derive = derivation
        value = self.__dict__[name] = derive(*(self._event.get(column) for column in columns))
        return value


def _from_access_log(event: Mapping[str, Any]) -> S3Access:
    return _AccessLogRequest(event)  # type: ignore[return-value]  (same attributes, read lazily)


def _from_cloudtrail(event: Mapping[str, Any]) -> S3Access | None:
    if event.get("eventSource") != "s3.amazonaws.com":
        return None
    params = event.get("requestParameters") or {}
    identity = event.get("userIdentity") or {}
    error = event.get("errorCode") or None
    source_ip = event.get("sourceIPAddress")
    return S3Access(
        log_type=CLOUDTRAIL,
        bucket=params.get("bucketName"),
        key=params.get("key"),
        principal=identity.get("arn"),
        ip=source_ip,
        operation=event.get("eventName"),
        raw_operation=event.get("eventName"),
        error=error,
        http_status=(ERROR_CODE_STATUS.get(error) if error else 200),
        tls=_cloudtrail_tls(event),
        user_agent=event.get("userAgent"),
        internal=identity.get("type") == "AWSService" or not _looks_like_ip(source_ip),
        # CloudTrail records anonymous callers with this placeholder account id.
        anonymous=identity.get("accountId") == "ANONYMOUS_PRINCIPAL",
    )


def _cloudtrail_tls(event: Mapping[str, Any]) -> bool | None:
    """True when the record shows TLS (tlsDetails, or S3's CipherSuite); otherwise unknown, never
    False: CloudTrail leaves tlsDetails out for plain HTTP, for services that do not report it and
    in records older than eventVersion 1.08 alike, so its absence proves nothing."""
    details = event.get("tlsDetails")
    if isinstance(details, Mapping) and details.get("tlsVersion"):
        return True
    extra = event.get("additionalEventData")
    if isinstance(extra, Mapping) and (extra.get("CipherSuite") or extra.get("cipherSuite")):
        return True
    return None


@lru_cache(maxsize=65536)
def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _looks_like_ip(value: str | None) -> bool:
    return bool(value) and _parse_ip(value) is not None


@lru_cache(maxsize=65536)
def is_public_ip(value: str | None) -> bool:
    """A routable internet address (not private, loopback, link-local, reserved)."""
    ip = _parse_ip(value) if value else None
    return bool(ip and ip.is_global)


def _ip_int(address: str) -> tuple[int, int] | None:
    """(version, integer) of an address; inet_pton is ~10x faster than ipaddress for this."""
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big")
    except OSError:
        pass
    try:
        return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, address), "big")
    except OSError:
        return None


class NetworkSet:
    """CIDR networks with a membership cache: busy client addresses repeat all day."""

    __slots__ = ("_cache", "_masks", "networks")

    def __init__(self, networks: Iterable[Any]) -> None:
        self.networks = tuple(networks)
        self._masks = [(n.version, int(n.network_address), int(n.netmask)) for n in self.networks]
        self._cache: dict[str, bool] = {}

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, str) or not ip:
            return False
        hit = self._cache.get(ip)
        if hit is None:
            parsed = _ip_int(ip)
            hit = parsed is not None and any(
                version == parsed[0] and parsed[1] & mask == network for version, network, mask in self._masks)
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[ip] = hit
        return hit


def ip_in_networks(ip: str | None, networks: Iterable[Any]) -> bool:
    nets = networks if isinstance(networks, NetworkSet) else NetworkSet(networks)
    return ip in nets


_PER_SETTINGS: dict[tuple[int, str, str], tuple[Any, Any]] = {}


def cached_for_settings(kind: str, key: str, compute: Any) -> Any:
    """`compute()` once per (active settings, kind, key); settings change only between runs."""
    current = settings()
    slot = (id(current), kind, key)
    hit = _PER_SETTINGS.get(slot)
    if hit is not None and hit[0] is current:
        return hit[1]
    if len(_PER_SETTINGS) > 100_000:
        _PER_SETTINGS.clear()
    value = compute()
    _PER_SETTINGS[slot] = (current, value)
    return value


def any_glob(value: str | None, patterns: Iterable[str]) -> bool:
    return value is not None and any(pattern_match(value, p) for p in patterns)


def principal_label(access: S3Access) -> str:
    return access.principal or "anonymous"


def s3_match(*conditions: Condition, dedup: tuple[str, ...]) -> Declared:
    """A rule over S3 requests declared once (detectors.engine.declared): conditions on S3Access
    fields give `rule(event)` for access logs and CloudTrail alike, and the exact vectorized
    `match_table` for access-log batches; `dedup` names the fields joined by ':'."""
    return Declared(*conditions, dedup=dedup, view=s3_access, columns={S3_ACCESS: ACCESS_LOG_FIELDS})


def s3_call_succeeded(event: Mapping[str, Any], *event_names: str) -> bool:
    """A successful S3 API call with one of `event_names`, as CloudTrail recorded it."""
    return (event.get("eventSource") == "s3.amazonaws.com"
            and event.get("eventName") in event_names
            and not (event.get("errorCode") or event.get("errorMessage")))


def actor(event: Mapping[str, Any]) -> str:
    """Who made a CloudTrail call: the identity ARN, else the data model's actor_user."""
    arn = (event.get("userIdentity") or {}).get("arn")
    if arn:
        return arn
    udm = getattr(event, "udm", None)
    return (udm("actor_user") if udm else None) or "<unknown actor>"


def bucket_name(event: Mapping[str, Any]) -> str:
    return (event.get("requestParameters") or {}).get("bucketName") or "<unknown bucket>"


def bucket_account(event: Any) -> str | None:
    """The account owning the bucket a CloudTrail call changed: the bucket resource's account,
    else the account that recorded the event, else the caller's."""
    for resource in event.get("resources") or ():
        if hasattr(resource, "get") and resource.get("type") == "AWS::S3::Bucket" and resource.get("accountId"):
            return resource.get("accountId")
    return event.get("recipientAccountId") or event.deep_get("userIdentity", "accountId")


def bucket_change_context(event: Mapping[str, Any]) -> dict[str, Any]:
    """Alert context for bucket configuration changes made through CloudTrail-logged calls."""
    from panther_aws_helpers import aws_rule_context

    context = aws_rule_context(event)
    context["bucketName"] = bucket_name(event)
    return context


def logging_disabled(event: Mapping[str, Any]) -> bool:
    """PutBucketLogging with a BucketLoggingStatus that has no LoggingEnabled: logging turned off."""
    if not s3_call_succeeded(event, "PutBucketLogging"):
        return False
    status = (event.get("requestParameters") or {}).get("BucketLoggingStatus")
    return isinstance(status, Mapping) and "LoggingEnabled" not in status


def _versioning(event: Mapping[str, Any]) -> Mapping[str, Any]:
    if not s3_call_succeeded(event, "PutBucketVersioning"):
        return {}
    config = (event.get("requestParameters") or {}).get("VersioningConfiguration")
    return config if isinstance(config, Mapping) else {}


def versioning_suspended(event: Mapping[str, Any]) -> bool:
    return _versioning(event).get("Status") in ("Suspended", "Disabled")


def mfa_delete_disabled(event: Mapping[str, Any]) -> bool:
    return _versioning(event).get("MfaDelete") == "Disabled"
