"""`bucketwatch ingest`: parse logs and write them to the local lake, exactly once."""

from __future__ import annotations

import argparse
import contextlib

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
)
from bucketwatch.progress import Progress
from detectors.lake.ingest import ingest_inputs
from detectors.lake.manifest import QUARANTINE_DIR


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest", help="parse logs into the local lake (Parquet, queried with `bucketwatch query`)",
        description="Parse logs and write them to the lake, partitioned by event hour, exactly once: "
                    "unchanged inputs are not read again, a grown log file adds only its new lines, a "
                    "changed one replaces its earlier rows. Exit codes: 0 clean, 3 something was "
                    "quarantined, 2 an input could not be read.")
    add_input_arguments(parser)
    add_lake_argument(parser)
    parser.add_argument("--quarantine", metavar="PATH",
                        help=f"also write this run's quarantine entries to PATH (the lake keeps them in "
                             f"<lake>/{QUARANTINE_DIR}/, one folder per input)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    limit = record_limit(args)
    with contextlib.ExitStack() as stack:
        copy = stack.enter_context(optional_output(args.quarantine))
        stack.enter_context(input_errors())
        progress = stack.enter_context(Progress("ingest"))
        report = ingest_inputs(args.inputs, args.lake, args.log_type, copy, progress, args.workers, limit)
    check_invariant("ingest", report.holds(), lake_invariant(report))
    where = f" (see {args.lake / QUARANTINE_DIR})" if report.quarantine_written else ""
    print_summary("ingest", f"{report_text(report)}; lake {args.lake}{where}")
    report_details("ingest", report)
    return exit_code(unusable=report.stats.unreadable > 0, quarantined=report.quarantine_written > 0)
