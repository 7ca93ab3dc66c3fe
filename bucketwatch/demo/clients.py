"""boto3 clients bound to one endpoint, created once each."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from bucketwatch.localaws import DEFAULT_REGION, LOCAL_AWS_ENV

SERVICES = frozenset({"s3", "sns", "sqs", "dynamodb", "kms", "cloudtrail"})


class Clients:
    """The AWS clients the demo uses (`clients.s3`, `clients.sqs`, ...), all pointed at
    `endpoint_url` with the local fake credentials, whatever the user's shell has set."""

    def __init__(self, endpoint_url: str, region: str = DEFAULT_REGION) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._session = boto3.session.Session(
            aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=LOCAL_AWS_ENV["AWS_SESSION_TOKEN"],
            region_name=region,
        )

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.endpoint_url,
                                    config=Config(retries={"mode": "standard", "max_attempts": 3}))

    def __getattr__(self, service: str) -> Any:
        if service not in SERVICES:
            raise AttributeError(service)
        client = self.client(service)
        setattr(self, service, client)  # later lookups find the attribute directly
        return client
