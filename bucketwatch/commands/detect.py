"""`bucketwatch detect`: parse logs, run the rules, write the lake, emit alerts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bucketwatch.commands._alerts import emit_alerts
from bucketwatch.commands._ingest_common import (
    add_input_arguments,
    add_lake_argument,
    input_errors,
    print_summary,
)
from bucketwatch.progress import Progress
from detectors.baseline.access_errors import with_baseline
from detectors.baseline.trail_buckets import with_trail_buckets
from detectors.config import load_detection_settings
from detectors.engine.evaluate import rule_error_lines, severity_counts
from detectors.engine.routing import load_routing
from detectors.engine.rules import load_rules
from detectors.engine.session import DetectionSession
from detectors.engine.stores import MemoryStore, SQLiteStore
from detectors.lake import LakeWriter
from detectors.pipeline import parse_inputs
from detectors.quarantine import JsonlQuarantine

ALERTS_EXIT_CODE = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detect", help="run the detection rules over logs; write the lake and print alerts",
        description="Parse logs, run every enabled rule (built-in plus --rules packs), write the "
                    "normalized records and the rule matches to the lake, and print the alerts.")
    add_input_arguments(parser)
    add_lake_argument(parser)
    parser.add_argument("--no-lake", action="store_true", help="do not write the lake (alerts only)")
    parser.add_argument("--alerts", metavar="PATH", help="also append alerts as JSON lines to PATH")
    parser.add_argument("--config", metavar="FILE", help="Bucketwatch config file (its detections: section)")
    parser.add_argument("--rules", action="append", default=[], metavar="DIR",
                        help="extra rule pack directory (Panther format); repeatable; same ids replace built-ins")
    parser.add_argument("--state", metavar="FILE",
                        help="SQLite dedup state kept across runs (default: none, each run stands alone)")
    parser.add_argument("--quarantine", metavar="PATH",
                        help="quarantine file (default: <lake>/_quarantine/quarantine.jsonl, appended)")
    parser.add_argument("--fail-on-alert", action="store_true",
                        help=f"exit with code {ALERTS_EXIT_CODE} when any alert was raised")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print alerts on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_detection_settings(args.config)
    routing = load_routing(args.config)
    rules = load_rules(args.rules, settings=settings, only_enabled=True)
    settings = with_baseline(settings, args.lake, rules)  # read even with --no-lake: reading is not writing
    settings = with_trail_buckets(settings, args.lake, rules)
    store = SQLiteStore(args.state) if args.state else MemoryStore()
    writer = None if args.no_lake else LakeWriter(args.lake)
    session = DetectionSession.create(settings, store, writer, rules=rules)
    quarantine_path = Path(args.quarantine) if args.quarantine else args.lake / "_quarantine" / "quarantine.jsonl"
    with input_errors(), Progress("detect") as progress, \
            JsonlQuarantine(quarantine_path, append=not args.quarantine) as quarantine:
        parse_run = parse_inputs(args.inputs, args.log_type, quarantine, progress, args.workers)
        for batch in parse_run:
            session.process(batch)
        session.finish()
    alerts = session.engine.alert_messages()
    emit_alerts(alerts, args, routing, "detect")
    for line in rule_error_lines(session.engine):
        print(f"bucketwatch detect: warning: {line}", file=sys.stderr)
    counts = severity_counts(alerts)
    by_severity = ", ".join(f"{n} {s}" for s, n in counts.most_common())
    where = "" if writer is None else f"; lake {args.lake} ({session.match_rows:,} rule-match rows)"
    quarantined = f" (see {quarantine_path})" if parse_run.stats.quarantined else ""
    baseline = sum(len(groups) for groups in settings.group_thresholds.values())
    learned = f"; baseline thresholds for {baseline} alert group(s)" if baseline else ""
    print_summary("detect", parse_run.stats,
                  f"{quarantined}; {len(session.engine.rules)} rules; {len(alerts)} alerts"
                  f"{' (' + by_severity + ')' if by_severity else ''}{where}{learned}")
    return ALERTS_EXIT_CODE if args.fail_on_alert and alerts else 0
