"""`bucketwatch detect`: parse logs, run the rules, write the lake, emit alerts."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from bucketwatch.commands._alerts import (
    add_min_severity_argument,
    alerts_text,
    at_or_above,
    emit_alerts,
    min_severity,
)
from bucketwatch.commands._ingest_common import (
    add_input_arguments,
    add_lake_argument,
    check_invariant,
    exit_code,
    input_errors,
    lake_invariant,
    optional_output,
    print_summary,
    record_limit,
    report_details,
    report_text,
    without_lake_summary,
)
from bucketwatch.progress import Progress
from detectors.baseline.access_errors import with_baseline
from detectors.baseline.trail_buckets import with_trail_buckets
from detectors.common.words import plural
from detectors.config import load_detection_settings
from detectors.engine.evaluate import rule_error_lines
from detectors.engine.routing import load_routing
from detectors.engine.rules import check_rule_overrides, load_rules
from detectors.engine.session import DetectionSession
from detectors.engine.stores import MemoryStore, SQLiteStore
from detectors.lake import LakeWriter
from detectors.lake.ingest import LakeIngest
from detectors.lake.manifest import QUARANTINE_DIR
from detectors.pipeline import ParsedBatch, keep_freed_memory, parse_inputs
from detectors.quarantine import CountingQuarantine, JsonlQuarantine
from detectors.sources import expand_inputs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detect", help="run the detection rules over logs; write the lake and print alerts",
        description="Parse logs, run every enabled rule (built-in plus --rules packs), write the "
                    "normalized records and the rule matches to the lake, and print the alerts. Exit "
                    "codes: 0 clean, 1 an alert with --fail-on-alert, 3 something was quarantined, 2 an "
                    "input could not be read.")
    parser.add_argument("--config", metavar="FILE",
                        help="Bucketwatch config file (its detections: and ingest: sections)")
    add_input_arguments(parser)
    add_lake_argument(parser)
    parser.add_argument("--no-lake", action="store_true",
                        help="do not write the lake, its quarantine included (alerts only)")
    parser.add_argument("--alerts", metavar="PATH", help="also append alerts as JSON lines to PATH")
    parser.add_argument("--rules", action="append", default=[], metavar="DIR",
                        help="extra rule pack directory (Panther format); repeatable; same ids replace built-ins")
    parser.add_argument("--state", metavar="FILE",
                        help="SQLite dedup state kept across runs (default: none, each run stands alone)")
    parser.add_argument("--quarantine", metavar="PATH",
                        help=f"also write this run's quarantine entries to PATH (with the lake they are kept in "
                             f"<lake>/{QUARANTINE_DIR}/; with --no-lake only there)")
    parser.add_argument("--fail-on-alert", action="store_true",
                        help="exit with code 1 (findings) when any alert at or above --min-severity was raised")
    add_min_severity_argument(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print alerts on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_detection_settings(args.config)
    routing = load_routing(args.config)
    limit = record_limit(args)
    check_rule_overrides(settings, args.rules)  # a misspelled rule id is an error, not a silent no-op
    rules = load_rules(args.rules, settings=settings, only_enabled=True)
    floor = min_severity(args)
    settings = with_baseline(settings, args.lake, rules)  # read even with --no-lake: reading is not writing
    settings = with_trail_buckets(settings, args.lake, rules)
    store = SQLiteStore(args.state) if args.state else MemoryStore()
    writer = None if args.no_lake else LakeWriter(args.lake)
    session = DetectionSession.create(settings, store, writer, rules=rules)
    session.write_logs = False  # the logs go through the lake's exactly-once ingest below
    keep_freed_memory()  # as `ingest` does: -5% CPU here, half the page faults (docs/detection.md)
    with contextlib.ExitStack() as stack:
        stack.enter_context(input_errors())
        progress = stack.enter_context(Progress("detect"))
        if args.no_lake:
            summary, unusable, quarantined = _without_lake(args, session, progress, limit, stack)
        else:
            summary, unusable, quarantined = _with_lake(args, session, progress, limit, stack)
    raised = session.engine.alert_messages()
    alerts = at_or_above(raised, floor)  # the rule matches of every alert are in the lake already
    emit_alerts(alerts, args, routing, "detect")
    for line in rule_error_lines(session.engine):
        print(f"bucketwatch detect: warning: {line}", file=sys.stderr)
    matches = "" if writer is None else f" ({plural(session.match_rows, 'rule-match row')})"
    baseline = sum(len(groups) for groups in settings.group_thresholds.values())
    learned = f"; baseline thresholds for {plural(baseline, 'alert group')}" if baseline else ""
    print_summary("detect", f"{summary}; {plural(len(session.engine.rules), 'rule')}; "
                            f"{alerts_text(alerts, len(raised), floor)}{matches}{learned}")
    return exit_code(unusable=unusable, quarantined=quarantined, findings=args.fail_on_alert and bool(alerts))


def _with_lake(args: argparse.Namespace, session: DetectionSession, progress: Any, limit: int,
               stack: contextlib.ExitStack) -> tuple[str, bool, bool]:
    objects = expand_inputs(args.inputs)  # resolved now; archive members listed as they are read
    copy = stack.enter_context(optional_output(args.quarantine))
    lake = stack.enter_context(LakeIngest(args.lake, limit, copy))
    with lake.manifest.writing_outside_staging():  # rule matches are written straight into the lake
        report = lake.run(objects, args.log_type, args.workers, reread=True, on_batch=session.process,
                          progress=progress)
        session.finish()
    check_invariant("detect", report.holds(), lake_invariant(report))
    where = f" (see {args.lake / QUARANTINE_DIR})" if report.quarantine_written else ""
    report_details("detect", report)
    return (f"{report_text(report)}; lake {args.lake}{where}", report.stats.unreadable > 0,
            report.quarantine_written > 0)


def _without_lake(args: argparse.Namespace, session: DetectionSession, progress: Any, limit: int,
                  stack: contextlib.ExitStack) -> tuple[str, bool, bool]:
    file = stack.enter_context(JsonlQuarantine(Path(args.quarantine))) if args.quarantine else None
    quarantine = CountingQuarantine(file)
    parse_run = parse_inputs(args.inputs, args.log_type, quarantine, progress, args.workers, limit)
    evaluated = 0

    def process(batch: ParsedBatch) -> None:
        nonlocal evaluated
        evaluated += batch.table.num_rows
        session.process(batch)

    for batch in parse_run:
        process(batch)
    session.finish()
    stats = parse_run.stats
    summary = without_lake_summary("detect", stats, "record evaluated", evaluated, quarantine.count, args.quarantine)
    return f"{summary}; no lake", stats.unreadable > 0, quarantine.count > 0
