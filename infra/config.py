"""Deployment settings from CDK context (`cdk.json` → `context.bucketwatch`).

    "bucketwatch": {
      "defaults":    { ...settings for every deployment... },
      "deployments": [ {"account": "111111111111", "region": "us-east-1", ...overrides...}, ... ]
    }

With no `deployments`, one deployment is made for the CLI's default account and region
(`CDK_DEFAULT_ACCOUNT` / `CDK_DEFAULT_REGION`), or environment-agnostic when they are unset,
so `cdk synth` works out of the box with no credentials. See docs/infra.md for every setting.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.trail import DataEventScope, ReadWrite

CONTEXT_KEY = "bucketwatch"
KNOWN_SETTINGS = frozenset(
    {
        "account",
        "region",
        "trail",
        "dataEvents",
        "scanRegions",
        "postureSchedule",
        "detectorReservedConcurrency",
        "detectorMemoryMb",
        "pyarrowLayerArn",
        "configFile",
        "objectLockDays",
    }
)
ACCOUNT_RE = re.compile(r"^\d{12}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


class ConfigError(ValueError):
    """Unusable `bucketwatch` context: the message says what is wrong and where."""


@dataclass(frozen=True)
class Deployment:
    account: str | None = None
    region: str | None = None
    trail: bool = True
    data_events: DataEventScope = field(default_factory=DataEventScope.all_buckets)
    scan_regions: tuple[str, ...] = ()
    posture_schedule: str = "rate(1 day)"
    detector_reserved_concurrency: int = 5
    detector_memory_mb: int = 1024
    pyarrow_layer_arn: str | None = None
    config_file: str | None = None
    object_lock_days: int | None = None

    @property
    def stage_id(self) -> str:
        if self.account and self.region:
            return f"Bucketwatch-{self.account}-{self.region}"
        return "Bucketwatch"


def deployments_from_context(context: Mapping[str, Any] | None) -> list[Deployment]:
    context = dict(context or {})
    unknown = sorted(set(context) - {"defaults", "deployments"})
    if unknown:
        raise ConfigError(f"context.{CONTEXT_KEY}: unknown keys {unknown}; expected 'defaults' and 'deployments'")
    defaults = _mapping(context.get("defaults", {}), f"context.{CONTEXT_KEY}.defaults")
    entries = context.get("deployments") or [
        {"account": os.environ.get("CDK_DEFAULT_ACCOUNT"), "region": os.environ.get("CDK_DEFAULT_REGION")}
    ]
    if not isinstance(entries, list):
        raise ConfigError(f"context.{CONTEXT_KEY}.deployments must be a list of {{account, region, ...}}")
    deployments = []
    homes: set[str | None] = set()
    for index, entry in enumerate(entries):
        where = f"context.{CONTEXT_KEY}.deployments[{index}]"
        merged = {**defaults, **_mapping(entry, where)}
        # One trail per account: by default only the account's first listed region gets it.
        merged.setdefault("trail", merged.get("account") not in homes)
        homes.add(merged.get("account"))
        deployments.append(_deployment(merged, where))
    _refuse_duplicates(deployments)
    return deployments


def _deployment(values: Mapping[str, Any], where: str) -> Deployment:
    unknown = sorted(set(values) - KNOWN_SETTINGS)
    if unknown:
        raise ConfigError(f"{where}: unknown settings {unknown}; known: {sorted(KNOWN_SETTINGS)}")
    account, region = values.get("account"), values.get("region")
    if account is not None and not ACCOUNT_RE.match(str(account)):
        raise ConfigError(f"{where}.account: {account!r} is not a 12-digit AWS account id")
    if region is not None and not REGION_RE.match(str(region)):
        raise ConfigError(f"{where}.region: {region!r} is not an AWS region name like us-east-1")
    scan_regions = tuple(values.get("scanRegions", ()))
    for scan_region in scan_regions:
        if not REGION_RE.match(str(scan_region)):
            raise ConfigError(f"{where}.scanRegions: {scan_region!r} is not an AWS region name")
    return Deployment(
        account=str(account) if account else None,
        region=str(region) if region else None,
        trail=_bool(values.get("trail", True), f"{where}.trail"),
        data_events=_data_events(values.get("dataEvents", {}), f"{where}.dataEvents"),
        scan_regions=scan_regions,
        posture_schedule=_schedule(values.get("postureSchedule", "rate(1 day)"), f"{where}.postureSchedule"),
        detector_reserved_concurrency=_int(values.get("detectorReservedConcurrency", 5), f"{where}.detectorReservedConcurrency", 1, 1000),
        detector_memory_mb=_int(values.get("detectorMemoryMb", 1024), f"{where}.detectorMemoryMb", 128, 10240),
        pyarrow_layer_arn=values.get("pyarrowLayerArn"),
        config_file=values.get("configFile"),
        object_lock_days=(
            _int(values["objectLockDays"], f"{where}.objectLockDays", 1, 365)
            if values.get("objectLockDays") is not None
            else None
        ),
    )


def _data_events(value: Any, where: str) -> DataEventScope:
    value = _mapping(value, where)
    unknown = sorted(set(value) - {"buckets", "readWrite"})
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; expected 'buckets' and 'readWrite'")
    choices = {rw.value: rw for rw in ReadWrite}
    read_write = value.get("readWrite", "all")
    if read_write not in choices:
        raise ConfigError(f"{where}.readWrite: {read_write!r} is not one of {sorted(choices)}")
    buckets = value.get("buckets", [])
    if not isinstance(buckets, list) or not all(isinstance(b, str) and b.strip("/") for b in buckets):
        raise ConfigError(f"{where}.buckets must be a list of bucket names or bucket/prefix strings")
    if buckets:
        return DataEventScope.buckets(buckets, choices[read_write])
    return DataEventScope.all_buckets(choices[read_write])


def _schedule(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.match(r"^(rate|cron)\(.+\)$", value):
        raise ConfigError(f"{where}: {value!r} is not an EventBridge expression like 'rate(1 day)' or 'cron(0 6 * * ? *)'")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be an object, got {type(value).__name__}")
    return dict(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _refuse_duplicates(deployments: list[Deployment]) -> None:
    seen: set[str] = set()
    for deployment in deployments:
        if deployment.stage_id in seen:
            raise ConfigError(f"context.{CONTEXT_KEY}.deployments lists {deployment.stage_id} twice")
        seen.add(deployment.stage_id)
