#!/usr/bin/env python3
"""A deliberately insecure CDK app: what a failing Bucketwatch gate looks like.

    python examples/insecure_app.py        # or: npx cdk synth --app "python3 examples/insecure_app.py"

One stack in account 111111111111, two buckets a hurried team might write:

- `Website`: public reads through a bucket policy, public access block off, no versioning,
  no server access logging, plain HTTP allowed.
- `Uploads`: private, but an uploader role may write to it over plain HTTP, a partner's
  account (not on any allowlist) may read it, and it has no versioning or logging either.

Synthesis fails with the findings of both validation plugins (Bucketwatch's own posture policies
and cdk-nag's AwsSolutions pack) and writes them to cdk.out/validation-report.json.
tests/infra/test_example.py asserts exactly which rules fail on which construct.
"""

from __future__ import annotations

import os
import sys

from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from infra.app import add_validation_plugins, synthesize

OWN_ACCOUNT = "111111111111"
PARTNER_ACCOUNT = "222222222222"


class InsecureStack(Stack):
    def __init__(self, scope: App, construct_id: str) -> None:
        # A concrete account: whether a principal is cross-account can be told at synth time.
        super().__init__(scope, construct_id, env=Environment(account=OWN_ACCOUNT, region="us-east-1"))
        website = s3.Bucket(
            self,
            "Website",
            public_read_access=True,
            block_public_access=s3.BlockPublicAccess(
                block_public_acls=False, block_public_policy=False, ignore_public_acls=False, restrict_public_buckets=False
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        assert website.policy is not None
        uploads = s3.Bucket(self, "Uploads", block_public_access=s3.BlockPublicAccess.BLOCK_ALL)
        # An app role may write; the policy says nothing about TLS.
        uploads.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ArnPrincipal(f"arn:aws:iam::{OWN_ACCOUNT}:role/uploader")],
                actions=["s3:PutObject"],
                resources=[uploads.arn_for_objects("*")],
            )
        )
        # Every principal of the partner's account may read every upload.
        uploads.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.AccountPrincipal(PARTNER_ACCOUNT)],
                actions=["s3:GetObject"],
                resources=[uploads.arn_for_objects("*")],
            )
        )


def main() -> int:
    app = App(outdir=None if os.environ.get("CDK_OUTDIR") else "cdk.out")
    InsecureStack(app, "InsecureExample")
    add_validation_plugins(app)
    # Exit 1 with one line per finding (and where the full report is), as app.py does.
    return synthesize(app, sys.stderr, name="insecure example")


if __name__ == "__main__":
    sys.exit(main())
