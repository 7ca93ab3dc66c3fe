"""Parsing pipeline: inputs -> log type -> parsed, normalized Arrow batches (+ quarantine).

`parse_inputs` is what the CLI uses; `parse_stream` is what the Lambda handler uses on one
streamed S3 object. Both keep input order and the count invariant:
lines in = records out + quarantined (digest files are counted apart and are not lines).
Empty lines hold no record and are not counted as lines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import pyarrow as pa

from detectors.parsers import cloudtrail
from detectors.parsers.detect import CLOUDTRAIL_DIGEST, detect_log_type, log_type_from_key
from detectors.parsers.origin import cloudtrail_key_origin, cloudtrail_record_origin
from detectors.parsers.pfields import add_s3_access_p_fields, cloudtrail_indicators, row_ids
from detectors.parsers.s3_access import parse_chunk
from detectors.quarantine import QuarantineEntry, QuarantineSink
from detectors.schema import CLOUDTRAIL_SCHEMA, LOG_TYPE_CLOUDTRAIL, LOG_TYPE_S3, LOG_TYPES, S3_ACCESS_SCHEMA
from detectors.sources import InputObject, decompressed, expand_inputs, iter_chunks

AUTO = "auto"
CLOUDTRAIL_BATCH_RECORDS = 10_000
_RAW_LIMIT = 64 * 1024  # a whole quarantined file keeps at most this much of its text


def panther_time(value: datetime | None) -> str | None:
    """Panther's text form of a timestamp as rules see it: `2020-02-14 00:53:48.000000000`."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond * 1000:09d}"


_TIME_FIELDS = ("time", "p_event_time", "p_parse_time")


@dataclass
class ParsedBatch:
    log_type: str          # "AWS.S3ServerAccess" | "AWS.CloudTrail"
    source: str            # object key / file path the rows came from
    table: pa.Table        # lake columns (detectors.schema), p_ fields included
    records: list[dict[str, Any]] | None = field(default=None, repr=False)  # CloudTrail originals

    def events(self) -> Iterator[dict[str, Any]]:
        """Events as rules see them, in order.

        S3 access: the row with DESIGN field names; absent (null) fields are left out and times are
        Panther text (`2020-02-14 00:53:48.000000000`). CloudTrail: the original record, whole,
        plus the p_ fields.
        """
        if self.log_type == LOG_TYPE_CLOUDTRAIL and self.records is not None:
            p_columns = {name: self.table[name].to_pylist() for name in self.table.column_names
                         if name.startswith("p_")}
            for i, record in enumerate(self.records):
                event = dict(record)
                for name, values in p_columns.items():
                    value = values[i]
                    event[name] = panther_time(value) if name in _TIME_FIELDS else value
                yield event
            return
        for row in self.table.to_pylist():
            event = {}
            for name, value in row.items():
                if value is None:
                    continue
                event[name] = panther_time(value) if name in _TIME_FIELDS else value
            yield event


@dataclass
class ParseStats:
    lines_in: int = 0
    records_out: int = 0
    quarantined: int = 0
    digests_skipped: int = 0
    files: int = 0

    def add(self, other: ParseStats) -> None:
        self.lines_in += other.lines_in
        self.records_out += other.records_out
        self.quarantined += other.quarantined
        self.digests_skipped += other.digests_skipped
        self.files += other.files

    def summary(self) -> str:
        text = (f"{self.files:,} files, {self.lines_in:,} lines in = {self.records_out:,} records out "
                f"+ {self.quarantined:,} quarantined")
        if self.digests_skipped:
            text += f"; {self.digests_skipped:,} CloudTrail digest files skipped"
        return text


def _check_log_type(log_type: str) -> None:
    if log_type != AUTO and log_type not in LOG_TYPES:
        raise ValueError(f"unknown log type {log_type!r}: use auto, {', '.join(LOG_TYPES)}")


