"""JSON: {"results": [one object per (policy, resource)], "suppressions": [...], "summary": {...}},
plus "accounts" (how each account was scanned, or why not) for live scans. Every result names its
`account_id` and `region` (null when unknown, e.g. an environment-agnostic template, or the
account itself)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from detectors.common.version import __version__
from policies.registry import PolicyDef
from policies.runner import FAIL, Finding, ResourceRef, SuppressionUse, summarize


class _ResultEncoder:
    """`json.dumps(finding.to_dict())`, with the parts a finding shares with others encoded once:
    its policy's (id, panther id, title, severity, remediation) and its resource's (name, ARN,
    file, ...; each resource has a finding per policy). At 10,000 buckets a report has 150,000
    results and 120 MB, and encoding every field of each was a fifth of `check`'s time.
    tests/policies/test_json_report.py holds it equal to the plain encoding, key for key."""

    def __init__(self) -> None:
        self._policies: dict[int, tuple[PolicyDef, str, str, str]] = {}
        self._refs: dict[int, tuple[ResourceRef, str, str]] = {}
        self._texts: dict[Any, str] = {}

    def _text(self, value: Any) -> str:
        text = self._texts.get(value)
        if text is None:
            text = self._texts[value] = json.dumps(value)
        return text

    def _policy(self, policy: PolicyDef) -> tuple[PolicyDef, str, str, str]:
        cached = self._policies.get(id(policy))
        if cached is None:  # the policy is kept in the entry, so its id is not reused
            head = json.dumps({"policy": policy.id, "panther_id": policy.panther_id, "title": policy.title})[1:-1]
            cached = self._policies[id(policy)] = (policy, head, json.dumps(policy.severity),
                                                   json.dumps(policy.remediation))
        return cached

    def _ref(self, ref: ResourceRef) -> tuple[ResourceRef, str, str]:
        cached = self._refs.get(id(ref))
        if cached is None:
            where = json.dumps({
                "source": ref.source, "name": ref.name, "arn": ref.arn, "logical_id": ref.logical_id,
                "construct_path": ref.construct_path, "stack": ref.stack, "file": ref.file, "line": ref.line,
                "source_file": ref.source_file, "source_line": ref.source_line, "region": ref.region,
                "account_id": ref.account})[1:-1]
            cached = self._refs[id(ref)] = (ref, json.dumps(ref.id), where)
        return cached

    def encode(self, finding: Finding) -> str:
        policy = finding.policy
        _, head, severity, remediation = self._policy(policy)
        _, resource, where = self._ref(finding.ref)
        suppression = finding.suppression
        return (f'{{{head}, "resource": {resource}, '
                f'"resource_type": {self._text(finding.resource_type or policy.resource_types[0])}, '
                f'"status": {self._text(finding.status)}, "severity": {severity}, '
                f'"reason": {self._text(finding.reason)}, '
                f'"remediation": {remediation if finding.verdict == FAIL else "null"}, {where}, '
                f'"verdict": {self._text(finding.verdict)}, '
                f'"suppression": {json.dumps(suppression.to_dict()) if suppression else "null"}}}')


def render_json(findings: Sequence[Finding], threshold: str, suppressions: Sequence[SuppressionUse] = (),
                accounts: Sequence[Mapping[str, Any]] | None = None) -> str:
    # One result per line: readable and diffable, and encoded by json's C encoder (an indented
    # dump of 20,000 results takes seconds in the pure-Python one).
    results = ",\n  ".join(map(_ResultEncoder().encode, findings))
    listed = ",\n  ".join(json.dumps(use.to_dict()) for use in suppressions)
    tool = json.dumps({"name": "bucketwatch", "version": __version__})
    summary = summarize(findings, threshold)
    summary["suppressions"] = {"total": len(suppressions), "with_problems": sum(bool(u.problem) for u in suppressions)}
    scanned = "" if accounts is None else f',\n "accounts": {json.dumps(list(accounts))}'
    return (f'{{"tool": {tool},\n "results": [\n  {results}\n ],\n "suppressions": [\n  {listed}\n ],\n'
            f' "summary": {json.dumps(summary)}{scanned}\n}}')
