"""JSON: {"results": [one object per (policy, resource)], "summary": {...}}."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bucketwatch import __version__
from policies.runner import Finding, summarize


def render_json(findings: Sequence[Finding], threshold: str) -> str:
    document = {
        "tool": {"name": "bucketwatch", "version": __version__},
        "results": [finding.to_dict() for finding in findings],
        "summary": summarize(findings, threshold),
    }
    return json.dumps(document, indent=2, sort_keys=False)
