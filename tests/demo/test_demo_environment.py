"""One process plays several accounts' Lambda functions in the demo: each function's block of
environment variables must be what boto3 uses, even after another account's block created boto3's
default session (which keeps the credentials it first resolved, as a Lambda process does)."""

from __future__ import annotations

import boto3

from bucketwatch.demo.detection import environment

MEMBER = "222222222222"
CENTRAL = "333333333333"


def _role_credentials(account: str) -> dict[str, str]:
    granted = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/function",
                                              RoleSessionName="demo")["Credentials"]
    return {"AWS_ACCESS_KEY_ID": granted["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": granted["SecretAccessKey"],
            "AWS_SESSION_TOKEN": granted["SessionToken"]}


def _account_seen_by_default_session() -> str:
    return boto3.client("sts").get_caller_identity()["Account"]


def test_each_functions_block_uses_its_own_credentials(aws_endpoint):
    member, central = _role_credentials(MEMBER), _role_credentials(CENTRAL)
    with environment(member):
        assert _account_seen_by_default_session() == MEMBER
    with environment(central):
        assert _account_seen_by_default_session() == CENTRAL
    with environment(member):
        assert _account_seen_by_default_session() == MEMBER
