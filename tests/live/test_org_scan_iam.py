"""An organization scan against a moto server that enforces IAM: real 403 answers over HTTP.

The organization is built with authorization off, then moto starts enforcing (`/moto-api/
reset-auth`). The central scanner is an IAM user of the management account; each member's
`BucketwatchAudit` role holds only read permissions, and the scan reads the members' buckets
through it. moto checks the caller's own policies on sts:AssumeRole but not the target account's
trust policy, so "m1 does not trust the scanner" and "the management account has no audit role"
are written as Deny statements on the scanner: moto answers AssumeRole with AccessDenied, as AWS
does for an untrusted or missing role.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from org_world import AUDIT_ROLE, OrgWorld, assumed, build_organization

from bucketwatch.localaws import LOCAL_AWS_ENV, MotoServer
from policies.sources.live_scan import LiveScanRequest, run_live_scan

pytestmark = pytest.mark.xdist_group("moto-iam-org")

READ_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
    "s3:Get*", "s3:List*", "cloudtrail:DescribeTrails", "cloudtrail:GetEventSelectors", "cloudtrail:GetTrailStatus"],
    "Resource": "*"}]}


def trust(account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]})


def scanner_policy(world: OrgWorld) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["organizations:ListAccounts", "sts:AssumeRole", "s3:Get*", "s3:List*",
                                       "cloudtrail:Describe*", "cloudtrail:Get*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "sts:AssumeRole",
         "Resource": [world.role_arn("m1"), world.role_arn("management")]}]})


@pytest.fixture(scope="module")
def enforced() -> Iterator[tuple[OrgWorld, dict[str, str]]]:
    with MotoServer() as server, pytest.MonkeyPatch.context() as patch:
        for key, value in server.env().items():
            patch.setenv(key, value)
        world = build_organization()
        for name in world.members:
            iam = assumed(world.role_arn(name, "OrganizationAccountAccessRole")).client("iam")
            iam.create_role(RoleName=AUDIT_ROLE, AssumeRolePolicyDocument=trust(world.management))
            iam.put_role_policy(RoleName=AUDIT_ROLE, PolicyName="read", PolicyDocument=json.dumps(READ_ONLY))
        iam = boto3.client("iam")
        iam.create_user(UserName="central-scanner")
        iam.put_user_policy(UserName="central-scanner", PolicyName="scan", PolicyDocument=scanner_policy(world))
        key = iam.create_access_key(UserName="central-scanner")["AccessKey"]
        request = urllib.request.Request(f"{server.endpoint_url}/moto-api/reset-auth", data=b"0", method="POST",
                                         headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(request, timeout=10).close()  # from now on every call is authorized
        credentials = {**LOCAL_AWS_ENV, "AWS_ENDPOINT_URL": server.endpoint_url,
                       "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        del credentials["AWS_SESSION_TOKEN"]
        yield world, credentials


def test_untrusted_member_is_unknown_and_the_others_are_read_through_their_roles(enforced, monkeypatch) -> None:
    world, credentials = enforced
    for key, value in credentials.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    result = run_live_scan(LiveScanRequest(organization=True, role_name=AUDIT_ROLE))
    by_id = {a.account_id: a for a in result.accounts}
    m0, m1, m2 = (world.members[name] for name in ("m0", "m1", "m2"))
    assert by_id[m0].access == f"role {world.role_arn('m0')}" and by_id[m2].error is None
    assert by_id[m1].error == (f"cannot assume role {world.role_arn('m1')}: AccessDenied: User: "
                               f"arn:aws:iam::{world.management}:user/central-scanner is not authorized to perform: "
                               "sts:AssumeRole")
    own = by_id[world.management]
    assert own.error is None and own.access.startswith(
        f"the caller's credentials (cannot assume role {world.role_arn('management')}: AccessDenied")
    buckets = {r["Name"]: (r["AccountId"], r["Region"]) for r in result.resources if r["ResourceType"] == "AWS.S3.Bucket"}
    assert buckets == {b: where for b, where in world.buckets.items() if where[0] != m1}
    # Read-only roles read everything the policies need: no UNKNOWN but the untrusted member's.
    unknown = [(f.policy.id, f.ref.account) for f in result.findings if f.status == "UNKNOWN"]
    assert unknown == [("BW.S3.AccountPublicAccessBlock", m1)]
