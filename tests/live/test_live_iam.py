"""Denied calls for real: moto with IAM enforcement on, and an IAM user whose policy denies some
actions. Complements the per-operation hook tests with actual 403 answers over HTTP.

moto's IAM check maps some S3 calls to other action names than AWS does (GetBucketEncryption,
GetPublicAccessBlock, GetObjectLockConfiguration and GetBucketOwnershipControls are checked as
s3:ListBucket), so the users here are "allow everything, deny these" rather than an exact
least-privilege list; the denied actions are ones moto names like AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from bucketwatch.localaws import MotoServer
from policies.model import UNKNOWN
from policies.sources.live import collect
from policies.sources.live_clients import Account

pytestmark = pytest.mark.xdist_group("moto-iam")


class IamMoto:
    def __init__(self, server: MotoServer) -> None:
        self.url = server.endpoint_url
        self.iam = boto3.client("iam", endpoint_url=self.url)
        self.admin = self.user("admin", deny=())
        self.iam = self.admin.client("iam", endpoint_url=self.url)

    def user(self, name: str, deny: tuple[str, ...]) -> boto3.Session:
        statements = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        if deny:
            statements.append({"Effect": "Deny", "Action": list(deny), "Resource": "*"})
        self.iam.create_user(UserName=name)
        self.iam.put_user_policy(UserName=name, PolicyName="scan", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        return boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                             region_name="us-east-1")


@pytest.fixture(scope="module")
def iam_moto() -> Iterator[IamMoto]:
    """A moto server of its own that enforces IAM after the first three (admin setup) calls."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "3")
        server = MotoServer().start()
    try:
        world = IamMoto(server)
        s3 = world.admin.client("s3", endpoint_url=world.url)
        s3.create_bucket(Bucket="iam-bucket")
        s3.put_bucket_tagging(Bucket="iam-bucket", Tagging={"TagSet": [{"Key": "team", "Value": "sec"}]})
        s3.put_bucket_versioning(Bucket="iam-bucket", VersioningConfiguration={"Status": "Enabled"})
        trails = world.admin.client("cloudtrail", endpoint_url=world.url)
        trails.create_trail(Name="iam-trail", S3BucketName="iam-bucket", IsMultiRegionTrail=True)
        yield world
    finally:
        server.stop()


def scan(world: IamMoto, session: boto3.Session) -> dict[str, dict]:
    return {r["Name"]: r for r in collect([Account(session, "iam user")], endpoint_url=world.url)}


def test_unrestricted_user_reads_everything(iam_moto: IamMoto) -> None:
    found = scan(iam_moto, iam_moto.user("reader", deny=()))
    assert found["iam-bucket"][UNKNOWN] == {}
    assert found["iam-bucket"]["Tags"] == {"team": "sec"}


def test_iam_denials_make_only_their_fields_unknown(iam_moto: IamMoto) -> None:
    session = iam_moto.user("restricted", deny=("s3:GetBucketTagging", "s3:GetBucketPolicy",
                                                "cloudtrail:GetEventSelectors"))
    found = scan(iam_moto, session)
    bucket = found["iam-bucket"]
    assert bucket[UNKNOWN] == {
        "Tags": "GetBucketTagging denied: AccessDenied",
        "Policy": "GetBucketPolicy denied: AccessDenied",
        "CoveringTrails": "trail iam-trail: cloudtrail:GetEventSelectors denied: HTTP 403",
    }
    assert bucket["Versioning"] == "Enabled" and bucket["Grants"]
    assert set(found["iam-trail"][UNKNOWN]) == {"EventSelectors", "AdvancedEventSelectors"}
    assert found["iam-trail"]["Status"]["IsLogging"] is False  # GetTrailStatus was still allowed
