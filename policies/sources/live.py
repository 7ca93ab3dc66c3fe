"""The live source: bucket, trail and account resources built from the AWS APIs with boto3.

Accounts are scanned concurrently (a few at a time, each by a driver thread that assumes the
account's role and hands its calls to the shared pool), so one account whose role cannot be
assumed, or whose ListBuckets is denied, becomes an account resource marked unknown with the
reason while the others are scanned; only when no account at all can be scanned is it an error.

Per account: ListBuckets (which names each bucket's region on AWS; else one listing per region,
or GetBucketLocation per bucket), then the per-bucket calls (``BUCKET_CALLS``) sent to the
bucket's own region, all through one thread pool; a call whose answer another call's answer
already decides is not made (``policies.sources.live_decided``: the fields get that certain
value and the bucket's ``Decided`` map says why). The account's public access block (s3control)
and its trails (DescribeTrails / GetEventSelectors / GetTrailStatus) are collected in the same
pool. Finally each bucket gets two derived fields: the
state of the bucket receiving its access logs (``LoggingTarget``) and the trails that record its
data events (``CoveringTrails``). The account itself is one ``AWS.Account`` resource carrying
the account-level settings (account Block Public Access), judged once per account; each bucket
still carries them too, for policies that need the account's setting for an effective answer.

Outcomes of a call:
- it answered: the fields it fills get their values;
- it answered "not configured" (NoSuchBucketPolicy, ...): the fields are ``None``;
- it was denied or failed: ONLY the fields it fills are marked unknown with the API named
  (``GetBucketPolicy denied: AccessDenied``), so a policy reading them says UNKNOWN, never FAIL.
"""

from __future__ import annotations

import fnmatch
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from policies.model import (
    ACCOUNT_FIELDS,
    BUCKET_FIELDS,
    BUCKET_RESOURCE_TYPE,
    NOT_APPLICABLE,
    TRAIL_RESOURCE_TYPE,
    UNKNOWN,
    mark_unknown,
    new_account,
    new_bucket,
)
from policies.sources.live_clients import (
    DEFAULT_MAX_ATTEMPTS,
    Account,
    CallCounter,
    ClientFactory,
    LiveSourceError,
    session_lock,
)
from policies.sources.live_decided import DECIDED, SKIP_RULES, AccountFacts, apply_decision
from policies.sources.live_trails import selectors_coverage, trail_reaches_region

DEFAULT_WORKERS = 32
# ListBuckets page size: AWS's maximum. A paginated request (one naming MaxBuckets) is also what
# makes AWS include each bucket's BucketRegion in the answer.
LIST_PAGE = 10000
# Accounts whose collection runs at once. Their API calls all go through the one worker pool;
# a driver only assumes the role, lists the buckets and waits, so a few keep the pool busy.
ACCOUNT_DRIVERS = 8

DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "AllAccessDisabled", "UnauthorizedOperation",
    "UnauthorizedAccess", "InvalidAccessKeyId", "InvalidClientTokenId", "ExpiredToken",
    "ExpiredTokenException", "SignatureDoesNotMatch", "MethodNotAllowed",
})


@dataclass(frozen=True)
class BucketCall:
    """One per-bucket S3 call: what it is named in AWS, and how its answer fills fields."""

    api: str
    method: str
    parse: Callable[[dict[str, Any]], dict[str, Any]]
    not_configured: frozenset[str] = frozenset()

    @property
    def fields(self) -> tuple[str, ...]:
        # The contract in policies.model says which call fills which field.
        return tuple(name for name, api in BUCKET_FIELDS.items() if api == self.api)


