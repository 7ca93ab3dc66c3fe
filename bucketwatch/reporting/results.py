"""Helpers over alert messages and posture results (plain dicts, as sinks and reporters emit them)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from detectors.common.severity import SEVERITIES, sort_rank

SEVERITY_ORDER = tuple(reversed(SEVERITIES))  # worst first, as reports list them
STATUS_ORDER = ("FAIL", "UNKNOWN", "SUPPRESSED", "PASS", "NOT_APPLICABLE")
NO_ACCOUNT = "(account unknown)"


def alert_rule(alert: dict[str, Any]) -> str:
    return str(alert.get("rule_id") or alert.get("policy") or alert.get("policy_id") or "?")


def resource_name(result: dict[str, Any]) -> str:
    """Bucket (or trail) name from a posture result's resource, ARN or plain name."""
    resource = str(result.get("resource") or "?")
    if resource.startswith("arn:aws:s3:::"):
        return resource.removeprefix("arn:aws:s3:::")
    if ":trail/" in resource:
        return "trail/" + resource.split(":trail/", 1)[1]
    return resource


def severity_rank(severity: str | None) -> int:
    """Sort key: worst first, unknown severities last."""
    return sort_rank(severity)


def result_account(result: dict[str, Any]) -> str:
    return str(result.get("account_id") or result.get("p_account_id") or NO_ACCOUNT)


def alert_account(alert: dict[str, Any]) -> str:
    return str(alert.get("account_id") or (alert.get("context") or {}).get("account_id") or NO_ACCOUNT)


def failures(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in results if r.get("status") == "FAIL"]


def failures_by_bucket(results: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in failures(results):
        out[resource_name(result)].append(result)
    return dict(sorted(out.items()))


def by_account(alerts: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary row per account: alerts by severity, resources, failures by severity."""
    rows: dict[str, dict[str, Any]] = {}

    def row(account: str) -> dict[str, Any]:
        return rows.setdefault(account, {"account": account, "alerts": Counter(), "failures": Counter(),
                                         "resources": set(), "unknown": 0})

    for alert in alerts:
        row(alert_account(alert))["alerts"][str(alert.get("severity", "Info")).capitalize()] += 1
    for result in results:
        entry = row(result_account(result))
        entry["resources"].add(resource_name(result))
        if result.get("status") == "FAIL":
            entry["failures"][str(result.get("severity", "Info")).capitalize()] += 1
        elif result.get("status") == "UNKNOWN":
            entry["unknown"] += 1
    return sorted(rows.values(), key=lambda r: (-_weight(r["failures"]) - _weight(r["alerts"]), r["account"]))


def _weight(counts: Counter[str]) -> int:
    """Worse severities outweigh any number of milder ones (for ordering only)."""
    return sum(n * 1000 ** (len(SEVERITY_ORDER) - 1 - sort_rank(s)) for s, n in counts.items())
