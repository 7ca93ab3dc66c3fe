"""`bucketwatch parse`: normalized records as JSON lines on stdout, in input order."""

from __future__ import annotations

import argparse
import sys

from bucketwatch.commands._ingest_common import add_input_arguments, input_errors, print_summary
from bucketwatch.progress import Progress
from detectors.pipeline import parse_inputs, records_as_json
from detectors.quarantine import JsonlQuarantine


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "parse", help="parse S3 access logs / CloudTrail files into normalized JSON lines",
        description="Parse logs into normalized records (JSON lines on stdout). Lines that cannot be "
                    "parsed go to the quarantine file with their line number and reason.")
    add_input_arguments(parser)
    parser.add_argument("--quarantine", metavar="PATH",
                        help="write unparseable lines here as JSON lines (source, line_number, reason, raw)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    quarantine = JsonlQuarantine(args.quarantine) if args.quarantine else None
    out = sys.stdout
    with input_errors(), Progress("parse") as progress:
        run_ = parse_inputs(args.inputs, args.log_type, quarantine, progress, args.workers)
        try:
            for batch in run_:
                out.write("\n".join(records_as_json(batch)) + "\n")
        finally:
            if quarantine:
                quarantine.close()
    out.flush()
    where = f" (see {args.quarantine})" if args.quarantine and run_.stats.quarantined else ""
    print_summary("parse", run_.stats, where)
    return 0
