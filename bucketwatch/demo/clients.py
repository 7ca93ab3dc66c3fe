"""boto3 clients bound to one endpoint, created once each."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from bucketwatch.localaws import DEFAULT_REGION, LOCAL_AWS_ENV

SERVICES = frozenset({"s3", "sns", "sqs", "dynamodb", "kms", "cloudtrail", "iam", "sts", "organizations"})
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
    "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    "AWS_SESSION_TOKEN": LOCAL_AWS_ENV["AWS_SESSION_TOKEN"],
}


class Clients:
    """The AWS clients the demo uses (`clients.s3`, `clients.sqs`, ...), all pointed at
    `endpoint_url` with the local fake credentials (moto's default account), whatever the user's
    shell has set; or with `credentials` (environment-variable names to values), e.g. a role
    assumed in another account of the demo organization.

    Clients made by `assume` and `in_region` share one boto3 session (the credentials go to each
    client), so service models are loaded once for the whole organization.
    """

    def __init__(self, endpoint_url: str, region: str = DEFAULT_REGION,
                 credentials: dict[str, str] | None = None, session: boto3.session.Session | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.credentials = dict(credentials or LOCAL_CREDENTIALS)
        self._session = session or boto3.session.Session(region_name=region)

    def credentialed_session(self) -> boto3.session.Session:
        """A boto3 session holding these credentials, for code that makes its own clients."""
        return boto3.session.Session(
            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=self.credentials["AWS_SESSION_TOKEN"],
            region_name=self.region,
        )

    def assume(self, role_arn: str, session_name: str = "bucketwatch-demo", region: str | None = None) -> Clients:
        """Clients acting as `role_arn` (in the role's account: moto's cross-account roles)."""
        creds = self.sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        return Clients(self.endpoint_url, region or self.region, {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"]}, session=self._session)

    def in_region(self, region: str) -> Clients:
        """The same credentials in another region."""
        if region == self.region:
            return self
        return Clients(self.endpoint_url, region, self.credentials, session=self._session)

    def client(self, service: str) -> Any:
        return self._session.client(
            service, endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=self.credentials["AWS_SESSION_TOKEN"],
            config=Config(retries={"mode": "standard", "max_attempts": 3}))

    def __getattr__(self, service: str) -> Any:
        if service not in SERVICES:
            raise AttributeError(service)
        client = self.client(service)
        setattr(self, service, client)  # later lookups find the attribute directly
        return client
