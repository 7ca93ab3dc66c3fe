"""A live scan end to end: collect resources with the live source, judge them with the runner.

Shared by `bucketwatch scan` and the scheduled posture Lambda, so both give the same findings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from policies.config import PostureSettings
from policies.model import TRAIL_RESOURCE_TYPE
from policies.registry import PolicyDef, policies_for
from policies.runner import Finding, ResourceRef, Subject, evaluate
from policies.sources.live import DEFAULT_WORKERS, ScanStats, collect
from policies.sources.live_clients import accounts_for, resolve_endpoint


def subject_of(resource: dict[str, Any]) -> Subject:
    """Live resources are named by ARN in every report."""
    arn = resource.get("Arn") or resource.get("TrailARN") or resource["Name"]
    region = resource.get("Region") or resource.get("HomeRegion")
    ref = ResourceRef(id=arn, source="live", name=resource.get("Name"), arn=arn, region=region,
                      account=resource.get("AccountId"))
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


@dataclass
class LiveScanResult:
    findings: list[Finding]
    resources: list[dict[str, Any]]
    stats: ScanStats
    policies: list[PolicyDef]

    @property
    def bucket_count(self) -> int:
        return sum(r.get("ResourceType") != TRAIL_RESOURCE_TYPE for r in self.resources)


def run_live_scan(request: LiveScanRequest, on_bucket: Callable[[int], None] | None = None) -> LiveScanResult:
    """Collect every account's buckets and trails, then judge them with every enabled policy.

    Raises `LiveSourceError` when an account cannot be scanned at all.
    """
    policies = request.policies if request.policies is not None else policies_for(request.settings)
    endpoint = resolve_endpoint(request.endpoint_url)
    accounts = accounts_for(request.profile, request.role_arns, endpoint)
    stats = ScanStats()
    resources = collect(accounts, regions=request.regions, bucket_globs=request.bucket_globs,
                        endpoint_url=endpoint, workers=request.workers, on_bucket=on_bucket, stats=stats)
    findings = evaluate(policies, [subject_of(r) for r in resources], request.settings)
    return LiveScanResult(findings, resources, stats, policies)
