"""The live source fills every AWS.S3.Bucket field from moto over HTTP, and tells "not
configured" (None) apart from "could not tell" (Unknown, naming the denied API)."""

from __future__ import annotations

import json

import boto3
import pytest

from policies.model import BUCKET_FIELDS, UNKNOWN
from policies.sources.live import BUCKET_CALLS, LOCATION_CALL

LOG_DELIVERY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                   "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bw-logs/*"}],
}
SSL_ONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                   "Resource": ["arn:aws:s3:::bw-full", "arn:aws:s3:::bw-full/*"],
                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}],
}
PAB = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def build_full_bucket() -> str:
    """bw-full: every setting configured; bw-logs receives its access logs. Returns the KMS key id."""
    s3 = boto3.client("s3")
    key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    s3.create_bucket(Bucket="bw-logs")
    s3.put_bucket_policy(Bucket="bw-logs", Policy=json.dumps(LOG_DELIVERY_POLICY))
    s3.create_bucket(Bucket="bw-full", ObjectLockEnabledForBucket=True)
    s3.put_bucket_encryption(Bucket="bw-full", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}]})
    s3.put_bucket_logging(Bucket="bw-full", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "bw-logs", "TargetPrefix": "bw-full/"}})
    s3.put_bucket_versioning(Bucket="bw-full", VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(Bucket="bw-full", PublicAccessBlockConfiguration=PAB)
    s3.put_bucket_policy(Bucket="bw-full", Policy=json.dumps(SSL_ONLY_POLICY))
    s3.put_bucket_ownership_controls(Bucket="bw-full", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.put_object_lock_configuration(Bucket="bw-full", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}})
    s3.put_bucket_tagging(Bucket="bw-full", Tagging={"TagSet": [{"Key": "team", "Value": "sec"}]})
    s3.put_bucket_lifecycle_configuration(Bucket="bw-full", LifecycleConfiguration={"Rules": [
        {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 365}}]})
    return key_id


