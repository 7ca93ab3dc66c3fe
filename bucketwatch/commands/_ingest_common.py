"""Shared pieces of `parse`, `ingest` and `detect`: input arguments, the record limit, error
translation, the summary with its invariant, and the exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from detectors.common import exitcodes
from detectors.common.config_file import load_config
from detectors.common.errors import UserError
from detectors.common.words import plural
from detectors.content import InputError
from detectors.lake.ingest import IngestReport
from detectors.parsers.limits import max_record_bytes
from detectors.pipeline import AUTO, ParseStats
from detectors.schema import LOG_TYPES

DEFAULT_LAKE = Path(".bucketwatch") / "lake"


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="log file, directory (recursive), '-' for stdin, or s3://bucket/prefix; gzip, bzip2, xz and zstd are detected, zip and tar archives read file by file")
    parser.add_argument("--log-type", default=AUTO, choices=[AUTO, *LOG_TYPES],
                        help="log type of every input (default: detected from key path and content)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="parse files in N processes (default 1)")
    parser.add_argument("--max-record-bytes", type=int, metavar="N",
                        help="longer lines and CloudTrail records are quarantined by reference (default: the "
                             "config file's ingest.max_record_bytes, else 4 MiB)")
    if not any("--config" in action.option_strings for action in parser._actions):
        parser.add_argument("--config", metavar="FILE", help="Bucketwatch config file (its ingest: section)")


def add_lake_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lake", type=Path, default=DEFAULT_LAKE, metavar="DIR",
                        help=f"lake folder (default: {DEFAULT_LAKE} under the current directory)")


def record_limit(args: argparse.Namespace) -> int:
    """--max-record-bytes, else the config file's ingest section (validated either way)."""
    if args.max_record_bytes is not None:
        return max_record_bytes(args.max_record_bytes, "--max-record-bytes")
    return load_config(args.config).ingest.max_record_bytes


@contextmanager
def optional_output(path: str | None) -> Iterator[IO[str] | None]:
    """A text file opened for writing, or None without a path."""
    if path is None:
        yield None
        return
    with open(path, "w", encoding="utf-8") as out:
        yield out


@contextmanager
def input_errors() -> Iterator[None]:
    """Inputs that cannot be resolved (missing file, empty S3 prefix) -> one-line error, exit 2."""
    try:
        yield
    except InputError as exc:
        raise UserError(str(exc)) from None


def files_text(stats: ParseStats, sources: int | None = None) -> str:
    count = stats.files if sources is None else sources
    text = plural(count, "file")
    if stats.digests_skipped:
        text += f" ({plural(stats.digests_skipped, 'CloudTrail digest file')} skipped)"
    return text


def invariant_text(records_in: int, out: int, out_label: str, duplicates: int, quarantined: int,
                   holds: bool = True) -> str:
    """`N records in = N rows written + N duplicates skipped + N quarantined`, counted nouns right
    ("1 record in = 1 row written"); `out_label` is "row written" or "record out"."""
    noun, _, rest = out_label.partition(" ")
    return (f"{plural(records_in, 'record')} in {'=' if holds else '!='} {plural(out, noun)} {rest} + "
            f"{plural(duplicates, 'duplicate')} skipped + {quarantined:,} quarantined")


def lake_invariant(report: IngestReport) -> str:
    return invariant_text(report.stats.records_in, report.rows_written, "row written", report.duplicates,
                          report.quarantine_written, report.holds())


def report_text(report: IngestReport) -> str:
    """The lake run's summary: inputs (unchanged, resumed, replaced, failed) and the invariant."""
    notes = []
    if report.unchanged:
        notes.append(f"{len(report.unchanged):,} unchanged since the last run, not read")
    if report.resumed:
        notes.append(f"{len(report.resumed):,} grown, only the new lines read")
    if report.replaced:
        notes.append(f"{len(report.replaced):,} changed, read again and replaced")
    if report.failures:
        notes.append(f"{len(report.failures):,} could not be read")
    text = files_text(report.stats, report.sources)
    if notes:
        text += " (" + "; ".join(notes) + ")"
    return f"{text}; {lake_invariant(report)}"


def report_details(command: str, report: IngestReport) -> None:
    """Duplicates and failures, one line each (shown, never silent)."""
    for name, others in report.duplicate_sources:
        print(f"bucketwatch {command}: {name}: rows already in the lake from {', '.join(others)} "
              "(byte-identical input): counted as duplicates, not written again", file=sys.stderr)
    for name, reason in report.failures:
        print(f"bucketwatch {command}: warning: {name}: {reason}", file=sys.stderr)
    if report.recovered:
        print(f"bucketwatch {command}: completed {plural(report.recovered, 'commit')} an interrupted run had started",
              file=sys.stderr)


def without_lake_summary(command: str, stats: ParseStats, out_label: str, out: int, quarantined: int,
                         quarantine_path: str | None) -> str:
    """The summary of a run that writes no lake (parse, detect --no-lake), its invariant checked."""
    holds = stats.records_in == out + quarantined
    invariant = invariant_text(stats.records_in, out, out_label, 0, quarantined, holds)
    check_invariant(command, holds, invariant)
    where = f" (see {quarantine_path})" if quarantine_path and quarantined else ""
    return f"{files_text(stats)}; {invariant}{where}"


def check_invariant(command: str, holds: bool, text: str) -> None:
    if not holds:
        raise UserError(f"counts do not reconcile ({text}): this is a bug, please report it")


def exit_code(*, unusable: bool, quarantined: bool, findings: bool = False) -> int:
    return exitcodes.combine(unusable=unusable, findings=findings, quarantined=quarantined)


def print_summary(command: str, text: str) -> None:
    print(f"bucketwatch {command}: {text}", file=sys.stderr)
