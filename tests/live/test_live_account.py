"""Account-wide parts of the live source on moto over HTTP: s3control's account public access
block, regions, name filters, log targets, trails, several accounts and profiles."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest

from bucketwatch.localaws import MOTO_ACCOUNT_ID
from policies.model import UNKNOWN
from policies.sources.live import ScanStats, collect
from policies.sources.live_clients import LiveSourceError, accounts_for

PAB = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": False}


def s3control_client(endpoint: str) -> Any:
    client = boto3.client("s3control")
    prefix = f"//{MOTO_ACCOUNT_ID}."
    client.meta.events.register("before-sign.s3-control",
                                lambda request, **_: setattr(request, "url", request.url.replace(prefix, "//")))
    return client


def test_account_public_access_block_via_s3control(live_scan, aws_endpoint) -> None:
    boto3.client("s3").create_bucket(Bucket="bw-one")
    s3control_client(aws_endpoint).put_public_access_block(
        AccountId=MOTO_ACCOUNT_ID, PublicAccessBlockConfiguration=PAB)
    found = live_scan(with_account=True)
    account = found[f"AWS::::Account:{MOTO_ACCOUNT_ID}"]
    assert (account["ResourceType"], account["AccountId"], account["Region"]) == ("AWS.Account", MOTO_ACCOUNT_ID, None)
    assert account["AccountPublicAccessBlock"] == PAB and account[UNKNOWN] == {}
    assert found["bw-one"]["AccountPublicAccessBlock"] == PAB  # buckets still see the account's setting


def test_account_public_access_block_denied_is_unknown(live_scan) -> None:
    boto3.client("s3").create_bucket(Bucket="bw-one")
    found = live_scan(denied=(("s3-control", "GetPublicAccessBlock"),), with_account=True)
    bucket = found["bw-one"]
    assert bucket[UNKNOWN] == {"AccountPublicAccessBlock": "s3control:GetPublicAccessBlock denied: AccessDenied"}
    assert found[f"AWS::::Account:{MOTO_ACCOUNT_ID}"][UNKNOWN] == bucket[UNKNOWN]
    assert bucket["PublicAccessBlockConfiguration"] is None  # the bucket-level call still answered


def requests_sent(session: boto3.Session) -> list[tuple[str, str]]:
    """(URL, signing region) of every S3 request sent, read from the signed request itself."""
    seen: list[tuple[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        authorization = request.headers.get("Authorization", b"")
        authorization = authorization.decode() if isinstance(authorization, bytes) else authorization
        match = re.search(r"Credential=[^/]+/\d+/([^/]+)/s3/", authorization)
        seen.append((request.url, match.group(1) if match else "unsigned"))

    session.events.register("before-send.s3", record)
    return seen


def test_each_bucket_is_read_in_its_own_region(live_scan, aws_endpoint) -> None:
    s3 = boto3.client("s3")
    layout = {"bw-use1": "us-east-1", "bw-euw1": "eu-west-1", "bw-apse2": "ap-southeast-2"}
    for name, region in layout.items():
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **config)
    accounts = accounts_for(None, None, aws_endpoint)
    seen = requests_sent(accounts[0].session)

    found = live_scan(accounts=accounts)
    assert {name: found[name]["Region"] for name in layout} == layout
    for name, region in layout.items():
        own = [(url, r) for url, r in seen if f"/{name}?" in url or url.endswith(f"/{name}")]
        # GetBucketLocation goes out before the region is known (moto's ListBuckets names no
        # BucketRegion); every other call is signed for the bucket's region. 12 calls less the
        # two these bare buckets' answers decide: no policy (GetBucketPolicyStatus), versioning
        # never enabled (GetObjectLockConfiguration).
        assert len(own) == 10, own
        assert not any("?policyStatus" in url or "?object-lock" in url for url, _ in own)
        assert {r for url, r in own if "?location" not in url} == {region}


def test_region_and_name_filters(live_scan) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="app-data")
    s3.create_bucket(Bucket="app-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.create_bucket(Bucket="other")
    assert set(live_scan(regions=["eu-west-1"])) == {"app-eu"}
    assert set(live_scan(bucket_globs=["app-*"])) == {"app-data", "app-eu"}
    assert set(live_scan(bucket_globs=["app-*"], regions=["us-east-1"])) == {"app-data"}
    # The account is judged with its buckets: with a filter, only when one of them is in scope.
    account = f"AWS::::Account:{MOTO_ACCOUNT_ID}"
    assert set(live_scan(regions=["eu-west-1"], with_account=True)) == {"app-eu", account}
    assert set(live_scan(bucket_globs=["nothing-*"], with_account=True)) == set()
    assert set(live_scan(with_account=True)) == {"app-data", "app-eu", "other", account}


def allow_log_delivery(bucket: str) -> None:
    boto3.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}]}))


def enable_logging(bucket: str, target: str) -> None:
    boto3.client("s3").put_bucket_logging(Bucket=bucket, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": target, "TargetPrefix": f"{bucket}/"}})


def test_logging_targets(live_scan) -> None:
    s3 = boto3.client("s3")
    key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    for name in ("self-logger", "kms-target", "src-kms", "gone-target", "src-gone", "filtered-target", "src-filtered"):
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=name == "kms-target")
    for target in ("self-logger", "kms-target", "gone-target", "filtered-target"):
        allow_log_delivery(target)
    s3.put_bucket_encryption(Bucket="kms-target", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}]})
    enable_logging("self-logger", "self-logger")
    enable_logging("src-kms", "kms-target")
    enable_logging("src-gone", "gone-target")
    enable_logging("src-filtered", "filtered-target")
    s3.delete_bucket_policy(Bucket="gone-target")
    s3.delete_bucket(Bucket="gone-target")

    found = live_scan(bucket_globs=["self-*", "src-*", "kms-*"])
    assert found["self-logger"]["LoggingTarget"]["Name"] == "self-logger"
    kms_target = found["src-kms"]["LoggingTarget"]
    assert kms_target["EncryptionRules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert kms_target["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    assert found["src-gone"]["LoggingTarget"] == {"Name": "gone-target", "Exists": False, "Region": None,
                                                  "EncryptionRules": None, "ObjectLockConfiguration": None}
    # A target outside the name filter is still read, but not reported as a resource itself.
    assert "filtered-target" not in found
    assert found["src-filtered"]["LoggingTarget"]["Exists"] is True
    assert found["src-filtered"]["LoggingTarget"]["Region"] == "us-east-1"


def test_denied_reads_of_the_log_target_make_only_log_target_unknown(live_scan) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="src")
    s3.create_bucket(Bucket="target")
    allow_log_delivery("target")
    enable_logging("src", "target")
    src = live_scan(denied=(("s3", "GetObjectLockConfiguration"),), bucket_globs=["src"])["src"]
    # src's own Object Lock is decided by its versioning (never enabled), so its denied call is
    # not made; the target's, outside the scan and read without its versioning, is.
    assert src[UNKNOWN] == {
        "LoggingTarget": "target bucket target: ObjectLockConfiguration: GetObjectLockConfiguration denied: AccessDenied",
    }
    assert src["ObjectLockConfiguration"] is None and "ObjectLockConfiguration" in src["Decided"]
    assert src["LoggingPolicy"]["TargetBucket"] == "target"
    every_call = live_scan(denied=(("s3", "GetObjectLockConfiguration"),), bucket_globs=["src"],
                           skip_decided=False)["src"]
    assert every_call[UNKNOWN] == {
        "ObjectLockConfiguration": "GetObjectLockConfiguration denied: AccessDenied",
        "LoggingTarget": "target bucket target: ObjectLockConfiguration: GetObjectLockConfiguration denied: AccessDenied",
    }


def make_trail(name: str, region: str = "us-east-1", multi: bool = True, logging: bool = True,
               **selectors: Any) -> None:
    ct = boto3.client("cloudtrail", region_name=region)
    ct.create_trail(Name=name, S3BucketName="trail-logs", IsMultiRegionTrail=multi)
    if logging:
        ct.start_logging(Name=name)
    if selectors:
        ct.put_event_selectors(TrailName=name, **selectors)


def data_selector(values: list[str], kind: str = "All") -> dict[str, Any]:
    return {"EventSelectors": [{"ReadWriteType": kind, "IncludeManagementEvents": True,
                                "DataResources": [{"Type": "AWS::S3::Object", "Values": values}]}]}


def test_trails_covering_each_bucket(live_scan) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="trail-logs")
    s3.create_bucket(Bucket="watched")
    s3.create_bucket(Bucket="elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    make_trail("all-buckets-writes", **data_selector(["arn:aws:s3"], "WriteOnly"))
    make_trail("watched-reads", multi=False, **data_selector(["arn:aws:s3:::watched/"], "ReadOnly"))
    make_trail("prefix-only", **data_selector(["arn:aws:s3:::watched/some/prefix"]))
    make_trail("advanced", logging=False, AdvancedEventSelectors=[{"Name": "s3", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::elsewhere/"]}]}])
    make_trail("management-only")

    found = live_scan()
    coverage = {name: {t["Name"]: t["Coverage"] for t in found[name]["CoveringTrails"]}
                for name in ("watched", "elsewhere", "trail-logs")}
    assert coverage["watched"] == {"all-buckets-writes": {"Read": False, "Write": True},
                                   "watched-reads": {"Read": True, "Write": False}}
    # The single-region us-east-1 trail does not reach eu-west-1 data events.
    assert coverage["elsewhere"] == {"all-buckets-writes": {"Read": False, "Write": True},
                                     "advanced": {"Read": True, "Write": True}}
    assert coverage["trail-logs"] == {"all-buckets-writes": {"Read": False, "Write": True}}
    advanced = next(t for t in found["elsewhere"]["CoveringTrails"] if t["Name"] == "advanced")
    assert advanced["Status"]["IsLogging"] is False and advanced["IsMultiRegionTrail"] is True
    # Trails are resources in their own right too.
    trails = {r["Name"]: r for r in found.values() if r["ResourceType"] == "AWS.CloudTrail"}
    assert set(trails) == {"all-buckets-writes", "watched-reads", "prefix-only", "advanced", "management-only"}
    assert trails["watched-reads"]["HomeRegion"] == "us-east-1"
    assert trails["management-only"]["Status"]["IsLogging"] is True
    assert trails["management-only"][UNKNOWN] == {}


@pytest.mark.parametrize(("operation", "field_reason"), [
    ("DescribeTrails", "cloudtrail:DescribeTrails denied: AccessDenied"),
    ("GetEventSelectors", "cloudtrail:GetEventSelectors denied: AccessDenied"),
])
def test_denied_trail_reads_make_coverage_unknown(live_scan, operation, field_reason) -> None:
    boto3.client("s3").create_bucket(Bucket="trail-logs")
    make_trail("main", **data_selector(["arn:aws:s3"]))
    bucket = live_scan(denied=(("cloudtrail", operation),))["trail-logs"]
    assert list(bucket[UNKNOWN]) == ["CoveringTrails"]
    assert field_reason in bucket[UNKNOWN]["CoveringTrails"]


def test_denied_trail_status_is_unknown_on_the_trail(live_scan) -> None:
    boto3.client("s3").create_bucket(Bucket="trail-logs")
    make_trail("main", **data_selector(["arn:aws:s3"]))
    found = live_scan(denied=(("cloudtrail", "GetTrailStatus"),))
    assert found["main"][UNKNOWN] == {"Status": "cloudtrail:GetTrailStatus denied: AccessDenied"}
    assert "GetTrailStatus denied" in found["trail-logs"][UNKNOWN]["CoveringTrails"]


def test_list_buckets_denied_is_a_clear_error(aws_endpoint, deny) -> None:
    accounts = accounts_for(None, None, aws_endpoint)
    deny(accounts[0].session, "ListBuckets")
    with pytest.raises(LiveSourceError, match="ListBuckets denied: AccessDenied"):
        collect(accounts, endpoint_url=aws_endpoint)


def test_several_accounts_through_assumed_roles(aws_endpoint) -> None:
    role_arns = ["arn:aws:iam::111111111111:role/audit", "arn:aws:iam::222222222222:role/audit"]
    accounts = accounts_for(None, role_arns, aws_endpoint)
    for index, account in enumerate(accounts):
        account.connect(aws_endpoint).client("s3").create_bucket(Bucket=f"acct{index}-bucket")
    stats = ScanStats()
    resources = collect(accounts, endpoint_url=aws_endpoint, stats=stats)
    owners = {r["ResourceId"]: r["AccountId"] for r in resources}
    assert owners == {"arn:aws:s3:::acct0-bucket": "111111111111", "arn:aws:s3:::acct1-bucket": "222222222222",
                      "AWS::::Account:111111111111": "111111111111", "AWS::::Account:222222222222": "222222222222"}
    assert stats.accounts == 2 and stats.buckets == 2
    assert [a.account_id for a in accounts] == ["111111111111", "222222222222"]
    assert [(a.account_id, a.access, a.buckets) for a in stats.per_account] == [
        ("111111111111", f"role {role_arns[0]}", 1), ("222222222222", f"role {role_arns[1]}", 1)]


def test_one_account_reached_twice_reports_each_resource_once(aws_endpoint) -> None:
    boto3.client("s3").create_bucket(Bucket="trail-logs")
    make_trail("org-wide", **data_selector(["arn:aws:s3"]))
    role_arns = [f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/audit-a", f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/audit-b"]
    stats = ScanStats()
    resources = collect(accounts_for(None, role_arns, aws_endpoint), endpoint_url=aws_endpoint, stats=stats)
    assert sorted(r["ResourceId"] for r in resources) == [
        f"AWS::::Account:{MOTO_ACCOUNT_ID}", f"arn:aws:cloudtrail:us-east-1:{MOTO_ACCOUNT_ID}:trail/org-wide",
        "arn:aws:s3:::trail-logs"]
    assert (stats.accounts, stats.buckets, stats.trails) == (2, 1, 1)


def test_profile_and_bad_profile(aws_endpoint, tmp_path, monkeypatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[audit]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    boto3.client("s3").create_bucket(Bucket="via-profile")
    resources = collect(accounts_for("audit", None, aws_endpoint), endpoint_url=aws_endpoint)
    assert [r["ResourceId"] for r in resources] == ["arn:aws:s3:::via-profile", f"AWS::::Account:{MOTO_ACCOUNT_ID}"]
    with pytest.raises(LiveSourceError, match="profile 'nope' not found"):
        accounts_for("nope", None, aws_endpoint)


def test_unreadable_log_target_outside_the_scan_is_unknown(live_scan) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="src")
    s3.create_bucket(Bucket="elsewhere-target")
    allow_log_delivery("elsewhere-target")
    enable_logging("src", "elsewhere-target")
    # A target in another account: its location cannot be read.
    src = live_scan(denied=(("s3", "GetBucketLocation"),), bucket_globs=["src"])["src"]
    assert src[UNKNOWN]["LoggingTarget"] == (
        "target bucket elsewhere-target: Region: GetBucketLocation denied: AccessDenied")
