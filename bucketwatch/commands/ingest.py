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
from detectors.lake import LakeWriter
from detectors.pipeline import parse_inputs
from detectors.quarantine import JsonlQuarantine
from detectors.schema import DB_LOGS, TABLE_OF_LOG_TYPE


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
    writer = LakeWriter(args.lake)
    with input_errors(), Progress("ingest") as progress, \
            JsonlQuarantine(quarantine_path, append=not args.quarantine) as quarantine:
        run_ = parse_inputs(args.inputs, args.log_type, quarantine, progress, args.workers)
        for batch in run_:
            writer.write(DB_LOGS, TABLE_OF_LOG_TYPE[batch.log_type], batch.table)
    where = f" (see {quarantine_path})" if run_.stats.quarantined else ""
    print_summary("ingest", run_.stats, f"; lake {args.lake}{where}")
    return 0