def test_every_field_of_a_fully_configured_bucket(live_scan, aws_endpoint) -> None:
    key_id = build_full_bucket()
    bucket = live_scan()["bw-full"]

    assert bucket[UNKNOWN] == {}
    assert set(BUCKET_FIELDS) <= set(bucket), f"missing fields: {set(BUCKET_FIELDS) - set(bucket)}"
    assert bucket["Arn"] == "arn:aws:s3:::bw-full"
    assert bucket["AccountId"] == "123456789012"
    assert bucket["CreationDate"].startswith("20")
    assert bucket["Region"] == bucket["Location"] == "us-east-1"
    assert bucket["EncryptionRules"][0]["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}
    assert bucket["LoggingPolicy"]["TargetBucket"] == "bw-logs"
    assert bucket["LoggingPolicy"]["TargetPrefix"] == "bw-full/"
    assert bucket["Versioning"] == "Enabled"
    assert bucket["MFADelete"] is None  # GetBucketVersioning leaves MFADelete out: never set
    assert bucket["PublicAccessBlockConfiguration"] == PAB
    assert bucket["Owner"]["ID"]
    assert [g["Permission"] for g in bucket["Grants"]] == ["FULL_CONTROL"]
    assert set(bucket["Grants"][0]["Grantee"]) == {"DisplayName", "EmailAddress", "ID", "Type", "URI"}
    assert json.loads(bucket["Policy"]) == SSL_ONLY_POLICY
    assert bucket["PolicyStatus"] == {"IsPublic": False}
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert bucket["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    retention = bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("GOVERNANCE", 30)  # moto also answers Years: 0
    assert bucket["Tags"] == {"team": "sec"}
    assert bucket["LifecycleRules"][0]["Expiration"] == {"Days": 365}
    assert bucket["LoggingTarget"] == {"Name": "bw-logs", "Exists": True, "Region": "us-east-1",
                                       "EncryptionRules": None, "ObjectLockConfiguration": None}
    assert bucket["AccountPublicAccessBlock"] is None
    assert bucket["CoveringTrails"] == []
    json.dumps(bucket)  # resources go to JSON reports and the lake as they are


def test_suspended_versioning(live_scan) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bw-suspended")
    s3.put_bucket_versioning(Bucket="bw-suspended", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_versioning(Bucket="bw-suspended", VersioningConfiguration={"Status": "Suspended"})
    assert live_scan()["bw-suspended"]["Versioning"] == "Suspended"


def test_mfa_delete_comes_from_the_versioning_answer() -> None:
    # moto ignores MFADelete on PutBucketVersioning, so this reads AWS's documented answer shape.
    versioning = next(c for c in BUCKET_CALLS if c.api == "GetBucketVersioning")
    assert versioning.fields == ("Versioning", "MFADelete")
    assert versioning.parse({"Status": "Enabled", "MFADelete": "Enabled"}) == {
        "Versioning": "Enabled", "MFADelete": "Enabled"}
    assert versioning.parse({}) == {"Versioning": None, "MFADelete": None}


NOT_CONFIGURED_FIELDS = ("EncryptionRules", "LoggingPolicy", "Versioning", "MFADelete",
                         "PublicAccessBlockConfiguration", "Policy", "PolicyStatus", "OwnershipControls",
                         "ObjectLockConfiguration", "Tags", "LifecycleRules", "LoggingTarget",
                         "AccountPublicAccessBlock")


def test_nothing_configured_reads_as_none_not_unknown(live_scan) -> None:
    boto3.client("s3").create_bucket(Bucket="bw-bare")
    bucket = live_scan()["bw-bare"]
    assert bucket[UNKNOWN] == {}
    for name in NOT_CONFIGURED_FIELDS:
        assert name in bucket and bucket[name] is None, name
    assert bucket["Grants"] and bucket["Owner"]  # an ACL always exists


@pytest.mark.parametrize("call", [LOCATION_CALL, *BUCKET_CALLS], ids=lambda c: c.api)
def test_a_denied_call_makes_only_its_own_fields_unknown(live_scan, call) -> None:
    build_full_bucket()
    # Every call made (skipping off): with skipping, some are not (tests/live/test_live_decided.py).
    bucket = live_scan(denied=(("s3", call.api),), skip_decided=False)["bw-full"]

    expected = dict.fromkeys(call.fields, f"{call.api} denied: AccessDenied")
    if call.api in ("GetBucketLogging", "GetBucketLocation", "GetBucketEncryption", "GetObjectLockConfiguration"):
        # The log target's state comes from the same calls (its own location, encryption, lock).
        assert "LoggingTarget" in bucket[UNKNOWN]
        assert call.api in bucket[UNKNOWN].pop("LoggingTarget")
    assert bucket[UNKNOWN] == expected
    for name in call.fields:
        assert bucket[name] is None
    # Everything else was still read: the full bucket's other settings are all present.
    untouched = {"Versioning": "Enabled", "Tags": {"team": "sec"}, "PolicyStatus": {"IsPublic": False}}
    for name, value in untouched.items():
        if name not in call.fields:
            assert bucket[name] == value


def test_denied_location_keeps_the_bucket_and_reads_the_rest(live_scan) -> None:
    boto3.client("s3").create_bucket(Bucket="bw-where", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    bucket = live_scan(denied=(("s3", "GetBucketLocation"),), regions=["us-east-1"])["bw-where"]
    assert bucket[UNKNOWN] == {"Region": "GetBucketLocation denied: AccessDenied",
                               "Location": "GetBucketLocation denied: AccessDenied"}
    assert bucket["Grants"]


def test_failure_other_than_denial_is_named_as_failed(live_scan) -> None:
    boto3.client("s3").create_bucket(Bucket="bw-flaky")
    bucket = live_scan(denied=(("s3", "GetBucketTagging", "InternalError"),))["bw-flaky"]
    assert bucket[UNKNOWN] == {"Tags": "GetBucketTagging failed: InternalError"}


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: object):
        yield self.data


def test_throttled_calls_are_retried_not_marked_unknown(live_scan, aws_endpoint) -> None:
    from botocore.awsrequest import AWSResponse

    from policies.sources.live_clients import accounts_for

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bw-busy")
    s3.put_bucket_tagging(Bucket="bw-busy", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    accounts = accounts_for(None, None, aws_endpoint)
    throttled: list[str] = []

    def slow_down(request, **_):
        # The first two GetBucketTagging requests are answered 503 SlowDown, as S3 does when busy.
        if "tagging" in request.url and len(throttled) < 2:
            throttled.append(request.url)
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Body(body))
        return None

    accounts[0].session.events.register("before-send.s3.GetBucketTagging", slow_down)
    bucket = live_scan(accounts=accounts)["bw-busy"]
    assert len(throttled) == 2
    assert bucket[UNKNOWN] == {} and bucket["Tags"] == {"k": "v"}


def test_throttling_beyond_the_retry_budget_is_unknown(live_scan, aws_endpoint) -> None:
    from botocore.awsrequest import AWSResponse

    from policies.sources.live_clients import accounts_for

    boto3.client("s3").create_bucket(Bucket="bw-busy")
    accounts = accounts_for(None, None, aws_endpoint)
    accounts[0].session.events.register(
        "before-send.s3.GetBucketTagging",
        lambda request, **_: AWSResponse(request.url, 503, {}, _Body(b"<Error><Code>SlowDown</Code></Error>")))
    bucket = live_scan(accounts=accounts, max_attempts=2)["bw-busy"]  # a small budget keeps the test fast
    assert bucket[UNKNOWN] == {"Tags": "GetBucketTagging failed: SlowDown"}


def test_bucket_deleted_during_the_scan_is_dropped(live_scan, aws_endpoint) -> None:
    from botocore.exceptions import ClientError

    from policies.sources.live_clients import accounts_for

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bw-stays")
    s3.create_bucket(Bucket="bw-gone")
    accounts = accounts_for(None, None, aws_endpoint)

    def deleted_meanwhile(params, **_):
        # S3's answer for a bucket deleted between ListBuckets and GetBucketLocation.
        if params.get("Bucket") == "bw-gone":
            raise ClientError({"Error": {"Code": "NoSuchBucket", "Message": "gone"}}, "GetBucketLocation")

    accounts[0].session.events.register("before-parameter-build.s3.GetBucketLocation", deleted_meanwhile)
    found = live_scan(accounts=accounts)
    assert set(found) == {"bw-stays"}
    assert found["bw-stays"][UNKNOWN] == {}