def parse_stream(stream: BinaryIO, source: str, log_type: str = AUTO,
                 quarantine: QuarantineSink | None = None, stats: ParseStats | None = None,
                 on_lines: Callable[[int, int], None] | None = None) -> Iterator[ParsedBatch]:
    """Parse one object (gzip-aware). `stats` is updated as batches are produced;
    `on_lines(lines, quarantined)` is called per chunk (progress)."""
    _check_log_type(log_type)
    stats = stats if stats is not None else ParseStats()
    stats.files += 1
    if log_type == AUTO and log_type_from_key(source) == CLOUDTRAIL_DIGEST:
        stats.digests_skipped += 1
        return
    chunks = iter_chunks(decompressed(stream), source)
    first = next(chunks, b"")
    kind = log_type if log_type != AUTO else detect_log_type(source, first[:65536])
    if kind == LOG_TYPE_S3:
        yield from _parse_access_chunks(_prepend(first, chunks), source, quarantine, stats, on_lines)
    else:
        data = first + b"".join(chunks)
        yield from _parse_cloudtrail(data, source, quarantine, stats, allow_digest=log_type == AUTO)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _quarantine(sink: QuarantineSink | None, entry: QuarantineEntry) -> None:
    if sink is not None:
        sink.add(entry)


def _parse_access_chunks(chunks: Iterator[bytes], source: str, quarantine: QuarantineSink | None,
                         stats: ParseStats, on_lines: Callable[[int, int], None] | None) -> Iterator[ParsedBatch]:
    line_offset = 0
    for chunk in chunks:
        result = parse_chunk(chunk)
        for bad in result.rejected:
            _quarantine(quarantine, QuarantineEntry(source, line_offset + bad.index + 1, bad.reason, bad.raw,
                                                    LOG_TYPE_S3))
        first_line = line_offset
        line_offset += result.newlines
        stats.lines_in += result.lines
        stats.quarantined += len(result.rejected)
        if on_lines:
            on_lines(result.lines, len(result.rejected))
        if not result.table.num_rows:
            continue
        digest = _digest(chunk, first_line)
        ids = row_ids(digest, result.table["__index"].combine_chunks())
        table = add_s3_access_p_fields(result.table.drop_columns(["__index"]), LOG_TYPE_S3, source,
                                       _now(), ids)
        stats.records_out += table.num_rows
        yield ParsedBatch(LOG_TYPE_S3, source, table.select(S3_ACCESS_SCHEMA.names))


def _digest(data: bytes, first_line: int = 0) -> str:
    """20 hex digits identifying a chunk: its bytes and where it starts in its object, so equal
    chunks at different places still give distinct row ids (SHA-256: hardware-accelerated)."""
    digest = hashlib.sha256(data)
    digest.update(first_line.to_bytes(8, "little"))
    return digest.hexdigest()[:20]


def _now() -> datetime:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _parse_cloudtrail(data: bytes, source: str, quarantine: QuarantineSink | None, stats: ParseStats,
                      allow_digest: bool) -> Iterator[ParsedBatch]:
    try:
        document = cloudtrail.load_document(data)
        if allow_digest and cloudtrail.is_digest(document):
            stats.digests_skipped += 1
            return
        records, times, errors = cloudtrail.split_records(document)
    except cloudtrail.DocumentError as exc:
        stats.lines_in += 1
        stats.quarantined += 1
        raw = data[:_RAW_LIMIT].decode("utf-8", errors="replace")
        _quarantine(quarantine, QuarantineEntry(source, None, str(exc), raw, LOG_TYPE_CLOUDTRAIL))
        return
    for error in errors:
        _quarantine(quarantine, QuarantineEntry(source, error.index + 1, error.reason, error.raw,
                                                LOG_TYPE_CLOUDTRAIL))
    stats.lines_in += len(records) + len(errors)
    stats.quarantined += len(errors)
    digest = _digest(data)
    parse_time = _now()
    for start in range(0, len(records), CLOUDTRAIL_BATCH_RECORDS):
        part = records[start:start + CLOUDTRAIL_BATCH_RECORDS]
        table = _cloudtrail_table(part, times[start:start + len(part)], digest, start, source, parse_time)
        stats.records_out += table.num_rows
        yield ParsedBatch(LOG_TYPE_CLOUDTRAIL, source, table, records=part)


