"""boto3 plumbing for the live source: sessions per account, clients per (service, region).

Kept apart from the collector so the collector reads as "which call fills which field".
Every client uses adaptive retries (client-side rate limiting on throttling) and a connection
pool large enough for the collector's thread pool. An optional custom endpoint (moto,
LocalStack, a VPC endpoint) applies to every service.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

DEFAULT_MAX_ATTEMPTS = 8
_SESSION_LOCKS: weakref.WeakKeyDictionary[boto3.Session, threading.Lock] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def session_lock(session: boto3.Session) -> threading.Lock:
    """The lock for creating clients from `session`: boto3 sessions are not thread-safe (clients
    are), and the caller's session may serve several accounts at once (role assumption, its own
    account), so the lock belongs to the session rather than to one factory."""
    with _GUARD:
        lock = _SESSION_LOCKS.get(session)
        if lock is None:
            lock = _SESSION_LOCKS[session] = threading.Lock()
        return lock


class LiveSourceError(Exception):
    """An account cannot be scanned at all (unknown profile, role not assumable, ListBuckets
    denied, ...); the message says which and why."""


@dataclass
class Account:
    """One account to scan, and how to reach it.

    Either `session` holds ready credentials (a profile, the default chain), or `role_arn` is
    assumed from `via` when the scan reaches this account (concurrently with other accounts, so
    one role that cannot be assumed does not stop the others). With `fallback`, an account whose
    role cannot be assumed is scanned with `via` itself: the caller's own account in an
    organization scan.
    """

    session: boto3.Session | None
    label: str
    role_arn: str | None = None
    via: boto3.Session | None = None
    fallback: bool = False
    account_id: str = ""  # known up front in organization scans; else filled in by the scan
    name: str | None = None  # the organization's name for the account
    access: str = ""  # how it was scanned, for reports: set by `connect`

    def connect(self, endpoint_url: str | None, counter: CallCounter | None = None) -> boto3.Session:
        """The account's session, assuming its role the first time; raises LiveSourceError."""
        if self.session is not None:
            self.access = self.access or self.label
            return self.session
        if self.role_arn is None or self.via is None:
            raise LiveSourceError(f"{self.label}: no credentials")
        self.access = f"role {self.role_arn}"  # also what was tried, when it fails
        try:
            self.session = assume_role(self.via, self.role_arn, endpoint_url, counter=counter)
        except LiveSourceError as exc:
            if not self.fallback:
                raise
            self.session = self.via
            self.access = f"the caller's credentials ({exc})"
        return self.session


class CallCounter:
    """Counts API calls made by every client of one factory (`before-call` events)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def __call__(self, model: Any = None, **_: Any) -> None:
        name = getattr(model, "name", "unknown")
        service = getattr(getattr(model, "service_model", None), "service_name", "s3")
        # S3's own calls bare (as policies.model names them), other services' prefixed:
        # s3control's GetPublicAccessBlock is not the bucket's.
        self.count(name if service == "s3" else f"{service}:{name}")

    def count(self, name: str) -> None:
        """Count a call made by a client this counter does not watch."""
        with self._lock:
            self.counts[name] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())


def _strip_account_host_prefix(account_id: str):
    """s3control puts the account id in the host name ({id}.s3-control...). Against a custom
    endpoint such as moto on 127.0.0.1 that host does not resolve, so drop the prefix."""
    prefix = f"//{account_id}."

    def hook(request: Any, **_: Any) -> None:
        request.url = request.url.replace(prefix, "//", 1)

    return hook


@dataclass
class ClientFactory:
    """Thread-safe cache of clients for one account session."""

    session: boto3.Session
    endpoint_url: str | None = None
    max_pool_connections: int = 50
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    counter: CallCounter = field(default_factory=CallCounter)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    def config(self) -> Config:
        return Config(
            retries={"mode": "adaptive", "max_attempts": self.max_attempts},
            max_pool_connections=self.max_pool_connections,
            connect_timeout=10,
            read_timeout=30,
        )

    def client(self, service: str, region: str | None = None, account_id: str = "") -> Any:
        region = region or self.default_region
        key = (service, region)
        with session_lock(self.session):
            if key not in self._clients:
                client = self.session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url, config=self.config()
                )
                client.meta.events.register("before-call", self.counter)
                if service == "s3control" and self.endpoint_url and account_id:
                    client.meta.events.register("before-sign.s3-control", _strip_account_host_prefix(account_id))
                self._clients[key] = client
            return self._clients[key]

    @property
    def default_region(self) -> str:
        return self.session.region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def resolve_endpoint(endpoint_url: str | None) -> str | None:
    """--endpoint-url wins; else AWS_ENDPOINT_URL (boto3 honours it too, but s3control needs
    to know, to strip the account-id host prefix)."""
    return endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None


def base_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise LiveSourceError(f"AWS profile {profile!r} not found in the AWS config files") from exc


def assume_role(session: boto3.Session, role_arn: str, endpoint_url: str | None,
                session_name: str = "bucketwatch-scan", counter: CallCounter | None = None) -> boto3.Session:
    """A session with the temporary credentials of `role_arn`, assumed from `session`."""
    with session_lock(session):
        sts = session.client("sts", endpoint_url=endpoint_url, config=Config(retries={"mode": "adaptive"}))
    try:
        if counter is not None:
            counter.count("sts:AssumeRole")
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        raise LiveSourceError(f"cannot assume role {role_arn}: {describe_error(exc)}") from exc
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=session.region_name,
    )


def describe_error(exc: Exception) -> str:
    """`AccessDenied: User ... is not authorized ...` (code and AWS's message, one line)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or f"HTTP {exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode')}"
        message = " ".join(str(error.get("Message") or "").split())
        return f"{code}: {message}" if message else code
    return f"{type(exc).__name__}: {exc}"


def accounts_for(profile: str | None, role_arns: list[str] | None, endpoint_url: str | None,
                 region: str | None = None) -> list[Account]:
    """The accounts to scan: the profile's (or default) credentials, or each role (assumed when
    the scan reaches it)."""
    session = base_session(profile, region)
    if not role_arns:
        return [Account(session, f"profile {profile}" if profile else "default credentials")]
    return [Account(None, f"role {arn}", role_arn=arn, via=session, account_id=_role_account(arn)) for arn in role_arns]


def _role_account(role_arn: str) -> str:
    """The account id in a role ARN ("" when it has none: AssumeRole will say what is wrong)."""
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() and len(parts[4]) == 12 else ""
