"""Helpers for the live-source tests: every test talks HTTP to moto (the `aws_endpoint` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from policies.model import ACCOUNT_RESOURCE_TYPE
from policies.sources.live import collect
from policies.sources.live_clients import Account, accounts_for


def refuse_operation(session: boto3.Session, operation: str, service: str = "s3", code: str = "AccessDenied") -> None:
    """Make `operation` fail for real on clients made from `session` afterwards: the call is
    answered by an error before it is sent; every other call still goes to moto over HTTP."""

    def refuse(model: Any = None, **_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "Access Denied"}}, model.name)

    session.events.register(f"before-call.{service}.{operation}", refuse)


@pytest.fixture
def live_scan(aws_endpoint: str) -> Callable[..., dict[str, dict[str, Any]]]:
    """Run the live source against moto; returns bucket and trail resources keyed by Name (the
    account's own resource too, under `AWS::::Account:<id>`, with `with_account=True`).
    `denied` lists (service, operation) or (service, operation, error code) to refuse."""

    def run(denied: tuple[tuple[str, ...], ...] = (), accounts: list[Account] | None = None,
            with_account: bool = False, **options: Any) -> dict[str, dict[str, Any]]:
        accounts = accounts or accounts_for(None, None, aws_endpoint)
        for account in accounts:
            for service, operation, *code in denied:
                refuse_operation(account.session, operation, service, *code)
        resources = collect(accounts, endpoint_url=aws_endpoint, **options)
        return {r["ResourceId"] if r["ResourceType"] == ACCOUNT_RESOURCE_TYPE else r["Name"]: r
                for r in resources if with_account or r["ResourceType"] != ACCOUNT_RESOURCE_TYPE}

    return run


@pytest.fixture
def deny() -> Callable[..., None]:
    """`deny(session, operation, service="s3", code="AccessDenied")` for tests that build accounts."""
    return refuse_operation
