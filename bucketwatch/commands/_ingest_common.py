"""Shared pieces of `parse` and `ingest`: input arguments, error translation, the summary line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from detectors.common.errors import UserError
from detectors.pipeline import AUTO, ParseStats
from detectors.schema import LOG_TYPES
from detectors.sources import InputError

DEFAULT_LAKE = Path(".bucketwatch") / "lake"


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="log file, directory (recursive), '-' for stdin, or s3://bucket/prefix; gzip is detected")
    parser.add_argument("--log-type", default=AUTO, choices=[AUTO, *LOG_TYPES],
                        help="log type of every input (default: detected from key path and content)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="parse files in N processes (default 1)")


def add_lake_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lake", type=Path, default=DEFAULT_LAKE, metavar="DIR",
                        help=f"lake folder (default: {DEFAULT_LAKE} under the current directory)")


@contextmanager
def input_errors() -> Iterator[None]:
    """Unusable input (missing file, corrupt gzip, unreachable S3) -> one-line error, exit 2."""
    try:
        yield
    except InputError as exc:
        raise UserError(str(exc)) from None


def print_summary(command: str, stats: ParseStats, extra: str = "") -> None:
    print(f"bucketwatch {command}: {stats.summary()}{extra}", file=sys.stderr)
