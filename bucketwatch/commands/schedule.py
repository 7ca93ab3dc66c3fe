"""`bucketwatch schedule run|list`: the scheduled queries, scheduled rules and correlation rules
over the local lake (detectors.scheduled.scheduler), with state kept across runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bucketwatch.commands._alerts import emit_alerts
from bucketwatch.commands._ingest_common import add_lake_argument
from bucketwatch.commands._now import add_now_argument, now_from
from detectors.common import exitcodes
from detectors.common.config_file import load_config
from detectors.engine.evaluate import severity_counts
from detectors.engine.routing import load_routing
from detectors.engine.stores import SQLiteStore
from detectors.scheduled.scheduler import LocalScheduler, ScheduleReport
from detectors.scheduled.state import SQLiteStateStore
from detectors.sql.executors import DuckDBLakeExecutor
from detectors.sql.macros import parse_utc

DEFAULT_STATE = Path(".bucketwatch") / "state.sqlite"
ALERTS_EXIT_CODE = exitcodes.FINDINGS  # the one exit-code table (detectors/common/exitcodes.py)
FAILED_EXIT_CODE = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schedule", help="run the scheduled queries, scheduled rules and correlation rules that are due",
        description="Scheduled queries (Panther's scheduled_query) run over the lake on their schedule; their "
                    "rows go to the scheduled rules that read them. Correlation rules run over the rule matches "
                    "`detect` wrote. State (last runs, correlation progress, dedup) is kept in --state.")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run_parser = sub.add_parser("run", help="run every tick that came due since the last run",
                                description="Run each due item once per tick since its last run (a first run: "
                                            "only the newest tick, or every tick after --since).")
    list_parser = sub.add_parser("list", help="show what is scheduled, when it last ran and when it is due")
    for p in (run_parser, list_parser):
        add_lake_argument(p)
        p.add_argument("--state", type=Path, default=DEFAULT_STATE, metavar="FILE",
                       help=f"SQLite state kept across runs (default: {DEFAULT_STATE}); may be detect's --state file")
        p.add_argument("--config", metavar="FILE", help="Bucketwatch config file (its detections: section)")
        p.add_argument("--rules", action="append", default=[], metavar="DIR",
                       help="extra pack directory (rules, scheduled queries/rules, correlation rules); repeatable")
        add_now_argument(p, "run")
    run_parser.add_argument("--since", metavar="TIME",
                            help="for items that never ran: run every tick after TIME (UTC) instead of the newest only")
    run_parser.add_argument("--only", action="append", default=[], metavar="NAME",
                            help="run only this query name or correlation rule id; repeatable")
    run_parser.add_argument("--alerts", metavar="PATH", help="also append new alerts as JSON lines to PATH")
    run_parser.add_argument("--fail-on-alert", action="store_true",
                            help=f"exit with code {ALERTS_EXIT_CODE} when a new alert was raised")
    run_parser.add_argument("-q", "--quiet", action="store_true", help="do not print alerts on stdout")
    run_parser.set_defaults(func=run)
    list_parser.set_defaults(func=show)


def _scheduler(args: argparse.Namespace) -> LocalScheduler:
    settings = load_config(args.config).detections
    return LocalScheduler(args.lake, DuckDBLakeExecutor(args.lake), SQLiteStateStore(args.state),
                          SQLiteStore(args.state), settings, rule_dirs=args.rules)


def run(args: argparse.Namespace) -> int:
    scheduler = _scheduler(args)
    since = parse_utc(args.since, "--since") if args.since else None
    report = scheduler.run(now_from(args), since=since, only=args.only)
    emit_alerts(report.alerts, args, load_routing(args.config), "schedule")
    for line in report.warnings:
        print(f"bucketwatch schedule: warning: {line}", file=sys.stderr)
    for failed in report.errors:
        print(f"bucketwatch schedule: error: {failed.item.kind} '{failed.item.name}' at "
              f"{failed.at:%Y-%m-%dT%H:%M:%SZ}: {failed.error}", file=sys.stderr)
    for name, count in report.skipped_ticks.items():
        print(f"bucketwatch schedule: warning: {name}: {count} older runs skipped (catch-up limit)", file=sys.stderr)
    print(f"bucketwatch schedule: {_summary(report)}; state {args.state}", file=sys.stderr)
    if report.errors:
        return FAILED_EXIT_CODE
    return ALERTS_EXIT_CODE if args.fail_on_alert and report.alerts else 0


def _summary(report: ScheduleReport) -> str:
    queries = [r for r in report.runs if r.item.kind == "query"]
    correlations = [r for r in report.runs if r.item.kind == "correlation"]
    counts = severity_counts(report.alerts)
    by_severity = ", ".join(f"{n} {s}" for s, n in counts.most_common())
    return (f"{len(queries)} query run(s) ({sum(r.rows for r in queries):,} rows), "
            f"{len(correlations)} correlation run(s) ({sum(r.matches for r in correlations)} match(es)); "
            f"{len(report.alerts)} new alert(s){' (' + by_severity + ')' if by_severity else ''}, "
            f"{report.updated} updated")


def show(args: argparse.Namespace) -> int:
    scheduler = _scheduler(args)
    now = now_from(args)
    rows = [("KIND", "NAME", "SCHEDULE", "LAST RUN", "DUE NOW", "FEEDS")]
    for item, ticks, _ in scheduler.plan(now):
        last = scheduler.last_run(item)
        feeds = ", ".join(item.readers) if item.kind == "query" else "alerts"
        if item.query is not None and item.query.result_table:
            feeds = ", ".join(filter(None, [feeds, ".".join(item.query.result_table)]))
        rows.append((item.kind, item.name, item.schedule.describe(),
                     f"{last:%Y-%m-%dT%H:%M:%SZ}" if last else "never", str(len(ticks)), feeds))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    for line in scheduler.warnings():
        print(f"warning: {line}", file=sys.stderr)
    return 0
