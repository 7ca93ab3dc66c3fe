"""JSON: {"results": [one object per (policy, resource)], "suppressions": [...], "summary": {...}},
plus "accounts" (how each account was scanned, or why not) for live scans. Every result names its
`account_id` and `region` (null when unknown, e.g. an environment-agnostic template, or the
account itself)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from detectors.common.version import __version__
from policies.runner import Finding, SuppressionUse, summarize


def render_json(findings: Sequence[Finding], threshold: str, suppressions: Sequence[SuppressionUse] = (),
                accounts: Sequence[Mapping[str, Any]] | None = None) -> str:
    # One result per line: readable and diffable, and encoded by json's C encoder (an indented
    # dump of 20,000 results takes seconds in the pure-Python one).
    results = ",\n  ".join(json.dumps(finding.to_dict()) for finding in findings)
    listed = ",\n  ".join(json.dumps(use.to_dict()) for use in suppressions)
    tool = json.dumps({"name": "bucketwatch", "version": __version__})
    summary = summarize(findings, threshold)
    summary["suppressions"] = {"total": len(suppressions), "with_problems": sum(bool(u.problem) for u in suppressions)}
    scanned = "" if accounts is None else f',\n "accounts": {json.dumps(list(accounts))}'
    return (f'{{"tool": {tool},\n "results": [\n  {results}\n ],\n "suppressions": [\n  {listed}\n ],\n'
            f' "summary": {json.dumps(summary)}{scanned}\n}}')
