"""SARIF 2.1.0 for code scanning: one rule per policy, one result per problem.

FAIL → kind "fail" with a level from the severity; UNKNOWN → kind "review"; SUPPRESSED → the
underlying result with a `suppressions` entry (inSource for template metadata, external for
the configuration file) carrying the written reason. Results point at the template file and
line when known, and name the logical id and construct path as logical locations; their
properties name the account and region (null when unknown).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from detectors.common.version import __version__
from policies.runner import FAIL, SUPPRESSED, UNKNOWN, Finding

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"Critical": "error", "High": "error", "Medium": "warning", "Low": "note", "Info": "note"}
SECURITY_SEVERITY = {"Critical": "9.5", "High": "8.0", "Medium": "5.5", "Low": "3.0", "Info": "0.0"}


def _rule(policy: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": policy.id,
        "shortDescription": {"text": policy.title},
        "fullDescription": {"text": " ".join(policy.description.split()) or policy.title},
        "help": {"text": " ".join(policy.remediation.split()) or policy.title},
        "defaultConfiguration": {"level": LEVELS[policy.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[policy.severity],
            "tags": ["security", "s3", *(f"{k} {v}" for k, vs in policy.reports.items() for v in vs)],
            "panther_id": policy.panther_id,
        },
    }
    if policy.reference.startswith("http"):
        rule["helpUri"] = policy.reference
    return rule


def _location(finding: Finding) -> dict[str, Any]:
    ref = finding.ref
    location: dict[str, Any] = {}
    if ref.file:
        physical: dict[str, Any] = {"artifactLocation": {"uri": PurePath(ref.file).as_posix()}}
        if ref.line:
            physical["region"] = {"startLine": ref.line}
        location["physicalLocation"] = physical
    logical = {"name": ref.logical_id or ref.name or ref.id, "fullyQualifiedName": ref.construct_path or ref.arn or ref.id,
               "kind": "resource"}
    location["logicalLocations"] = [logical]
    return location


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.policy.id,
        "ruleIndex": rule_index,
        "message": {"text": f"{finding.ref.id}: {finding.reason}"},
        "locations": [_location(finding)],
        "partialFingerprints": {"bucketwatch/v1": f"{finding.policy.id}|{finding.ref.id}"},
        "properties": {"status": finding.status, "severity": finding.severity, "source": finding.ref.source,
                       "account_id": finding.ref.account, "region": finding.ref.region},
    }
    if finding.verdict == UNKNOWN:
        result.update(kind="review", level="none")
    else:
        result.update(kind="fail", level=LEVELS[finding.severity])
    if finding.status == SUPPRESSED and finding.suppression:
        origin = "inSource" if finding.suppression.origin == "resource metadata" else "external"
        result["suppressions"] = [{"kind": origin, "status": "accepted", "justification": finding.suppression.reason}]
    return result


def render_sarif(findings: Sequence[Finding], threshold: str) -> str:
    policies = sorted({f.policy.id: f.policy for f in findings}.values(), key=lambda p: p.id)
    index = {policy.id: i for i, policy in enumerate(policies)}
    results = [_result(f, index[f.policy.id]) for f in findings if f.status in (FAIL, UNKNOWN, SUPPRESSED)]
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "bucketwatch", "version": __version__, "rules": [_rule(p) for p in policies]}},
            "results": results,
            "columnKind": "unicodeCodePoints",
            "properties": {"failOn": threshold.lower()},
        }],
    }
    return json.dumps(document, indent=2)
