"""`bucketwatch ingest`: parse logs and write them to the local lake (idempotent)."""

from __future__ import annotations

import argparse

from bucketwatch.commands._ingest_common import (
    add_input_arguments,
    add_lake_argument,
    input_errors,
    print_summary,
)
from bucketwatch.progress import Progress
from detectors.lake.ingest import ingest_inputs
from detectors.quarantine import JsonlQuarantine


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest", help="parse logs into the local lake (Parquet, queried with `bucketwatch query`)",
        description="Parse logs and write them to the lake, partitioned by event hour. Ingesting the "
                    "same input again replaces its files: rows are never duplicated.")
    add_input_arguments(parser)
    add_lake_argument(parser)
    parser.add_argument("--quarantine", metavar="PATH",
                        help="quarantine file (default: <lake>/_quarantine/quarantine.jsonl, appended)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    quarantine_path = args.quarantine or args.lake / "_quarantine" / "quarantine.jsonl"
    with input_errors(), Progress("ingest") as progress, \
            JsonlQuarantine(quarantine_path, append=not args.quarantine) as quarantine:
        stats = ingest_inputs(args.inputs, args.lake, args.log_type, quarantine, progress, args.workers)
    where = f" (see {quarantine_path})" if stats.quarantined else ""
    print_summary("ingest", stats, f"; lake {args.lake}{where}")
    return 0
