"""The demo's HTML report: the shared report (bucketwatch.reporting.html) plus the demo's story,
the reconciliation of what it wrote, the tutorial's query and what to run next."""

from __future__ import annotations

from html import escape

from bucketwatch.demo.report import NEXT_STEPS, Counts, DemoResult
from bucketwatch.reporting.html import ReportView, query_table, render_report, section


def render_html(result: DemoResult, title: str = "Bucketwatch demo report") -> str:
    c = result.counts
    reconciled = reconciliation(c, "Lines written = records + quarantined")
    view = ReportView(
        title=title,
        subtitle=f"Local AWS endpoint {result.endpoint} \u00b7 run took {result.seconds:.1f}s",
        alerts=result.detection_alerts,
        posture=result.posture,
        kpis=[("Alerts", len(result.detection_alerts)), ("Posture failures", len(result.posture_failures)),
              ("Log objects", c.objects), ("Lines written", f"{c.lines_written:,}"),
              ("Records in the lake", f"{c.records:,}"), ("Quarantined", c.quarantined)],
        summary_notes=[reconciled, _story(result)],
        window=result.story_window,
        markers=result.story_markers,
        after=[
            section("query", "The tutorial's query on the local lake",
                    f"<pre>{escape(result.query_sql)}</pre>" + query_table(result.query_columns, result.query_rows)),
            section("next", "What to run next",
                    "".join(f"<p>{escape(label)}</p><pre>{escape(cmd.format(lake=result.lake_dir))}</pre>"
                            for label, cmd in NEXT_STEPS)),
        ],
    )
    return render_report(view)


def reconciliation(c: Counts, equation: str) -> str:
    """`<equation>: 1,298 = 1,296 + 2 (reconciled)`, green when it holds, red when it does not."""
    return (f'<p class="{"ok" if c.reconciled else "bad"}">{escape(equation)}: '
            f"{c.lines_written:,} = {c.records:,} + {c.quarantined} "
            f"{'(reconciled)' if c.reconciled else '(DOES NOT RECONCILE)'}</p>")


def _story(result: DemoResult) -> str:
    if not result.story_changes:
        return ""
    items = "".join(f"<li>{escape(change)}</li>" for change in result.story_changes)
    return f"<p>What the attacker changed in the account:</p><ul>{items}</ul>"