def jsonable(value: Any) -> Any:
    """API answers with datetimes turned into ISO strings, so resources serialize as JSON."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def region_of(location_constraint: str | None) -> str:
    # GetBucketLocation answers null for us-east-1 and the legacy "EU" for eu-west-1.
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location_constraint, location_constraint)


def _location(resp: dict[str, Any]) -> dict[str, Any]:
    region = region_of(resp.get("LocationConstraint"))
    return {"Region": region, "Location": region}


def _encryption(resp: dict[str, Any]) -> dict[str, Any]:
    rules = []
    for rule in resp.get("ServerSideEncryptionConfiguration", {}).get("Rules", []):
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        rules.append({
            **rule,
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": default.get("SSEAlgorithm"),
                "KMSMasterKeyID": default.get("KMSMasterKeyID"),
            },
        })
    return {"EncryptionRules": rules}


def _versioning(resp: dict[str, Any]) -> dict[str, Any]:
    return {"Versioning": resp.get("Status"), "MFADelete": resp.get("MFADelete")}


def _grantee(grantee: dict[str, Any]) -> dict[str, Any]:
    keys = ("DisplayName", "EmailAddress", "ID", "Type", "URI")
    return {key: grantee.get(key) for key in keys}


def _acl(resp: dict[str, Any]) -> dict[str, Any]:
    grants = [{"Grantee": _grantee(g.get("Grantee", {})), "Permission": g.get("Permission")}
              for g in resp.get("Grants", [])]
    return {"Owner": resp.get("Owner"), "Grants": grants}


def _tags(resp: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": {tag["Key"]: tag["Value"] for tag in resp.get("TagSet", [])}}


def _object_lock(resp: dict[str, Any]) -> dict[str, Any]:
    config = resp.get("ObjectLockConfiguration") or {}
    return {"ObjectLockConfiguration": {"ObjectLockEnabled": config.get("ObjectLockEnabled"),
                                        "Rule": config.get("Rule")}}


LOCATION_CALL = BucketCall("GetBucketLocation", "get_bucket_location", _location)
BUCKET_CALLS: tuple[BucketCall, ...] = (
    BucketCall("GetBucketEncryption", "get_bucket_encryption", _encryption,
               frozenset({"ServerSideEncryptionConfigurationNotFoundError"})),
    BucketCall("GetBucketLogging", "get_bucket_logging", lambda r: {"LoggingPolicy": r.get("LoggingEnabled")}),
    BucketCall("GetBucketVersioning", "get_bucket_versioning", _versioning),
    BucketCall("GetPublicAccessBlock", "get_public_access_block",
               lambda r: {"PublicAccessBlockConfiguration": r.get("PublicAccessBlockConfiguration")},
               frozenset({"NoSuchPublicAccessBlockConfiguration"})),
    BucketCall("GetBucketAcl", "get_bucket_acl", _acl),
    BucketCall("GetBucketPolicy", "get_bucket_policy", lambda r: {"Policy": r.get("Policy")},
               frozenset({"NoSuchBucketPolicy"})),
    BucketCall("GetBucketPolicyStatus", "get_bucket_policy_status",
               lambda r: {"PolicyStatus": r.get("PolicyStatus")}, frozenset({"NoSuchBucketPolicy"})),
    BucketCall("GetBucketOwnershipControls", "get_bucket_ownership_controls",
               lambda r: {"OwnershipControls": r.get("OwnershipControls")},
               frozenset({"OwnershipControlsNotFoundError"})),
    BucketCall("GetObjectLockConfiguration", "get_object_lock_configuration", _object_lock,
               frozenset({"ObjectLockConfigurationNotFoundError"})),
    BucketCall("GetBucketTagging", "get_bucket_tagging", _tags, frozenset({"NoSuchTagSet"})),
    BucketCall("GetBucketLifecycleConfiguration", "get_bucket_lifecycle_configuration",
               lambda r: {"LifecycleRules": r.get("Rules")}, frozenset({"NoSuchLifecycleConfiguration"})),
)
# What a logging target needs (its own location is fetched first).
TARGET_CALLS = tuple(c for c in BUCKET_CALLS if c.api in ("GetBucketEncryption", "GetObjectLockConfiguration"))


def failure_reason(api: str, exc: Exception) -> str:
    """`GetBucketPolicy denied: AccessDenied` / `GetBucketTagging failed: InternalError ...`."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code") or ""
        if not code or code == "Unknown" or code.isdigit():  # an error body without a code
            code = f"HTTP {status}" if status else "no error code"
        verb = "denied" if code in DENIED_CODES or status == 403 else "failed"
        return f"{api} {verb}: {code}"
    return f"{api} failed: {type(exc).__name__}: {exc}"


