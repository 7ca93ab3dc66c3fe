"""`bucketwatch parse`: normalized records as JSON lines on stdout, in input order."""

from __future__ import annotations

import argparse
import sys

from bucketwatch.commands._ingest_common import (
    add_input_arguments,
    exit_code,
    input_errors,
    print_summary,
    record_limit,
    without_lake_summary,
)
from bucketwatch.progress import Progress
from detectors.pipeline import parse_inputs, records_as_json
from detectors.quarantine import CountingQuarantine, JsonlQuarantine


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "parse", help="parse S3 access logs / CloudTrail files into normalized JSON lines",
        description="Parse logs into normalized records (JSON lines on stdout). Lines that cannot be "
                    "parsed go to the quarantine file with their line number, byte offset and reason. "
                    "Exit codes: 0 clean, 3 something was quarantined, 2 an input could not be read.")
    add_input_arguments(parser)
    parser.add_argument("--quarantine", metavar="PATH",
                        help="write unparseable lines here as JSON lines (source, line_number, offset, reason, raw)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    limit = record_limit(args)
    file = JsonlQuarantine(args.quarantine) if args.quarantine else None
    quarantine = CountingQuarantine(file)
    out, printed = sys.stdout, 0
    with input_errors(), Progress("parse") as progress:
        run_ = parse_inputs(args.inputs, args.log_type, quarantine, progress, args.workers, limit)
        try:
            for batch in run_:
                lines = list(records_as_json(batch))
                printed += len(lines)
                out.write("\n".join(lines) + "\n")
        finally:
            if file:
                file.close()
    out.flush()
    stats = run_.stats
    print_summary("parse", without_lake_summary("parse", stats, "record out", printed, quarantine.count,
                                                args.quarantine))
    return exit_code(unusable=stats.unreadable > 0, quarantined=quarantine.count > 0)
