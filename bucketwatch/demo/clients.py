"""boto3 clients bound to one endpoint, created once each."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from bucketwatch.localaws import DEFAULT_REGION, LOCAL_AWS_ENV


class Clients:
    """The AWS clients the demo uses, all pointed at `endpoint_url` with the local credentials."""

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

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def sns(self) -> Any:
        return self.client("sns")

    @cached_property
    def sqs(self) -> Any:
        return self.client("sqs")

    @cached_property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @cached_property
    def kms(self) -> Any:
        return self.client("kms")

    @cached_property
    def cloudtrail(self) -> Any:
        return self.client("cloudtrail")
