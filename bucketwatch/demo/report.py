"""What the demo found, and its short text report. The HTML report renders the same data."""

from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bucketwatch.demo.story import ATTACKER_IP
from bucketwatch.reporting.html import parse_time
from bucketwatch.reporting.results import (  # noqa: F401  (re-exported for the demo's tests)
    SEVERITY_ORDER,
    STATUS_ORDER,
    alert_rule,
    failures_by_bucket,
    resource_name,
    severity_rank,
)
from detectors.common.table import cell_text, format_table


@dataclass
class Counts:
    """Reconciliation of what was written with what came out of the pipeline."""

    objects: int = 0
    access_log_lines: int = 0
    cloudtrail_records: int = 0
    records: int = 0
    quarantined: int = 0
    skipped: int = 0  # e.g. digest files, test events

    @property
    def lines_written(self) -> int:
        return self.access_log_lines + self.cloudtrail_records

    @property
    def reconciled(self) -> bool:
        return self.records + self.quarantined == self.lines_written


@dataclass
class DemoResult:
    alerts: list[dict[str, Any]] = field(default_factory=list)  # SNS messages from the alerts queue
    posture: list[dict[str, Any]] = field(default_factory=list)  # every posture result (all statuses)
    query_sql: str = ""
    query_columns: list[str] = field(default_factory=list)
    query_rows: list[tuple[Any, ...]] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    lake_dir: Path | None = None
    html_path: Path | None = None
    endpoint: str = ""
    seconds: float = 0.0
    story_changes: list[str] = field(default_factory=list)
    story_window: tuple[datetime, datetime] | None = None  # the story's span, for the time axis
    story_markers: list[tuple[datetime, str]] = field(default_factory=list)  # attacker changes

    @property
    def detection_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a.get("kind", "detection") == "detection"]

    @property
    def posture_failures(self) -> list[dict[str, Any]]:
        return [r for r in self.posture if r.get("status") == "FAIL"]

    def alerts_by_rule(self) -> Counter[str]:
        return Counter(alert_rule(a) for a in self.detection_alerts)

    def failures_by_bucket(self) -> dict[str, list[dict[str, Any]]]:
        return failures_by_bucket(self.posture)


NEXT_STEPS = (
    ("Follow the attacker's address across both log types",
     'bucketwatch query --lake {lake} "SELECT p_log_type, COUNT(*) AS events, MIN(p_event_time) AS first, '
     "MAX(p_event_time) AS last FROM panther_views.all_ip_addresses WHERE list_contains(p_any_ip_addresses, "
     f"'{ATTACKER_IP}') GROUP BY ALL ORDER BY first\""),
    ("See the events behind each alert", 'bucketwatch query --lake {lake} "SELECT p_rule_id, COUNT(*) AS n '
     'FROM panther_rule_matches.aws_cloudtrail GROUP BY ALL ORDER BY n DESC"'),
    ("Synthesize the monitoring for your account", "npx cdk synth"),
    ("Check the templates before merging", "bucketwatch check cdk.out"),
    ("Scan your real buckets (read-only)", "bucketwatch scan --regions us-east-1"),
)


def render_text(result: DemoResult) -> str:
    lines: list[str] = []
    add = lines.append
    add("")
    add(f"Bucketwatch demo: {counts_text(result.counts)}")
    add("")
    alerts = sorted(result.detection_alerts, key=lambda a: (severity_rank(a.get("severity")), alert_rule(a)))
    add(f"Alerts ({len(alerts)}), read back from the alerts topic's queue:")
    for severity in SEVERITY_ORDER:
        group = [a for a in alerts if str(a.get("severity", "")).capitalize() == severity]
        if not group:
            continue
        add(f"  {severity.upper()} ({len(group)})")
        lines.extend(alert_line(alert, "    ") for alert in group)
    add("")
    failures = result.failures_by_bucket()
    add(f"Posture failures ({len(result.posture_failures)}) on {len(failures)} resources, by bucket:")
    for bucket, results in failures.items():
        lines.extend(failure_lines(bucket, results, "  "))
    lines.extend(posture_footnotes(result.posture))
    add("")
    add("The tutorial's query on the local lake:")
    add(f"  {result.query_sql}")
    add(_table(result.query_columns, result.query_rows, indent="  "))
    add("")
    lines.extend(closing_lines(result, NEXT_STEPS))
    return "\n".join(lines)


