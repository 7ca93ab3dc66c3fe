"""Which accounts an organization scan reaches, and through which role.

The accounts come from AWS Organizations (`ListAccounts`, every page; only ACTIVE accounts are
scanned, suspended ones are still members of the organization) or are given (the central
posture Lambda reads them from ``BUCKETWATCH_ORGANIZATION``, since only the management account
or a delegated administrator may call ListAccounts). Each account is reached through the role
`role_name` in it; the caller's own account too when that role can be assumed, else with the
caller's own credentials (reports say which).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from policies.sources.live_clients import Account, ClientFactory, LiveSourceError, describe_error

ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class OrganizationAccount:
    id: str
    name: str | None = None
    status: str = ACTIVE


def list_organization_accounts(factory: ClientFactory) -> list[OrganizationAccount]:
    """Every account AWS Organizations lists (all statuses), in its order."""
    client = factory.client("organizations")
    try:
        pages = client.get_paginator("list_accounts").paginate()
        return [OrganizationAccount(a["Id"], a.get("Name"), a.get("Status", ACTIVE))
                for page in pages for a in page.get("Accounts", [])]
    except (ClientError, BotoCoreError) as exc:
        raise LiveSourceError(f"cannot list the organization's accounts (organizations:ListAccounts): "
                              f"{describe_error(exc)}") from exc


def caller_identity(factory: ClientFactory) -> tuple[str, str]:
    """(partition, account id) of the credentials the scan starts from."""
    try:
        arn = factory.client("sts").get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError) as exc:
        raise LiveSourceError(f"cannot identify the caller (sts:GetCallerIdentity): {describe_error(exc)}") from exc
    parts = arn.split(":")
    return parts[1], parts[4]


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    # A role name may carry a path ("audit/BucketwatchAudit"): it goes between role/ and the name.
    return f"arn:{partition}:iam::{account_id}:role/{role_name.strip('/')}"


def organization_targets(session: boto3.Session, members: Iterable[OrganizationAccount], role_name: str,
                         partition: str, caller_account: str) -> list[Account]:
    """One Account per ACTIVE member, each reached through `role_name` in it."""
    targets = []
    for member in members:
        if member.status != ACTIVE:
            continue
        arn = role_arn(partition, member.id, role_name)
        own = member.id == caller_account
        label = f"account {member.id}" + (" (the caller's own)" if own else "")
        targets.append(Account(None, label, role_arn=arn, via=session, fallback=own, account_id=member.id,
                               name=member.name))
    return targets
