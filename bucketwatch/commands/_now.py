"""`--now`: the time a command acts as of (scheduled runs, time macros, baselines)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from detectors.sql.macros import parse_utc


def add_now_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--now", metavar="TIME",
                        help=f"{what} as of TIME (UTC, e.g. 2024-05-14T12:00:00Z) instead of the current time; "
                             "for replayed or historical logs")


def now_from(args: argparse.Namespace) -> datetime:
    return parse_utc(args.now, "--now") if getattr(args, "now", None) else datetime.now(UTC)
