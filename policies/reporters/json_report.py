"""JSON: {"results": [one object per (policy, resource)], "summary": {...}}."""

from __future__ import annotations

import json
from collections.abc import Sequence

from detectors.common.version import __version__
from policies.runner import Finding, summarize


def render_json(findings: Sequence[Finding], threshold: str) -> str:
    # One result per line: readable and diffable, and encoded by json's C encoder (an indented
    # dump of 20,000 results takes seconds in the pure-Python one).
    results = ",\n  ".join(json.dumps(finding.to_dict()) for finding in findings)
    tool = json.dumps({"name": "bucketwatch", "version": __version__})
    summary = json.dumps(summarize(findings, threshold))
    return f'{{"tool": {tool},\n "results": [\n  {results}\n ],\n "summary": {summary}\n}}'
