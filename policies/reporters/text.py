"""Text for a terminal or a CI log: problems first, one line each, passes only counted."""

from __future__ import annotations

from collections.abc import Sequence

from policies.runner import (
    FAIL,
    NOT_APPLICABLE,
    PASS,
    STATUSES,
    SUPPRESSED,
    UNKNOWN,
    Finding,
    SuppressionUse,
    summarize,
)

_ORDER = {status: i for i, status in enumerate(STATUSES)}


def _where(finding: Finding) -> str:
    ref = finding.ref
    location = f"{ref.file}:{ref.line}" if ref.file and ref.line else ref.file
    parts = [p for p in (ref.construct_path, location) if p]
    return f" ({', '.join(parts)})" if parts else ""


def render_text(findings: Sequence[Finding], threshold: str, suppressions: Sequence[SuppressionUse] = ()) -> str:
    lines = []
    shown = sorted((f for f in findings if f.status in (FAIL, UNKNOWN, SUPPRESSED)),
                   key=lambda f: (_ORDER[f.status], f.ref.id, f.policy.id))
    for finding in shown:
        lines.append(f"{finding.status:<10} {finding.severity:<8} {finding.policy.id:<36} {finding.ref.id}{_where(finding)}")
        lines.append(f"{'':<10} {finding.reason}")
        if finding.status == SUPPRESSED and finding.suppression:
            owner = f" [owner {finding.suppression.owner}]" if finding.suppression.owner else ""
            lines.append(f"{'':<10} suppressed ({finding.suppression.origin}){owner}: {finding.suppression.reason}")
        elif finding.status == FAIL and finding.policy.remediation:
            lines.append(f"{'':<10} fix: {' '.join(finding.policy.remediation.split())}")
    for use in suppressions:
        if use.problem:
            lines.append(f"{'SUPPRESSION':<10} {use.suppression.policy} ({use.suppression.where}): {use.problem}")
    summary = summarize(findings, threshold)
    counts = summary["by_status"]
    lines.append(
        f"{summary['results']} results for {summary['resources']} resources and {summary['policies']} policies: "
        + ", ".join(f"{counts[s]} {s}" for s in (FAIL, UNKNOWN, SUPPRESSED, NOT_APPLICABLE, PASS))
    )
    verdict = "FAILED" if summary["blocking"] else "passed"
    lines.append(f"{verdict}: {summary['blocking']} unsuppressed FAIL at or above {threshold.lower()}")
    return "\n".join(lines)
