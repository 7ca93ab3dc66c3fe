"""`bucketwatch report`: the HTML report of real results, read from the lake."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bucketwatch.commands._ingest_common import add_lake_argument
from detectors.common.errors import UserError
from detectors.common.severity import at_least, canonical_severity, parse_severity
from detectors.common.words import plural


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="write the HTML report of the alerts and posture findings in the lake",
        description="Read the lake (rule matches written by `detect` and the detector Lambda; posture findings "
                    "written by the posture Lambda, `scan --lake` and `check --lake`) and write one "
                    "self-contained HTML file: summaries per account, bucket and severity, and for each alert "
                    "its runbook, context and sample events.")
    add_lake_argument(parser)
    parser.add_argument("--output", "-o", type=Path, default=Path("bucketwatch-report.html"), metavar="FILE",
                        help="HTML file to write (default: bucketwatch-report.html)")
    parser.add_argument("--days", type=int, metavar="N", help="only alerts from events of the last N days")
    parser.add_argument("--rules", action="append", default=[], metavar="DIR",
                        help="rule pack directories the alerts came from (for their titles and runbooks)")
    parser.add_argument("--min-severity", metavar="SEVERITY",
                        help="only alerts and posture results at or above SEVERITY (info, low, medium, high, "
                             "critical; default: info, all of them)")
    parser.add_argument("--title", default="Bucketwatch report")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bucketwatch.reporting.html import ReportView, render_report
    from bucketwatch.reporting.lake import load_report
    from bucketwatch.reporting.results import failures

    if args.days is not None and args.days < 1:
        raise UserError(f"--days must be at least 1, got {args.days}")
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=args.days) if args.days else None
    floor = parse_severity(args.min_severity, "--min-severity") if args.min_severity else None
    report = load_report(args.lake, since, args.rules)
    if floor:
        report.alerts = [a for a in report.alerts if at_least(a["severity"], floor)]
        report.posture = [r for r in report.posture if _severity_at_least(r.get("severity"), floor)]
    accounts = {a.get("account_id") for a in report.alerts} | {r.get("account_id") for r in report.posture}
    view = ReportView(
        title=args.title,
        subtitle=f"Lake {args.lake} \u00b7 written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
                 + (f" \u00b7 alerts from the last {args.days} days" if args.days else "")
                 + (f" \u00b7 {floor} and above" if floor else ""),
        alerts=report.alerts,
        posture=report.posture,
        kpis=[("Alerts", len(report.alerts)), ("Matched events", f"{report.rule_match_rows:,}"),
              ("Posture failures", len(failures(report.posture))),
              ("Resources judged", len({r.get("resource") for r in report.posture})),
              ("Accounts", len(accounts - {None}))],
        window=report.window,
    )
    try:
        args.output.write_text(render_report(view), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror}") from None
    print(f"bucketwatch report: {plural(len(report.alerts), 'alert')}, "
          f"{plural(len(failures(report.posture)), 'posture failure')} -> {args.output}", file=sys.stderr)
    return 0


def _severity_at_least(severity: str | None, floor: str) -> bool:
    """Posture results of an unknown severity are kept: leaving them out would hide them."""
    return canonical_severity(severity) is None or at_least(severity, floor)
