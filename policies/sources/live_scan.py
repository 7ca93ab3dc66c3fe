"""A live scan end to end: collect resources with the live source, judge them with the runner.

Shared by `bucketwatch scan`, the scheduled posture Lambda and the demo, so all give the same
findings. One call covers one account, several roles, or a whole organization:

    run_live_scan(LiveScanRequest())                                     # the caller's account
    run_live_scan(LiveScanRequest(role_arns=["arn:aws:iam::111111111111:role/Audit"]))
    run_live_scan(LiveScanRequest(organization=True, role_name="BucketwatchAudit"))  # ListAccounts
    run_live_scan(LiveScanRequest(organization=True, role_name="BucketwatchAudit",
                                  organization_accounts=["111111111111", "222222222222"]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from policies.config import PostureSettings
from policies.model import BUCKET_RESOURCE_TYPE
from policies.registry import PolicyDef, policies_for
from policies.runner import Finding, ResourceRef, Subject, evaluate
from policies.sources.live import DEFAULT_WORKERS, AccountScan, ScanStats, collect
from policies.sources.live_clients import (
    Account,
    ClientFactory,
    LiveSourceError,
    accounts_for,
    base_session,
    resolve_endpoint,
)
from policies.sources.live_org import (
    OrganizationAccount,
    caller_identity,
    list_organization_accounts,
    organization_targets,
)
from policies.suppression_tags import tag_suppressions


def subject_of(resource: dict[str, Any]) -> Subject:
    """Live resources are named by ARN in every report (accounts by `AWS::::Account:<id>`)."""
    arn = resource.get("Arn") or resource.get("TrailARN")
    name = arn or resource.get("ResourceId") or resource["Name"]
    region = resource.get("Region") or resource.get("HomeRegion")
    tags = resource.get("Tags") if isinstance(resource.get("Tags"), dict) else None
    ref = ResourceRef(id=name, source="live", name=resource.get("Name"), arn=arn, region=region,
                      account=resource.get("AccountId"), suppressions=tag_suppressions(tags, name))
    return Subject(resource, ref)


@dataclass
class LiveScanRequest:
    regions: list[str] | None = None
    bucket_globs: list[str] | None = None
    profile: str | None = None
    role_arns: list[str] | None = None
    endpoint_url: str | None = None
    workers: int = DEFAULT_WORKERS
    settings: PostureSettings = field(default_factory=PostureSettings)
    policies: list[PolicyDef] | None = None  # default: the settings' pack, built-ins + settings.policy_dirs
    # Organization scans: every ACTIVE account, each through the role `role_name` in it.
    organization: bool = False
    role_name: str | None = None
    # The organization's accounts when already known (the central Lambda's environment);
    # None lists them with AWS Organizations.
    organization_accounts: list[str] | None = None
    # False: an account that cannot be reached is an UNKNOWN finding even when no account could be
    # scanned (the fan-out worker scans one account per invocation); True raises LiveSourceError.
    require_reachable: bool = True


@dataclass
class LiveScanResult:
    findings: list[Finding]
    resources: list[dict[str, Any]]
    stats: ScanStats
    policies: list[PolicyDef]
    settings: PostureSettings  # as used: with the accounts an organization scan listed

    @property
    def bucket_count(self) -> int:
        return sum(r.get("ResourceType") == BUCKET_RESOURCE_TYPE for r in self.resources)

    @property
    def accounts(self) -> list[AccountScan]:
        """Every account the scan tried: how it was reached, or why it was not scanned."""
        return self.stats.per_account


def organization_accounts(request: LiveScanRequest, endpoint: str | None,
                          stats: ScanStats) -> tuple[list[Account], list[str]]:
    """The accounts of an organization scan, and every member's id (any status)."""
    if not request.role_name:
        raise LiveSourceError("an organization scan needs the name of the role to assume in each account")
    session = base_session(request.profile)
    factory = ClientFactory(session, endpoint)
    try:
        partition, caller = caller_identity(factory)
        if request.organization_accounts is not None:
            members = [OrganizationAccount(account) for account in request.organization_accounts]
        else:
            members = list_organization_accounts(factory)
    finally:
        stats.api_calls += factory.counter.total
    targets = organization_targets(session, members, request.role_name, partition, caller)
    if not targets:  # an organization always has an ACTIVE management account
        raise LiveSourceError("AWS Organizations lists no ACTIVE account: the caller's account is not in an "
                              "organization, or not allowed to list it")
    return targets, [member.id for member in members]


def run_live_scan(request: LiveScanRequest, on_bucket: Callable[[int], None] | None = None) -> LiveScanResult:
    """Collect every account's buckets and trails, then judge them with the settings' pack (or `request.policies`).

    An account that cannot be scanned is reported as UNKNOWN (`result.accounts` says why); raises
    `LiveSourceError` when no account can be scanned at all, or the organization cannot be listed.
    """
    policies = request.policies if request.policies is not None else policies_for(request.settings)
    endpoint = resolve_endpoint(request.endpoint_url)
    stats = ScanStats()
    settings = request.settings
    if request.organization:
        accounts, members = organization_accounts(request, endpoint, stats)
        # Every member is inside the organization, whatever the configuration listed.
        settings = replace(settings, organization=settings.organization.with_accounts(members))
    else:
        accounts = accounts_for(request.profile, request.role_arns, endpoint)
    resources = collect(accounts, regions=request.regions, bucket_globs=request.bucket_globs,
                        endpoint_url=endpoint, workers=request.workers, on_bucket=on_bucket, stats=stats,
                        require_reachable=request.require_reachable)
    findings = evaluate(policies, [subject_of(r) for r in resources], settings)
    return LiveScanResult(findings, resources, stats, policies, settings)
