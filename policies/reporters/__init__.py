"""Formatting findings: text for people, JSON for scripts, SARIF for code scanning, JUnit for CI.

Reporters only format; every decision (status, suppression, exit code) is the runner's.
`render(fmt, findings, threshold)` is shared by `bucketwatch check` and `bucketwatch scan`;
`accounts` (a live scan's `AccountScan.to_dict()` list: how each account was reached, or why it
was not scanned) is shown by the text report and listed by the JSON one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policies.runner import Finding, SuppressionUse

FORMATS = ("text", "json", "sarif", "junit")


def render(fmt: str, findings: Sequence[Finding], threshold: str,
           suppressions: Sequence[SuppressionUse] = (),
           accounts: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The report; `suppressions` (the run's suppressions and their use, see
    `runner.review_suppressions`) are listed, and those with a problem flagged, in every format;
    `accounts` are shown by the text and JSON reports (SARIF and JUnit name each result's account)."""
    if fmt == "text":
        from policies.reporters.text import render_text as renderer
    elif fmt == "json":
        from policies.reporters.json_report import render_json as renderer
    elif fmt == "sarif":
        from policies.reporters.sarif import render_sarif as renderer
    elif fmt == "junit":
        from policies.reporters.junit import render_junit as renderer
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if accounts is not None and fmt in ("text", "json"):
        return renderer(findings, threshold, suppressions, accounts=accounts)
    return renderer(findings, threshold, suppressions)


def emit(fmt: str, findings: Sequence[Finding], threshold: str, output: str | None = None,
         suppressions: Sequence[SuppressionUse] = (), accounts: Sequence[Mapping[str, Any]] | None = None) -> int:
    """Write the report (to `output` or stdout) and return the exit code: 1 if anything blocks."""
    import sys
    from pathlib import Path

    from policies.runner import blocking

    text = render(fmt, findings, threshold, suppressions, accounts)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return 1 if blocking(findings, threshold) else 0
