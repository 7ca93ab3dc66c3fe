"""`bucketwatch baseline`: propose known_good_access and ip_allowlist from the lake's history."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bucketwatch.commands._ingest_common import add_lake_argument
from bucketwatch.commands._now import add_now_argument, now_from
from detectors.baseline.propose import propose, render, validate
from detectors.common.errors import UserError
from detectors.sql.executors import DuckDBLakeExecutor


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "baseline", help="propose known_good_access and ip_allowlist entries from the lake's history",
        description="Read N days of access logs and CloudTrail data events from the lake and print the "
                    "detections: section of a config file: per bucket, the principals that read it and the "
                    "networks (/24, /64) requests came from, on at least --min-days days, with the counts "
                    "behind each entry as comments. Review it before use.")
    add_lake_argument(parser)
    parser.add_argument("--days", type=int, default=7, metavar="N", help="days of history to read (default 7)")
    parser.add_argument("--min-days", type=int, default=2, metavar="M",
                        help="propose what was seen on at least M distinct days (default 2)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the snippet to FILE instead of stdout")
    add_now_argument(parser, "read history")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.days < 1 or not 1 <= args.min_days <= args.days:
        raise UserError(f"--days must be at least 1 and --min-days between 1 and --days, got {args.days} "
                        f"and {args.min_days}")
    proposal = propose(DuckDBLakeExecutor(args.lake), now_from(args), args.days, args.min_days)
    snippet = render(proposal)
    validate(snippet)  # what we print is what the config loader accepts
    if args.output:
        args.output.write_text(snippet, encoding="utf-8")
        print(f"bucketwatch baseline: wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(snippet)
    return 0
