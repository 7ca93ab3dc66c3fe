"""SARIF 2.1.0 for code scanning: one rule per policy, one result per problem.

FAIL → kind "fail" with a level from the severity; UNKNOWN → kind "review"; SUPPRESSED → the
underlying result with a `suppressions` entry (inSource for template metadata and CDK
acknowledgements, external for the configuration file) carrying the written reason, owner and
expiry. Results point at the user's code where CDK recorded it (a construct's creation stack
trace), else at the template file and line; the template location is then kept as a related
location, and the construct path (or logical id) is always the logical location. Their
properties name the account and region (null when unknown). Suppressions with a problem
(unused, expired, naming no policy) are tool configuration notifications.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from detectors.common.version import __version__
from policies.config import CONFIG, Suppression
from policies.runner import FAIL, SUPPRESSED, UNKNOWN, Finding, SuppressionUse

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


def _physical(file: str, line: int | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": PurePath(file).as_posix()}}
    if line:
        physical["region"] = {"startLine": line}
    return physical


def _locations(finding: Finding) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the location, related locations): the user's source when known, else the template."""
    ref = finding.ref
    location: dict[str, Any] = {}
    related = []
    if ref.source_file:
        location["physicalLocation"] = _physical(ref.source_file, ref.source_line)
        if ref.file:
            related.append({"id": 1, "physicalLocation": _physical(ref.file, ref.line),
                            "message": {"text": f"{ref.logical_id or ref.id} in the synthesized template"}})
    elif ref.file:
        location["physicalLocation"] = _physical(ref.file, ref.line)
    logical = {"name": ref.logical_id or ref.name or ref.id, "fullyQualifiedName": ref.construct_path or ref.arn or ref.id,
               "kind": "resource"}
    location["logicalLocations"] = [logical]
    return location, related


def _suppression(suppression: Suppression) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": "external" if suppression.origin == CONFIG else "inSource",
                             "status": "accepted", "justification": suppression.reason,
                             "properties": {"origin": suppression.origin, "where": suppression.where}}
    if suppression.owner:
        entry["properties"]["owner"] = suppression.owner
    if suppression.expires:
        entry["properties"]["expires"] = suppression.expires.isoformat()
    return entry


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    location, related = _locations(finding)
    result: dict[str, Any] = {
        "ruleId": finding.policy.id,
        "ruleIndex": rule_index,
        "message": {"text": f"{finding.ref.id}: {finding.reason}"},
        "locations": [location],
        "partialFingerprints": {"bucketwatch/v1": f"{finding.policy.id}|{finding.ref.id}"},
        "properties": {"status": finding.status, "severity": finding.severity, "source": finding.ref.source,
                       "account_id": finding.ref.account, "region": finding.ref.region},
    }
    if related:
        result["relatedLocations"] = related
    if finding.verdict == UNKNOWN:
        result.update(kind="review", level="none")
    else:
        result.update(kind="fail", level=LEVELS[finding.severity])
    if finding.status == SUPPRESSED and finding.suppression:
        result["suppressions"] = [_suppression(finding.suppression)]
    return result


def _notifications(suppressions: Sequence[SuppressionUse]) -> list[dict[str, Any]]:
    return [{"descriptor": {"id": "suppression"}, "level": "warning",
             "message": {"text": f"suppression of {use.suppression.policy} ({use.suppression.where}): {use.problem}"}}
            for use in suppressions if use.problem]


def render_sarif(findings: Sequence[Finding], threshold: str, suppressions: Sequence[SuppressionUse] = ()) -> str:
    policies = sorted({f.policy.id: f.policy for f in findings}.values(), key=lambda p: p.id)
    index = {policy.id: i for i, policy in enumerate(policies)}
    results = [_result(f, index[f.policy.id]) for f in findings if f.status in (FAIL, UNKNOWN, SUPPRESSED)]
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "bucketwatch", "version": __version__, "rules": [_rule(p) for p in policies]}},
            "invocations": [{"executionSuccessful": True,
                             "toolConfigurationNotifications": _notifications(suppressions)}],
            "results": results,
            "columnKind": "unicodeCodePoints",
            "properties": {"failOn": threshold.lower()},
        }],
    }
    return json.dumps(document, indent=2)
