"""A small AWS organization on moto (server mode, over HTTP): the management account (moto's
default, 123456789012) creates the organization and three members with AWS Organizations, then
reaches each member through an assumed role (moto: an assumed role's credentials act in the
role's account) to create its buckets in several regions.

    m0  us-east-1, eu-west-1       one bucket world-readable, one shared with m1 and an outsider
    m1  us-east-1, ap-southeast-2
    m2  eu-west-1                  the member whose audit role is not trusted (tests decide how)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import boto3
from botocore.exceptions import ClientError

from bucketwatch.localaws import MOTO_ACCOUNT_ID

AUDIT_ROLE = "BucketwatchAudit"
SETUP_ROLE = "OrganizationAccountAccessRole"  # what Organizations creates in every new member
OUTSIDER = "999988887777"
LAYOUT = {"m0": ("us-east-1", "eu-west-1"), "m1": ("us-east-1", "ap-southeast-2"), "m2": ("eu-west-1",)}
PUBLIC_READ = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'


@dataclass
class OrgWorld:
    management: str = MOTO_ACCOUNT_ID
    members: dict[str, str] = field(default_factory=dict)  # name -> account id
    buckets: dict[str, tuple[str, str]] = field(default_factory=dict)  # bucket -> (account, region)

    def role_arn(self, name: str, role: str = AUDIT_ROLE) -> str:
        account = self.management if name == "management" else self.members[name]
        return f"arn:aws:iam::{account}:role/{role}"

    def buckets_of(self, account: str) -> set[str]:
        return {b for b, (owner, _) in self.buckets.items() if owner == account}

    @property
    def world_readable(self) -> str:
        return f"m0-public-{self.members['m0']}"

    @property
    def shared(self) -> str:
        return f"m0-shared-{self.members['m0']}"


def assumed(role_arn: str) -> boto3.Session:
    creds = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="org-setup")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])


def create_bucket(session: boto3.Session, name: str, region: str) -> None:
    options = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    session.client("s3", region_name=region).create_bucket(Bucket=name, **options)


def build_organization() -> OrgWorld:
    world = OrgWorld()
    organizations = boto3.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    for name in LAYOUT:
        status = organizations.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        world.members[name] = status["AccountId"]
    for name, regions in LAYOUT.items():
        account = world.members[name]
        session = assumed(world.role_arn(name, SETUP_ROLE))
        for region in regions:
            bucket = f"{name}-{region}-{account}"
            create_bucket(session, bucket, region)
            world.buckets[bucket] = (account, region)
    m0 = assumed(world.role_arn("m0", SETUP_ROLE))
    for bucket in (world.world_readable, world.shared):
        create_bucket(m0, bucket, "eu-west-1")
        world.buckets[bucket] = (world.members["m0"], "eu-west-1")
    m0.client("s3", region_name="eu-west-1").put_bucket_acl(Bucket=world.world_readable, GrantRead=PUBLIC_READ)
    m0.client("s3", region_name="eu-west-1").put_bucket_policy(Bucket=world.shared, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": world.role_arn("m1", "etl")}, "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{world.shared}/*"},
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDER}:root"}, "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{world.shared}/*"}]}))
    create_bucket(boto3.Session(), f"management-logs-{world.management}", "us-east-1")
    world.buckets[f"management-logs-{world.management}"] = (world.management, "us-east-1")
    return world


def refuse_roles(monkeypatch, role_arns: set[str]) -> None:
    """AssumeRole of these roles is answered as AWS answers for a role that is missing or does not
    trust the caller (moto assumes any role: it does not check the target account's trust
    policy); the call is refused before it is sent, every other call reaches moto over HTTP."""
    original = boto3.Session.__init__

    def refuse(params: dict, **_) -> None:  # the API parameters, before they are serialized
        if params.get("RoleArn") in role_arns:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": (
                f"User: arn:aws:sts::{MOTO_ACCOUNT_ID}:user/moto is not authorized to perform: sts:AssumeRole "
                f"on resource: {params['RoleArn']}")}}, "AssumeRole")

    def session_with_refusal(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.events.register("before-parameter-build.sts.AssumeRole", refuse)

    monkeypatch.setattr(boto3.Session, "__init__", session_with_refusal)