def _cloudtrail_table(records: list[dict[str, Any]], times: list[datetime], digest: str, start: int,
                      source: str, parse_time: datetime) -> pa.Table:
    rows = []
    key_origin = cloudtrail_key_origin(source)
    for offset, (record, event_time) in enumerate(zip(records, times, strict=True)):
        row = cloudtrail.to_row(record, event_time)
        ips, arns, accounts = cloudtrail_indicators(record)
        origin = cloudtrail_record_origin(record, key_origin)
        row.update(
            p_log_type=LOG_TYPE_CLOUDTRAIL,
            p_row_id=f"{digest}{start + offset:07d}",
            p_event_time=event_time,
            p_parse_time=parse_time,
            p_source=source,
            p_account_id=origin.account_id,
            p_region=origin.region,
            p_any_ip_addresses=ips,
            p_any_aws_arns=arns,
            p_any_aws_account_ids=accounts,
        )
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=CLOUDTRAIL_SCHEMA)


class ParseRun:
    """Iterable of ParsedBatch over many inputs; `.stats` holds the running totals."""

    def __init__(self, objects: list[InputObject], log_type: str, quarantine: QuarantineSink | None,
                 progress: Any = None, workers: int = 1) -> None:
        self.objects = objects
        self.log_type = log_type
        self.quarantine = quarantine
        self.progress = progress
        self.workers = workers
        self.stats = ParseStats()

    def _on_lines(self, lines: int, quarantined: int) -> None:
        if self.progress is not None:
            self.progress.update(lines, quarantined=self.stats.quarantined)

    def __iter__(self) -> Iterator[ParsedBatch]:
        if self.workers > 1 and len(self.objects) > 1:
            yield from self._parallel()
            return
        for obj in self.objects:
            stream = obj.open_raw()
            try:
                yield from parse_stream(stream, obj.name, self.log_type, self.quarantine, self.stats,
                                        self._on_lines)
            finally:
                if obj.kind != "stdin":
                    stream.close()

    def _parallel(self) -> Iterator[ParsedBatch]:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(self.workers) as pool:
            for shipped, stats, entries in pool.map(_parse_object, self.objects,
                                                    [self.log_type] * len(self.objects)):
                for entry in entries:
                    _quarantine(self.quarantine, entry)
                self.stats.add(stats)
                self._on_lines(stats.lines_in, stats.quarantined)
                for log_type, source, data, records in shipped:
                    table = pa.ipc.open_stream(data).read_all()
                    yield ParsedBatch(log_type, source, table, records=records)


def _ipc_bytes(table: pa.Table) -> bytes:
    """Arrow IPC stream: only the rows' own bytes (pickling a slice would copy its whole parent)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _parse_object(obj: InputObject, log_type: str) -> tuple[list[tuple], ParseStats, list[QuarantineEntry]]:
    """Worker: one whole object, parsed in a child process; batches go back as Arrow IPC."""
    from detectors.quarantine import MemoryQuarantine

    sink, stats = MemoryQuarantine(), ParseStats()
    stream = obj.open_raw()
    try:
        shipped = [(b.log_type, b.source, _ipc_bytes(b.table), b.records)
                   for b in parse_stream(stream, obj.name, log_type, sink, stats)]
    finally:
        stream.close()
    return shipped, stats, sink.entries


def parse_inputs(inputs: Sequence[str], log_type: str = AUTO, quarantine: QuarantineSink | None = None,
                 progress: Any = None, workers: int = 1) -> ParseRun:
    """All inputs (files, directories, `-`, s3:// prefixes) are resolved up front, so a missing
    input fails before any output is written."""
    _check_log_type(log_type)
    return ParseRun(list(expand_inputs(inputs)), log_type, quarantine, progress, workers)


def records_as_json(batch: ParsedBatch) -> Iterator[str]:
    """JSON lines of a batch's events (what `bucketwatch parse` prints)."""
    for event in batch.events():
        yield json.dumps(event, ensure_ascii=False, default=str)