def error_code(exc: Exception) -> str | None:
    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


def call_api(client: Any, api: str, method: str, not_configured: frozenset[str] = frozenset(),
             **kwargs: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(answer, None) when answered; (None, None) when "not configured"; (None, reason) else."""
    try:
        return jsonable(getattr(client, method)(**kwargs)), None
    except (ClientError, BotoCoreError) as exc:
        if error_code(exc) in not_configured:
            return None, None
        return None, failure_reason(api, exc)


def apply_call(resource: dict[str, Any], call: BucketCall, client: Any) -> str | None:
    """Run one per-bucket call and set (or mark unknown) exactly the fields it fills; returns the
    error code when the call was not answered (None when it was, "not configured" included)."""
    try:
        answer = jsonable(getattr(client, call.method)(Bucket=resource["Name"]))
    except (ClientError, BotoCoreError) as exc:
        code = error_code(exc)
        if code not in call.not_configured:
            mark_unknown(resource, call.fields, failure_reason(call.api, exc))
            return code or "failed"
        answer = None
    values = call.parse(answer) if answer is not None else dict.fromkeys(call.fields)
    for name in call.fields:
        resource[name] = values.get(name)
    return None


@dataclass
class AccountScan:
    """What scanning one account came to: how it was reached, what it held, what it cost."""

    account_id: str
    name: str | None = None
    access: str = ""  # "role arn:...", "default credentials", "the caller's credentials (...)"
    error: str | None = None  # why it could not be scanned at all
    buckets: int = 0
    trails: int = 0
    api_calls: int = 0
    calls: Counter[str] = field(default_factory=Counter)  # by API ("GetBucketAcl", "sts:AssumeRole")
    decided: Counter[str] = field(default_factory=Counter)  # calls not made: their answer was decided

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id or None, "name": self.name, "access": self.access,
                "error": self.error, "buckets": self.buckets, "trails": self.trails, "api_calls": self.api_calls}


@dataclass
class ScanStats:
    accounts: int = 0  # scanned
    buckets: int = 0
    trails: int = 0
    api_calls: int = 0  # every call, the organization's listing included
    per_account: list[AccountScan] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)  # the accounts' calls by API
    decided: Counter[str] = field(default_factory=Counter)  # calls not made, by API

    @property
    def not_scanned(self) -> list[AccountScan]:
        return [a for a in self.per_account if a.error]


@dataclass
class AccountCollector:
    """Collects one account's buckets and trails through a shared thread pool."""

    factory: ClientFactory
    pool: ThreadPoolExecutor
    regions: list[str] | None = None
    bucket_globs: list[str] | None = None
    on_bucket: Callable[[int], None] | None = None
    account_id: str = ""  # expected (organization scans) or found by `identify`
    account_name: str | None = None
    partition: str = "aws"
    # Skip calls whose answer another answer already decides (policies.sources.live_decided),
    # and take regions from ListBuckets; False makes every call for every bucket.
    skip_decided: bool = True
    facts: AccountFacts = field(default_factory=AccountFacts)
    decided: Counter[str] = field(default_factory=Counter)
    bucket_regions: dict[str, str] = field(default_factory=dict)  # from ListBuckets' answers
    gone: set[str] = field(default_factory=set)  # buckets answering NoSuchBucket: deleted meanwhile
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- account-wide ---------------------------------------------------------------------
    def identify(self) -> None:
        sts = self.factory.client("sts")
        try:
            arn = sts.get_caller_identity()["Arn"]
        except (ClientError, BotoCoreError) as exc:
            raise LiveSourceError(f"cannot identify the account: {failure_reason('sts:GetCallerIdentity', exc)}") from exc
        partition, found = arn.split(":")[1], arn.split(":")[4]
        if self.account_id and found != self.account_id:
            # Never judge one account's buckets under another account's id.
            raise LiveSourceError(f"the credentials for account {self.account_id} act in account {found} ({arn})")
        self.partition, self.account_id = partition, found

    def list_buckets(self) -> list[dict[str, Any]]:
        """Every bucket, paginated (AWS then names each bucket's BucketRegion)."""
        try:
            listed = self._list(None)
        except (ClientError, BotoCoreError) as exc:
            raise LiveSourceError(f"account {self.account_id}: {failure_reason('ListBuckets', exc)}") from exc
        self.bucket_regions.update({b["Name"]: b["BucketRegion"] for b in listed if b.get("BucketRegion")})
        return listed

    def _list(self, region: str | None) -> list[dict[str, Any]]:
        """ListBuckets' every page; with `region`, only the buckets AWS says are located there."""
        where = {"BucketRegion": region} if region else {}
        pages = self.factory.client("s3").get_paginator("list_buckets").paginate(
            **where, PaginationConfig={"PageSize": LIST_PAGE})
        return [b for page in pages for b in page.get("Buckets", [])]

    def _list_region(self, region: str) -> tuple[str, set[str] | None]:
        try:
            return region, {b["Name"] for b in self._list(region)}
        except (ClientError, BotoCoreError):
            return region, None  # GetBucketLocation will tell, bucket by bucket

    def account_public_access_block(self) -> tuple[dict[str, Any] | None, str | None]:
        client = self.factory.client("s3control", account_id=self.account_id)
        answer, reason = call_api(client, "s3control:GetPublicAccessBlock", "get_public_access_block",
                                  frozenset({"NoSuchPublicAccessBlockConfiguration"}), AccountId=self.account_id)
        return (answer or {}).get("PublicAccessBlockConfiguration"), reason

    # -- buckets --------------------------------------------------------------------------
    def selected(self, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.bucket_globs:
            return listed
        return [b for b in listed if any(fnmatch.fnmatchcase(b["Name"], g) for g in self.bucket_globs)]

    def new_resource(self, listed: dict[str, Any]) -> dict[str, Any]:
        arn = f"arn:{self.partition}:s3:::{listed['Name']}"
        created = listed.get("CreationDate")
        return new_bucket(listed["Name"], Arn=arn, ResourceId=arn, AccountId=self.account_id,
                          CreationDate=jsonable(created))

    def _locate(self, resource: dict[str, Any]) -> bool:
        """Fill Region/Location (or mark them unknown); False when the bucket no longer exists."""
        answer, reason = call_api(self.factory.client("s3"), LOCATION_CALL.api, LOCATION_CALL.method,
                                  frozenset({"NoSuchBucket"}), Bucket=resource["Name"])
        if reason:
            mark_unknown(resource, LOCATION_CALL.fields, reason)
        elif answer is None:
            return False
        else:
            resource.update(LOCATION_CALL.parse(answer))
        return True

    def locate(self, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Fill every bucket's Region; a bucket deleted since ListBuckets (NoSuchBucket) is dropped.

        Skipping, the region comes from ListBuckets' BucketRegion (AWS names it in paginated
        answers). Endpoints that leave it out (moto, older S3-compatible ones) are asked per region
        instead (ListBuckets with BucketRegion=<region>: the buckets located there), when that is
        fewer calls than one GetBucketLocation per bucket; a bucket no listing names is located
        with GetBucketLocation. With a region filter, only its regions are listed, and a bucket
        none of them names is certainly elsewhere: out of scope.
        """
        if not self.skip_decided:
            return self._locate_each(resources)
        unlocated = [r for r in resources if r["Name"] not in self.bucket_regions]
        candidates = self.candidate_regions() if unlocated else []
        complete = False
        if len(unlocated) > len(candidates):
            listings = [f.result() for f in [self.pool.submit(self._list_region, r) for r in candidates]]
            complete = all(names is not None for _, names in listings)
            for region, names in listings:
                self.bucket_regions.update(dict.fromkeys(names or (), region))
        ask, keep = [], []
        for resource in resources:
            region = self.bucket_regions.get(resource["Name"])
            if region:
                resource.update(Region=region, Location=region)
                resource.setdefault(DECIDED, {}).update(dict.fromkeys(
                    LOCATION_CALL.fields, "GetBucketLocation not called: ListBuckets named the bucket's region"))
                keep.append(resource)
            elif not (complete and self.regions):
                ask.append(resource)
        return keep + self._locate_each(ask)

    def candidate_regions(self) -> list[str]:
        """The regions a bucket may be in: the filter's, else every S3 region botocore knows."""
        if self.regions:
            return list(self.regions)
        with session_lock(self.factory.session):  # sessions are not thread-safe
            return list(self.factory.session.get_available_regions("s3", self.partition))

    def _locate_each(self, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        futures = [self.pool.submit(self._locate, r) for r in resources]
        return [r for r, future in zip(resources, futures, strict=True) if future.result()]

    def in_scope(self, resource: dict[str, Any]) -> bool:
        # A bucket whose region could not be read stays in: dropping it would hide it.
        return not self.regions or resource.get("Region") is None or resource["Region"] in self.regions

    def lanes(self, calls: tuple[BucketCall, ...]) -> list[tuple[BucketCall, tuple[BucketCall, ...]]]:
        """Each call that needs no other answer first, with the calls its answer may decide (run
        by the same worker right after it); with skipping off, every call alone."""
        apis = {call.api for call in calls}
        rules = {api: rule for api, rule in SKIP_RULES.items() if self.skip_decided and rule.after in apis}
        return [(call, tuple(c for c in calls if c.api in rules and rules[c.api].after == call.api))
                for call in calls if call.api not in rules]

    def describe(self, resources: list[dict[str, Any]], calls: Iterable[BucketCall] = BUCKET_CALLS,
                 report: bool = True) -> list[Future]:
        """Submit every bucket's calls, each to the bucket's region; return the futures."""
        lanes = self.lanes(tuple(calls))
        remaining = {id(r): len(lanes) for r in resources}
        futures = []
        for resource in resources:
            client = self.factory.client("s3", resource.get("Region"))

            def task(lane: tuple[BucketCall, tuple[BucketCall, ...]], resource: dict[str, Any] = resource,
                     client: Any = client) -> None:
                self.run_lane(resource, client, *lane)
                if report and self.on_bucket:
                    with self._lock:
                        remaining[id(resource)] -= 1
                        done = remaining[id(resource)] == 0
                    if done:
                        self.on_bucket(1)

            futures.extend(self.pool.submit(task, lane) for lane in lanes)
        return futures

    def run_lane(self, resource: dict[str, Any], client: Any, first: BucketCall,
                 dependents: tuple[BucketCall, ...]) -> None:
        """`first`, then each dependent call unless `first`'s answer decided its fields."""
        self.fetch(resource, first, client)
        for call in dependents:
            decision = SKIP_RULES[call.api].decide(resource, self.facts)
            if decision is None:
                self.fetch(resource, call, client)
                continue
            apply_decision(resource, decision)
            with self._lock:
                self.decided[call.api] += 1

    def fetch(self, resource: dict[str, Any], call: BucketCall, client: Any) -> None:
        code = apply_call(resource, call, client)
        if code == "NoSuchBucket":
            with self._lock:
                self.gone.add(resource["Name"])
        elif code is None and call.api == "GetBucketAcl":
            self.facts.learn_acl(resource.get("Region"), resource.get("Owner"), resource.get("Grants"))

    # -- trails ---------------------------------------------------------------------------
    def trails(self, regions: Iterable[str]) -> tuple[list[dict[str, Any]], str | None]:
        """The account's trails visible from `regions` (shadow copies folded), or a reason."""
        found: dict[str, dict[str, Any]] = {}
        for region in sorted(set(regions)):
            client = self.factory.client("cloudtrail", region)
            answer, reason = call_api(client, "cloudtrail:DescribeTrails", "describe_trails", includeShadowTrails=True)
            if reason:
                return [], f"{reason} (region {region})"
            for trail in answer.get("trailList", []):
                found.setdefault(trail["TrailARN"], trail)
        resources = [self.trail_resource(t) for t in found.values()]
        # Inline, not in the pool: this already runs in a pool thread, and an account has few
        # trails; waiting on the pool from inside it could deadlock a one-worker pool.
        for trail in resources:
            self.trail_details(trail)
        return resources, None

    def trail_resource(self, trail: dict[str, Any]) -> dict[str, Any]:
        return {
            "ResourceType": TRAIL_RESOURCE_TYPE, UNKNOWN: {}, NOT_APPLICABLE: {},
            **trail,
            "Arn": trail["TrailARN"], "ResourceId": trail["TrailARN"], "Region": trail.get("HomeRegion"),
            "AccountId": trail["TrailARN"].split(":")[4],
            "KmsKeyId": trail.get("KmsKeyId"), "LogFileValidationEnabled": trail.get("LogFileValidationEnabled", False),
            "IsMultiRegionTrail": trail.get("IsMultiRegionTrail", False),
        }

    def trail_details(self, trail: dict[str, Any]) -> None:
        client = self.factory.client("cloudtrail", trail.get("HomeRegion"))
        selectors, reason = call_api(client, "cloudtrail:GetEventSelectors", "get_event_selectors",
                                     TrailName=trail["TrailARN"])
        if reason:
            mark_unknown(trail, ["EventSelectors", "AdvancedEventSelectors"], reason)
        else:
            trail["EventSelectors"] = selectors.get("EventSelectors") or []
            trail["AdvancedEventSelectors"] = selectors.get("AdvancedEventSelectors") or []
        status, reason = call_api(client, "cloudtrail:GetTrailStatus", "get_trail_status", Name=trail["TrailARN"])
        if reason:
            mark_unknown(trail, "Status", reason)
        else:
            trail["Status"] = status

    # -- derived fields -------------------------------------------------------------------
    def covering_trails(self, bucket: dict[str, Any], trails: list[dict[str, Any]],
                        trails_reason: str | None) -> None:
        if trails_reason:
            mark_unknown(bucket, "CoveringTrails", trails_reason)
            return
        covering, doubts = [], []
        region = bucket.get("Region")
        for trail in trails:
            trail_unknown = trail.get(UNKNOWN) or {}
            if "EventSelectors" in trail_unknown:
                doubts.append(f"trail {trail['Name']}: {trail_unknown['EventSelectors']}")
                continue
            read, write = selectors_coverage(trail["EventSelectors"], trail["AdvancedEventSelectors"], bucket["Name"])
            if not (read or write):
                continue
            if region is None and not trail.get("IsMultiRegionTrail"):
                doubts.append(f"trail {trail['Name']} is single-region and the bucket's region is unknown")
            elif trail_reaches_region(trail, region):
                if "Status" in trail_unknown:
                    doubts.append(f"trail {trail['Name']}: {trail_unknown['Status']}")
                covering.append({**trail, "Coverage": {"Read": read, "Write": write}})
        if doubts:
            mark_unknown(bucket, "CoveringTrails", "; ".join(doubts))
        else:
            bucket["CoveringTrails"] = covering

    def logging_targets(self, buckets: list[dict[str, Any]]) -> None:
        """Fill LoggingTarget, describing targets outside the scan (filtered out, or elsewhere)."""
        by_name = {b["Name"]: b for b in buckets}
        wanted = {b["LoggingPolicy"]["TargetBucket"] for b in buckets
                  if isinstance(b.get("LoggingPolicy"), dict) and b["LoggingPolicy"].get("TargetBucket")}
        extra = [new_bucket(name) for name in sorted(wanted - set(by_name))]
        for target in extra:
            region = self.bucket_regions.get(target["Name"]) if self.skip_decided else None
            if region:  # listed, though not in scope: ListBuckets named its region
                target.update(Region=region, Location=region, Exists=True)
            else:
                target["Exists"] = self._locate(target)
        located = [t for t in extra if t["Exists"] and "Region" not in t[UNKNOWN]]
        self._wait_all(self.describe(located, TARGET_CALLS, report=False))
        for target in extra:
            if not target["Exists"] or target["Name"] in self.gone:
                target.update(Exists=False, Region=None, EncryptionRules=None, ObjectLockConfiguration=None)
                target[UNKNOWN].clear()
        by_name.update({t["Name"]: t for t in extra})
        for bucket in buckets:
            self._set_logging_target(bucket, by_name)

    @staticmethod
    def _set_logging_target(bucket: dict[str, Any], by_name: dict[str, dict[str, Any]]) -> None:
        if "LoggingPolicy" in bucket[UNKNOWN]:
            mark_unknown(bucket, "LoggingTarget", bucket[UNKNOWN]["LoggingPolicy"])
            return
        policy = bucket.get("LoggingPolicy")
        if not policy:
            bucket["LoggingTarget"] = None
            return
        target = by_name[policy["TargetBucket"]]
        keys = ("Region", "EncryptionRules", "ObjectLockConfiguration")
        doubts = [f"target bucket {target['Name']}: {k}: {target[UNKNOWN][k]}" for k in keys if k in target[UNKNOWN]]
        if doubts:
            mark_unknown(bucket, "LoggingTarget", "; ".join(doubts))
            return
        bucket["LoggingTarget"] = {"Name": target["Name"], "Exists": target.get("Exists", True),
                                   **{k: target.get(k) for k in keys}}

    # -- driver ---------------------------------------------------------------------------
    @staticmethod
    def _wait_all(futures: list[Future]) -> None:
        wait(futures)
        for future in futures:
            future.result()  # re-raise anything unexpected from a worker

    def collect(self) -> list[dict[str, Any]]:
        """The account's buckets, its trails, and the account itself (when it is in scope)."""
        self.identify()
        listed = self.list_buckets()
        buckets = self.locate([self.new_resource(b) for b in self.selected(listed)])
        buckets = [b for b in buckets if self.in_scope(b)]
        trail_regions = self.regions or {b["Region"] for b in buckets if b.get("Region")} | {self.factory.default_region}
        account_pab = self.pool.submit(self.account_public_access_block)
        trails_future = self.pool.submit(self.trails, trail_regions)
        self._wait_all(self.describe(buckets))
        buckets = [b for b in buckets if b["Name"] not in self.gone]  # deleted during the scan
        self.logging_targets(buckets)
        pab, pab_reason = account_pab.result()
        trails, trails_reason = trails_future.result()
        account = new_account(self.account_id, AccountName=self.account_name, Partition=self.partition)
        for resource in (account, *buckets):
            if pab_reason:
                mark_unknown(resource, "AccountPublicAccessBlock", pab_reason)
            else:
                resource["AccountPublicAccessBlock"] = pab
        for bucket in buckets:
            self.covering_trails(bucket, trails, trails_reason)
        # With a bucket filter the account is judged with its buckets: not when none is in scope.
        filtered = bool(self.bucket_globs or self.regions)
        return buckets + trails + ([account] if buckets or not filtered else [])


def unreachable_account(account: Account, reason: str) -> dict[str, Any]:
    """The account resource of an account that could not be scanned: every account-level field
    is unknown with the reason (the role and the error), so its policies say UNKNOWN."""
    resource = new_account(account.account_id, AccountName=account.name)
    mark_unknown(resource, [f for f in ACCOUNT_FIELDS if f != "AccountId"], f"account not scanned: {reason}")
    return resource


@dataclass
class _Options:
    """What every account's collection shares."""

    pool: ThreadPoolExecutor
    endpoint_url: str | None
    workers: int
    max_attempts: int
    regions: list[str] | None
    bucket_globs: list[str] | None
    on_bucket: Callable[[int], None] | None
    skip_decided: bool = True


def _scan_account(account: Account, options: _Options) -> tuple[AccountScan, list[dict[str, Any]]]:
    """One account's resources, or its unreachable-account resource; never raises LiveSourceError."""
    counter = CallCounter()
    collector = None
    try:
        session = account.connect(options.endpoint_url, counter)
        factory = ClientFactory(session, options.endpoint_url, max_pool_connections=max(10, options.workers),
                                max_attempts=options.max_attempts, counter=counter)
        collector = AccountCollector(factory, options.pool, regions=options.regions,
                                     bucket_globs=options.bucket_globs, on_bucket=options.on_bucket,
                                     account_id=account.account_id, account_name=account.name,
                                     skip_decided=options.skip_decided)
        found = collector.collect()
    except LiveSourceError as exc:
        account.account_id = account.account_id or (collector.account_id if collector else "")
        scan = AccountScan(account.account_id, account.name, account.access or account.label, error=str(exc),
                           api_calls=counter.total, calls=Counter(counter.counts))
        return scan, [unreachable_account(account, str(exc))] if account.account_id else []
    account.account_id = collector.account_id
    scan = AccountScan(account.account_id, account.name, account.access, api_calls=counter.total,
                       buckets=sum(r["ResourceType"] == BUCKET_RESOURCE_TYPE for r in found),
                       trails=sum(r["ResourceType"] == TRAIL_RESOURCE_TYPE for r in found),
                       calls=Counter(counter.counts), decided=Counter(collector.decided))
    return scan, found


def resource_key(resource: dict[str, Any]) -> str:
    return resource.get("Arn") or resource["ResourceId"]


def collect(accounts: list[Account], *, regions: list[str] | None = None, bucket_globs: list[str] | None = None,
            endpoint_url: str | None = None, workers: int = DEFAULT_WORKERS,
            on_bucket: Callable[[int], None] | None = None, stats: ScanStats | None = None,
            max_attempts: int = DEFAULT_MAX_ATTEMPTS, skip_decided: bool = True,
            require_reachable: bool = True) -> list[dict[str, Any]]:
    """Bucket, trail and account resources of every account, in AWS.S3.Bucket / AWS.CloudTrail /
    AWS.Account shape, in the order the accounts are given.

    A resource seen from several accounts (an organization trail, or one account reached through
    two roles) is reported once, as the first account saw it. An account that cannot be scanned
    is an AWS.Account resource marked unknown (see `unreachable_account`); when no account can be
    scanned at all, LiveSourceError says why (with `require_reachable=False`, even then only the
    unknown AWS.Account resources: a scan of one account whose verdict that is). `skip_decided=False` makes every call for every
    bucket, even those whose answer is already decided (policies.sources.live_decided).
    """
    stats = stats if stats is not None else ScanStats()
    drivers = max(1, min(len(accounts), ACCOUNT_DRIVERS))
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="bucketwatch-live") as pool, \
            ThreadPoolExecutor(max_workers=drivers, thread_name_prefix="bucketwatch-account") as driver_pool:
        options = _Options(pool, endpoint_url, workers, max_attempts, regions, bucket_globs, on_bucket, skip_decided)
        outcomes = list(driver_pool.map(lambda account: _scan_account(account, options), accounts))
    failed = [(account, scan) for account, (scan, _) in zip(accounts, outcomes, strict=True) if scan.error]
    if require_reachable and accounts and len(failed) == len(accounts):
        raise LiveSourceError("; ".join(f"{account.label}: {scan.error}" for account, scan in failed))
    resources: list[dict[str, Any]] = []
    seen: set[str] = set()
    for scan, found in outcomes:
        found = [r for r in found if resource_key(r) not in seen]
        seen.update(resource_key(r) for r in found)
        resources.extend(found)
        stats.per_account.append(scan)
        stats.accounts += not scan.error
        stats.buckets += sum(r["ResourceType"] == BUCKET_RESOURCE_TYPE for r in found)
        stats.trails += sum(r["ResourceType"] == TRAIL_RESOURCE_TYPE for r in found)
        stats.api_calls += scan.api_calls
        stats.calls.update(scan.calls)
        stats.decided.update(scan.decided)
    return resources
