"""Skipping calls whose answer is decided (policies/sources/live_decided.py) changes nothing a
policy sees: the same moto account scanned with skipping on and off gives identical fields and
identical verdicts, while the decided calls are not made."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from policies.config import PostureSettings
from policies.model import BUCKET_FIELDS, BUCKET_RESOURCE_TYPE, UNKNOWN
from policies.registry import load_policies
from policies.runner import evaluate
from policies.sources.live import ScanStats, collect
from policies.sources.live_clients import accounts_for
from policies.sources.live_decided import DECIDED
from policies.sources.live_scan import subject_of

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
OWNERSHIP = (None, "ObjectWriter", "BucketOwnerPreferred", "BucketOwnerEnforced")
POLICIES = (None, "deny-only", "allow")
VERSIONING = (None, "Enabled", "Suspended")
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
PUBLIC_READ = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'


@dataclass(frozen=True)
class Spec:
    """One bucket of the world; `extra` settings vary with the index so every policy has PASS and FAIL."""

    name: str
    region: str
    ownership: str | None
    policy: str | None
    versioning: str | None
    index: int

    @property
    def object_lock(self) -> bool:
        # Object Lock only where AWS allows it: versioning Enabled (moto would let it be suspended).
        return self.versioning == "Enabled" and self.index % 4 == 1

    @property
    def public_acl(self) -> bool:
        # AWS refuses BucketOwnerEnforced while the ACL grants anyone else (moto does not).
        return self.ownership != "BucketOwnerEnforced" and self.index % 5 == 0


def world_specs() -> list[Spec]:
    """Every combination of ownership x policy x versioning (36 buckets, over 3 regions)."""
    combos = itertools.product(OWNERSHIP, POLICIES, VERSIONING)
    return [Spec(f"bw-d{i:02d}", REGIONS[(i + i // 9) % 3], own, pol, ver, i) for i, (own, pol, ver) in enumerate(combos)]


def policy_document(spec: Spec) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{spec.name}"
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    allow = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "s3:GetObject",
             "Resource": f"{arn}/*"}
    if spec.index % 2:
        allow = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/*"}
    statements = [deny] if spec.policy == "deny-only" else [deny, allow]
    return {"Version": "2012-10-17", "Statement": statements}


def build(spec: Spec) -> None:
    s3 = boto3.client("s3", region_name=spec.region)
    where = {} if spec.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": spec.region}}
    s3.create_bucket(Bucket=spec.name, ObjectLockEnabledForBucket=spec.object_lock, **where)
    if spec.versioning and not spec.object_lock:
        if spec.versioning == "Suspended":
            s3.put_bucket_versioning(Bucket=spec.name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_versioning(Bucket=spec.name, VersioningConfiguration={"Status": spec.versioning})
    if spec.object_lock:
        s3.put_object_lock_configuration(Bucket=spec.name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    if spec.public_acl:
        s3.put_bucket_acl(Bucket=spec.name, GrantRead=PUBLIC_READ)
    if spec.ownership:
        s3.put_bucket_ownership_controls(Bucket=spec.name, OwnershipControls={
            "Rules": [{"ObjectOwnership": spec.ownership}]})
    if spec.policy:
        s3.put_bucket_policy(Bucket=spec.name, Policy=json.dumps(policy_document(spec)))
    build_extras(s3, spec)


def build_extras(s3: Any, spec: Spec) -> None:
    """Encryption, access block, logging, tags and lifecycle on some buckets, so every policy
    sees both answers (and log targets are judged from decided fields too)."""
    if spec.index % 3 == 1:
        algorithm = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY} if spec.index % 2 else {"SSEAlgorithm": "AES256"}
        s3.put_bucket_encryption(Bucket=spec.name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": algorithm}]})
    if spec.index % 4 == 2:
        s3.put_public_access_block(Bucket=spec.name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    if spec.index % 6 == 3:
        s3.put_bucket_tagging(Bucket=spec.name, Tagging={"TagSet": [{"Key": "team", "Value": "sec"}]})
        s3.put_bucket_lifecycle_configuration(Bucket=spec.name, LifecycleConfiguration={"Rules": [
            {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 180}}]})


def build_logging(specs: list[Spec]) -> None:
    """Buckets log to a bucket of their own region (moto, like AWS, needs that): in each region,
    the first bucket with an Allow policy also allows log delivery, and receives the logs of the
    buckets with index % 7 == 4."""
    targets = {}
    for spec in specs:
        if spec.policy == "allow" and spec.region not in targets:
            targets[spec.region] = spec
            document = policy_document(spec)
            # First: moto's log-delivery check fails (HTTP 500) on a statement with Principal "*".
            document["Statement"].insert(0, {
                "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{spec.name}/*"})
            boto3.client("s3", region_name=spec.region).put_bucket_policy(Bucket=spec.name, Policy=json.dumps(document))
    for spec in specs:
        target = targets[spec.region]
        if spec.index % 7 == 4 and spec is not target:
            s3 = boto3.client("s3", region_name=spec.region)
            s3.put_bucket_logging(Bucket=spec.name, BucketLoggingStatus={
                "LoggingEnabled": {"TargetBucket": target.name, "TargetPrefix": f"{spec.name}/"}})


@pytest.fixture
def world(aws_endpoint: str) -> list[Spec]:
    specs = world_specs()
    for spec in specs:
        build(spec)
    build_logging(specs)
    return specs


def scan(endpoint: str, skip: bool, **options: Any) -> tuple[dict[str, dict[str, Any]], ScanStats]:
    stats = ScanStats()
    resources = collect(accounts_for(None, None, endpoint), endpoint_url=endpoint, stats=stats,
                        skip_decided=skip, **options)
    return {r["Name"]: r for r in resources if r["ResourceType"] == BUCKET_RESOURCE_TYPE}, stats


def verdicts(buckets: dict[str, dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str]]:
    findings = evaluate(load_policies(), [subject_of(b) for b in buckets.values()], PostureSettings())
    return {(f.ref.id, f.policy.id): (f.status, f.reason) for f in findings}


def test_skipping_changes_no_field_and_no_verdict(world: list[Spec], aws_endpoint: str) -> None:
    every, every_stats = scan(aws_endpoint, skip=False)
    skipped, skipped_stats = scan(aws_endpoint, skip=True)

    assert set(every) == set(skipped) == {s.name for s in world}
    for name, bucket in every.items():
        assert bucket[UNKNOWN] == {} and skipped[name][UNKNOWN] == {}, name
        for field in BUCKET_FIELDS:
            assert skipped[name][field] == bucket[field], (name, field)
    assert verdicts(skipped) == verdicts(every)
    # Every verdict kind the policies give here is exercised: PASS and FAIL both occur.
    statuses = Counter(status for status, _ in verdicts(every).values())
    assert statuses["PASS"] > 50 and statuses["FAIL"] > 50

    # What was not asked, from the world's own description (not from the collector).
    no_policy_status = sum(s.policy in (None, "deny-only") for s in world)
    unversioned = sum(s.versioning in (None, "Suspended") for s in world)
    enforced = sum(s.ownership == "BucketOwnerEnforced" for s in world)
    assert every_stats.decided == {}
    assert skipped_stats.decided["GetBucketPolicyStatus"] == no_policy_status == 24
    assert skipped_stats.decided["GetObjectLockConfiguration"] == unversioned == 24
    # The owner's grant is learned from an ACL answer per region first: at most a few enforced
    # buckets are still asked, by workers that got there before any answer.
    assert 0 < skipped_stats.decided["GetBucketAcl"] <= enforced == 9
    # 36 buckets in 3 regions: listing the 34 regions moto and botocore know is cheaper than 36
    # GetBucketLocation calls (moto's ListBuckets names no BucketRegion, as AWS's does).
    assert every_stats.calls["GetBucketLocation"] == 36 and skipped_stats.calls["GetBucketLocation"] == 0
    assert skipped_stats.calls["ListBuckets"] == 1 + len(boto3.Session().get_available_regions("s3"))
    for api, count in skipped_stats.decided.items():
        assert skipped_stats.calls[api] == every_stats.calls[api] - count, api
    # Why a field was not fetched is on the bucket.
    bare = skipped[next(s.name for s in world if s.policy is None and s.versioning is None)]
    assert "no policy" in bare[DECIDED]["PolicyStatus"]
    assert "never enabled" in bare[DECIDED]["ObjectLockConfiguration"]
    assert "ListBuckets" in bare[DECIDED]["Region"]


ENFORCED = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
SSL_ONLY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::bw-x/*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def bucket(name: str, region: str = "us-east-1", session: boto3.Session | None = None) -> Any:
    s3 = (session or boto3).client("s3", region_name=region)
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **where)
    return s3


@pytest.mark.parametrize(("denied", "dependent", "fields"), [
    ("GetBucketPolicy", "GetBucketPolicyStatus", ("PolicyStatus",)),
    ("GetBucketOwnershipControls", "GetBucketAcl", ("Owner", "Grants")),
    ("GetBucketVersioning", "GetObjectLockConfiguration", ("ObjectLockConfiguration",)),
])
def test_a_denied_deciding_call_means_the_dependent_call_is_made(live_scan, denied, dependent, fields) -> None:
    s3 = bucket("bw-x")  # no policy, unversioned, and (next) ACLs disabled: all three would be decided
    s3.put_bucket_ownership_controls(Bucket="bw-x", OwnershipControls=ENFORCED)
    bucket("bw-teacher")  # its ACL answer teaches the owner's grant
    stats = ScanStats()
    found = live_scan(denied=(("s3", denied),), stats=stats, workers=1)["bw-x"]
    assert set(found[UNKNOWN]) == {f for f, api in BUCKET_FIELDS.items() if api == denied}
    assert not set(fields) & set(found.get(DECIDED, {})), found.get(DECIDED)  # asked, not decided
    assert stats.calls[dependent] == 2  # for both buckets
    assert found["Grants"] and found["PolicyStatus"] is None and found["ObjectLockConfiguration"] is None


@pytest.mark.parametrize(("api", "field", "value"), [
    ("GetBucketPolicyStatus", "PolicyStatus", {"IsPublic": False}),
    ("GetObjectLockConfiguration", "ObjectLockConfiguration", None),
])
def test_a_decided_field_is_known_even_where_its_own_call_would_be_denied(live_scan, api, field, value) -> None:
    s3 = bucket("bw-x")
    s3.put_bucket_policy(Bucket="bw-x", Policy=json.dumps(SSL_ONLY))
    found = live_scan(denied=(("s3", api),))["bw-x"]
    assert found[UNKNOWN] == {} and found[field] == value and field in found[DECIDED]
    every = live_scan(denied=(("s3", api),), skip_decided=False)["bw-x"]
    assert every[UNKNOWN] == {field: f"{api} denied: AccessDenied"}


def test_the_owners_grant_is_learned_once_per_region_and_account(live_scan) -> None:
    for name, region in (("bw-a1", "us-east-1"), ("bw-a2", "us-east-1"), ("bw-a3", "us-east-1"),
                         ("bw-b1", "eu-west-1"), ("bw-b2", "eu-west-1")):
        bucket(name, region).put_bucket_ownership_controls(Bucket=name, OwnershipControls=ENFORCED)
    stats = ScanStats()
    # One worker: buckets are read in listing order, so which calls are made is fixed.
    found = live_scan(stats=stats, workers=1)
    assert stats.calls["GetBucketAcl"] == 2 and stats.decided["GetBucketAcl"] == 3  # one asked per region
    asked = {name for name, b in found.items() if "Grants" not in b.get(DECIDED, {})}
    assert asked == {"bw-a1", "bw-b1"}
    for name in ("bw-a2", "bw-a3", "bw-b2"):
        assert found[name]["Grants"] == found["bw-a1"]["Grants"]
        assert found[name]["Owner"] == found["bw-a1"]["Owner"]
        assert [g["Permission"] for g in found[name]["Grants"]] == ["FULL_CONTROL"]


def test_accounts_do_not_share_what_they_learned(aws_endpoint) -> None:
    role_arns = ["arn:aws:iam::111111111111:role/audit", "arn:aws:iam::222222222222:role/audit"]
    accounts = accounts_for(None, role_arns, aws_endpoint)
    for index, account in enumerate(accounts):
        session = account.connect(aws_endpoint)
        for n in range(3):
            bucket(f"acct{index}-enforced-{n}", session=session).put_bucket_ownership_controls(
                Bucket=f"acct{index}-enforced-{n}", OwnershipControls=ENFORCED)
    stats = ScanStats()
    collect(accounts, endpoint_url=aws_endpoint, stats=stats, workers=1)
    for scan in stats.per_account:
        # Each account asks for its own first bucket's ACL, then decides the other two: what
        # one account learned is not used for another's buckets.
        assert (scan.calls["GetBucketAcl"], scan.decided["GetBucketAcl"]) == (1, 2), scan


def test_region_filter_lists_its_regions_instead_of_locating_each_bucket(live_scan) -> None:
    for name, region in (("bw-e1", "eu-west-1"), ("bw-e2", "eu-west-1"), ("bw-u1", "us-east-1"),
                         ("bw-u2", "us-east-1"), ("bw-a1", "ap-southeast-2")):
        bucket(name, region)
    stats = ScanStats()
    found = live_scan(stats=stats, regions=["eu-west-1"])
    assert set(found) == {"bw-e1", "bw-e2"} and found["bw-e1"]["Region"] == "eu-west-1"
    # ListBuckets, then ListBuckets for eu-west-1: no GetBucketLocation for 5 buckets.
    assert stats.calls["ListBuckets"] == 2 and stats.calls["GetBucketLocation"] == 0
    every_stats = ScanStats()
    every = live_scan(stats=every_stats, regions=["eu-west-1"], skip_decided=False)
    assert set(every) == set(found) and every_stats.calls["GetBucketLocation"] == 5


def test_bucket_region_from_listbuckets_as_aws_answers(live_scan, aws_endpoint) -> None:
    """AWS names BucketRegion in a paginated ListBuckets answer; moto leaves it out. A botocore
    after-call hook writes in the region moto itself holds for each bucket (read from moto's
    region-filtered listing), to run the path AWS takes: no GetBucketLocation at all."""
    layout = {"bw-r1": "us-east-1", "bw-r2": "eu-west-1", "bw-r3": "ap-southeast-2"}
    for name, region in layout.items():
        bucket(name, region)
    truth = {b["Name"]: region for region in set(layout.values())
             for b in boto3.client("s3").list_buckets(BucketRegion=region, MaxBuckets=100)["Buckets"]}
    accounts = accounts_for(None, None, aws_endpoint)

    def with_bucket_region(parsed: dict[str, Any], model: Any = None, **_: Any) -> None:
        for listed in parsed.get("Buckets", []):
            listed["BucketRegion"] = truth[listed["Name"]]

    accounts[0].session.events.register("after-call.s3.ListBuckets", with_bucket_region)
    stats = ScanStats()
    found = live_scan(accounts=accounts, stats=stats)
    assert {name: (found[name]["Region"], found[name]["Location"]) for name in layout} == {
        name: (region, region) for name, region in layout.items()}
    assert stats.calls["ListBuckets"] == 1 and stats.calls["GetBucketLocation"] == 0
    # 12 calls a bucket before; here 9: no location, no policy status, no object lock.
    assert sum(n for api, n in stats.calls.items() if api.startswith("GetBucket") or api.startswith("GetObject")
               or api == "GetPublicAccessBlock") == 9 * len(layout)


def test_a_bucket_deleted_after_listing_is_dropped_whichever_call_notices(live_scan, aws_endpoint) -> None:
    from botocore.exceptions import ClientError

    bucket("bw-stays")
    bucket("bw-gone")
    accounts = accounts_for(None, None, aws_endpoint)

    def deleted_meanwhile(params: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") == "bw-gone":  # S3's answer once the bucket is deleted
            raise ClientError({"Error": {"Code": "NoSuchBucket", "Message": "gone"}}, "GetBucketEncryption")

    accounts[0].session.events.register("before-parameter-build.s3.GetBucketEncryption", deleted_meanwhile)
    found = live_scan(accounts=accounts)
    assert set(found) == {"bw-stays"} and found["bw-stays"][UNKNOWN] == {}
