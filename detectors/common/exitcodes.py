"""The exit codes of every command, one table (docs/detection.md "Exit codes").

    0  the run completed and found nothing it was asked to fail on
    1  findings: a policy FAIL at or above --fail-on, an alert at or above --min-severity when
       --fail-on-alert is given, a failed rule or policy test
    2  unusable input, configuration or usage: nothing, or not everything, could be read or run (a
       bad option or query, a missing lake, an unreadable input, a scheduled query that failed;
       one line says why)
    3  the run completed, but some input was quarantined (records that could not be parsed)

When several apply, the lowest non-zero wins in this order: 2, then 1, then 3 — a CI gate sees
findings before data quality.
"""

from __future__ import annotations

OK = 0
FINDINGS = 1
UNUSABLE = 2
QUARANTINED = 3


def combine(*, unusable: bool = False, findings: bool = False, quarantined: bool = False) -> int:
    if unusable:
        return UNUSABLE
    if findings:
        return FINDINGS
    if quarantined:
        return QUARANTINED
    return OK