def counts_text(c: Counts) -> str:
    return (f"{c.objects} log objects, {c.lines_written:,} lines written ({c.access_log_lines:,} access-log lines, "
            f"{c.cloudtrail_records:,} CloudTrail records) -> {c.records:,} records + {c.quarantined} quarantined"
            f"{'' if c.reconciled else '  !! DOES NOT RECONCILE'}")


def alert_line(alert: dict[str, Any], indent: str, prefix: str = "") -> str:
    """`<rule> <title>  [<n> events, <span>]`: one alert on one line."""
    count = alert.get("event_count")
    when = _span(alert.get("first_seen"), alert.get("last_seen"))
    facts = ", ".join(x for x in (_events(count) if count else "", when) if x)
    return f"{indent}{prefix}{alert_rule(alert):<44} {alert.get('title', '')}" + (f"  [{facts}]" if facts else "")


def failure_lines(bucket: str, results: list[dict[str, Any]], indent: str) -> list[str]:
    """`<bucket> (<n>): <policy> [<severity>], ...`, worst first, wrapped at 110 columns."""
    ranked = sorted(results, key=lambda r: (severity_rank(r.get("severity")), str(r.get("policy"))))
    # \x00 keeps a policy and its severity on one line; it becomes a space after wrapping.
    items = ", ".join(f"{r.get('policy')}\x00[{r.get('severity', '?')}]" for r in ranked)
    wrapped = textwrap.wrap(f"{bucket} ({len(results)}): {items}", width=110, initial_indent=indent,
                            subsequent_indent=indent + "    ", break_on_hyphens=False)
    return [line.replace("\x00", " ") for line in wrapped]


def posture_footnotes(posture: list[dict[str, Any]], indent: str = "  ") -> list[str]:
    suppressed = [r for r in posture if r.get("status") == "SUPPRESSED"]
    notes = [f"{indent}({len(suppressed)} more suppressed with a written reason; reasons and fixes: in the HTML report)"]
    unknown = [r for r in posture if r.get("status") == "UNKNOWN"]
    if unknown:
        notes.append(f"{indent}({len(unknown)} UNKNOWN verdicts: the scanner could not decide; see the HTML report)")
    return notes


def closing_lines(result: DemoResult, next_steps: tuple[tuple[str, str], ...]) -> list[str]:
    lines = ["What to run next:"]
    for label, command in next_steps:
        lines += [f"  {label}:", f"    {command.format(lake=result.lake_dir)}"]
    lines.append("")
    if result.html_path:
        lines.append(f"HTML report: {result.html_path}")
    lines.append(f"Done in {result.seconds:.1f}s.")
    return lines


def _table(columns: list[str], rows: list[tuple[Any, ...]], indent: str = "") -> str:
    if not columns:
        return f"{indent}(no result)"
    table = format_table(columns, rows, indent=indent, cell=lambda value: cell_text(value, null="NULL"))
    return table if rows else f"{table}\n{indent}(0 rows)"


def _events(count: Any) -> str:
    return f"{count} event" if count == 1 else f"{count} events"


def _span(first: Any, last: Any) -> str:
    """`09:10-09:40` (UTC): two alerts for one bucket and address are two dedup windows, and say so."""
    start, end = parse_time(first), parse_time(last)
    if start is None:
        return ""
    if end is None or end == start:
        return f"{start:%H:%M}"
    return f"{start:%H:%M}-{end:%H:%M}" if start.date() == end.date() else f"{start:%m-%d %H:%M}-{end:%m-%d %H:%M}"
