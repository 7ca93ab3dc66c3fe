"""Parsing pipeline: inputs -> log type -> parsed, normalized Arrow batches (+ quarantine).

`parse_inputs` is what `bucketwatch parse` uses; `parse_object` reads one input (the lake's
ingest drives it source by source); `parse_stream` parses one stream (the Lambda handler's S3
objects). Every record read ends either in a batch or in the quarantine, and the counts say so:
records in = records out + quarantined (digest files are counted apart and are not records).
Empty lines hold no record and are not counted.

Isolation: a bad line or record is quarantined and parsing goes on; content that cannot be read
further (a truncated gzip) keeps its good prefix and quarantines the rest as one entry; an input
that cannot be read at all (or fails for any other reason) becomes one quarantine entry and is
counted in `unreadable`, and the run goes on with the next input.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from detectors import logtypes, sources
from detectors.content import InputError, LogicalStream, read_fully
from detectors.parsers import cloudtrail
from detectors.parsers.cloudtrail import DigestSkipped, Problem, TrailReader, TrailRecord, clean_text
from detectors.parsers.detect import log_type_from_content, log_type_from_key
from detectors.parsers.limits import DEFAULT_MAX_RECORD_BYTES
from detectors.parsers.origin import cloudtrail_key_origin, cloudtrail_record_origin
from detectors.parsers.pfields import add_s3_access_p_fields, cloudtrail_indicators, row_ids
from detectors.parsers.s3_access import parse_chunk
from detectors.quarantine import QuarantineEntry, QuarantineSink
from detectors.schema import CLOUDTRAIL_SCHEMA, LOG_TYPE_CLOUDTRAIL, LOG_TYPE_S3, S3_ACCESS_SCHEMA
from detectors.sources import InputObject, LineChunk, OversizeLine, expand_inputs, iter_line_chunks

AUTO = "auto"
CLOUDTRAIL_BATCH_RECORDS = 10_000
CLOUDTRAIL_BATCH_CHARS = 16 * 1024 * 1024  # Python dicts of CloudTrail records take ~5x their text
HEAD_BYTES = 64 * 1024                      # what log type detection looks at
RAW_BUDGET = 64 * 1024 * 1024               # quarantined text kept per input; beyond it, by reference


def panther_time(value: datetime | None) -> str | None:
    """Panther's text form of a timestamp as rules see it: `2020-02-14 00:53:48.000000000`."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond * 1000:09d}"


@dataclass
class ParsedBatch:
    log_type: str          # a registered log type's name (detectors.logtypes), e.g. "AWS.CloudTrail"
    source: str            # object key / file path the rows came from
    table: pa.Table        # lake columns (the log type's schema), p_ fields included
    records: list[dict[str, Any]] | None = field(default=None, repr=False)  # originals (CloudTrail)
    raw_chars: int = 0     # size of the records' text (memory accounting for CloudTrail batches)

    def events(self) -> Iterator[dict[str, Any]]:
        """Events as rules see them, in order.

        Batches with `records` (CloudTrail): the original record, whole, plus the p_ fields. Others
        (S3 access): the row with DESIGN field names; absent (null) fields are left out. Timestamp
        columns read as Panther text (`2020-02-14 00:53:48.000000000`).
        """
        times = {f.name for f in self.table.schema if pa.types.is_timestamp(f.type)}
        if self.records is not None:
            p_columns = {name: self.table[name].to_pylist() for name in self.table.column_names
                         if name.startswith("p_")}
            for i, record in enumerate(self.records):
                event = dict(record)
                for name, values in p_columns.items():
                    value = values[i]
                    event[name] = panther_time(value) if name in times else value
                yield event
            return
        for row in self.table.to_pylist():
            event = {}
            for name, value in row.items():
                if value is None:
                    continue
                event[name] = panther_time(value) if name in times else value
            yield event


@dataclass
class ParseStats:
    """What the parser read: records in = records out + quarantined."""
    records_in: int = 0
    records_out: int = 0
    quarantined: int = 0
    digests_skipped: int = 0
    files: int = 0
    unreadable: int = 0   # inputs that could not be read (each is also one quarantined entry)

    @property
    def lines_in(self) -> int:
        return self.records_in

    def add(self, other: ParseStats) -> None:
        for name in ("records_in", "records_out", "quarantined", "digests_skipped", "files", "unreadable"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def reconciles(self) -> bool:
        return self.records_in == self.records_out + self.quarantined


@dataclass
class SourceResult:
    """What reading one input established (the lake's manifest keeps it)."""
    log_type: str | None = None
    start: int = 0               # byte offset parsing started at (a resumed, grown file)
    end: int = 0                 # byte offset parsing ended at
    first_line: int = 0          # line numbering (newlines, empty lines included) at start / end
    lines: int = 0
    ends_newline: bool = True    # the text read ends with a newline (a grown file can be resumed)
    complete: bool = True        # False: the content could not be read to its end (corrupt gzip)
    failed: str | None = None    # the input could not be read (or failed otherwise): why
    _chain: Any = field(default_factory=hashlib.sha256, repr=False)

    @property
    def digest(self) -> str:
        """Content digest of what was read: a chain of the chunk/batch SHA-256s that row ids are
        derived from anyway (no second pass over the bytes)."""
        return self._chain if isinstance(self._chain, str) else self._chain.hexdigest()

    def __getstate__(self) -> dict[str, Any]:
        # Sent back from worker processes: the finished digest instead of the hash object.
        return {**self.__dict__, "_chain": self.digest}


def _check_log_type(log_type: str) -> None:
    if log_type != AUTO and log_type not in logtypes.NAMES:
        raise ValueError(f"unknown log type {log_type!r}: use auto, {', '.join(logtypes.NAMES)}")


class _Replay:
    """A stream with its already-read head put back in front.

    `first`: the first read returns at most that much and every later read is filled as the
    stream fills it, so a parser sees the reads it saw when only a detection head of `first`
    bytes was read ahead (CloudTrail's record-size limit is checked as its text window grows).
    Without it the head is handed out by slices, and a read of the whole head is the head itself
    (no copy): access logs read whole chunks, whatever sizes the reads come in."""

    def __init__(self, head: bytes, stream: Any, first: int | None = None) -> None:
        self._head = head
        self._at = 0
        self._first = first
        self._stream = stream

    @property
    def error(self) -> str | None:
        return getattr(self._stream, "error", None)

    def read(self, size: int = 1 << 20) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if self._first is None and self._at == 0 and size >= len(self._head):
            data = self._head
        else:
            end = self._at + size
            if self._first is not None and self._at < self._first:
                end = min(end, self._first)
            data = self._head[self._at:end]
        self._at += len(data)
        if self._at >= len(self._head):
            self._head, self._at = b"", 0
            if self._first is not None and 0 < len(data) < size and end > self._first:
                data += self._stream.read(size - len(data))  # as the stream would have filled it
        return data


class Reader:
    """One input being parsed, as a log type's `parse` sees it: counts, quarantine entries (raw
    text within the budget) and the content digest chain. `sniffed`: the log type was recognised,
    not forced (a forced CloudTrail type parses a digest file as a bad record)."""

    def __init__(self, source: str, log_type: str, quarantine: QuarantineSink | None, stats: ParseStats,
                 result: SourceResult, max_record_bytes: int, on_lines: Callable[[int, int], None] | None,
                 sniffed: bool = True) -> None:
        self.source = source
        self.log_type = log_type
        self.sniffed = sniffed
        self.quarantine = quarantine
        self.stats = stats
        self.result = result
        self.max_record_bytes = max_record_bytes
        self.on_lines = on_lines
        self.raw_left = RAW_BUDGET

    def reject(self, number: int | None, reason: str, raw: str | None, offset: int | None, size: int | None) -> None:
        self.stats.records_in += 1
        self.stats.quarantined += 1
        if raw is not None:
            if len(raw) > self.raw_left or (size or 0) > self.max_record_bytes:
                raw = None  # by reference: offset and size say where it is
            else:
                self.raw_left -= len(raw)
        if self.quarantine is not None:
            self.quarantine.add(QuarantineEntry(self.source, number, reason, raw, self.log_type, offset, size))

    def progress(self, lines: int, quarantined: int) -> None:
        if self.on_lines:
            self.on_lines(lines, quarantined)

    def content(self, data: bytes) -> None:
        """Note bytes read, in order: the input's content digest (how the lake's manifest tells a
        changed file) chains them."""
        self.result._chain.update(hashlib.sha256(data).digest())


def parse_stream(stream: Any, source: str, log_type: str = AUTO, quarantine: QuarantineSink | None = None,
                 stats: ParseStats | None = None, on_lines: Callable[[int, int], None] | None = None, *,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, result: SourceResult | None = None
                 ) -> Iterator[ParsedBatch]:
    """Parse one object (gzip-aware). `stats` is updated as batches are produced;
    `on_lines(lines, quarantined)` is called per chunk (progress). A stream already advanced to
    `result.start` (a resumed file, log type known) continues its line numbering at
    `result.first_line`. Raises InputError only when the underlying read fails."""
    _check_log_type(log_type)
    stats = stats if stats is not None else ParseStats()
    result = result if result is not None else SourceResult()
    stats.files += 1
    from_key = log_type_from_key(source) if log_type == AUTO else None
    if from_key is not None and from_key not in logtypes.NAMES:  # a skipped kind (digest files)
        stats.digests_skipped += 1
        result.log_type = from_key
        return
    logical = stream if isinstance(stream, LogicalStream) else LogicalStream(stream, source)
    begin = logical.offset  # a resumed file's stream is already past its verified prefix
    # The head is the first chunk's bytes (`iter_line_chunks` reads that much): handed back whole
    # it is the first chunk as it is, not joined from a detection head and the rest (a copy of
    # every object's bytes, ~0.7 ms an object of 1.4 MB).
    head = read_fully(logical, max(HEAD_BYTES, sources.CHUNK_BYTES))
    kind = log_type if log_type != AUTO else from_key or log_type_from_content(head[:HEAD_BYTES])
    result.log_type = kind
    owner = logtypes.get(kind)  # a skipped kind found in the content is handed to its owner's parser
    reader = Reader(source, owner.name, quarantine, stats, result, max_record_bytes, on_lines, sniffed=log_type == AUTO)
    first = None if owner.name == LOG_TYPE_S3 else HEAD_BYTES
    yield from owner.parse(_Replay(head, logical, first), reader)
    result.end = result.start + logical.offset - begin


def _line_bounds(data: bytes, newlines: np.ndarray, index: int) -> tuple[int, int]:
    """(start, end) of line `index` of a chunk in its original bytes (end excludes \\n and \\r)."""
    start = 0 if index == 0 else int(newlines[index - 1]) + 1
    end = int(newlines[index]) if index < len(newlines) else len(data)
    if end > start and data[end - 1] == 13:
        end -= 1
    return start, end


def parse_access_log(stream: Any, reader: Reader) -> Iterator[ParsedBatch]:
    """AWS.S3ServerAccess's `parse`: line chunks through the vectorized parser."""
    result = reader.result
    line_no = result.first_line
    last_byte_newline = True
    for item in iter_line_chunks(stream, reader.max_record_bytes):
        if isinstance(item, LineChunk):
            batch, lines = _access_chunk(item, line_no, reader)
            line_no += lines
            last_byte_newline = item.data.endswith(b"\n")
            if batch is not None:
                yield batch
        elif isinstance(item, OversizeLine):
            line_no += 1
            result._chain.update(item.digest)
            reader.reject(line_no, f"line is longer than the maximum record size ({reader.max_record_bytes:,} bytes): "
                                   f"{item.size:,} bytes", None, result.start + item.offset, item.size)
            last_byte_newline = item.terminated
            reader.progress(1, 1)
        else:  # a StreamTail: the rest cannot be read
            line_no += 1
            result._chain.update(hashlib.sha256(item.data).digest())
            reason = f"{item.reason}; the last line is cut off there" if item.size else item.reason
            raw = item.data.decode("utf-8", "replace") if item.size else None
            reader.reject(line_no, reason, raw, result.start + item.offset, item.size)
            result.complete = False
            reader.progress(1, 1)
    result.lines = line_no
    result.ends_newline = last_byte_newline and result.complete


def _access_chunk(item: LineChunk, first_line: int, reader: Reader) -> tuple[ParsedBatch | None, int]:
    """The chunk's rows (None if it has none) and its number of lines (empty ones included)."""
    parsed = parse_chunk(item.data, reader.max_record_bytes)
    newlines = np.flatnonzero(np.frombuffer(item.data, dtype=np.uint8) == 10) if parsed.rejected else None
    for bad in parsed.rejected:
        start, end = _line_bounds(item.data, newlines, bad.index)  # type: ignore[arg-type]
        reader.reject(first_line + bad.index + 1, bad.reason, bad.raw, reader.result.start + item.offset + start,
                      end - start)
    reader.stats.records_in += parsed.lines - len(parsed.rejected)
    chunk_digest, row_digest = _digest_pair(item.data, first_line)
    reader.result._chain.update(chunk_digest)
    reader.progress(parsed.lines, len(parsed.rejected))
    if not parsed.table.num_rows:
        return None, parsed.newlines
    ids = row_ids(row_digest, parsed.table["__index"].combine_chunks())
    table = add_s3_access_p_fields(parsed.table.drop_columns(["__index"]), LOG_TYPE_S3, reader.source, _now(), ids)
    reader.stats.records_out += table.num_rows
    batch = ParsedBatch(LOG_TYPE_S3, reader.source, table.select(S3_ACCESS_SCHEMA.names), raw_chars=len(item.data))
    return batch, parsed.newlines


def _digest_pair(data: bytes, first_line: int) -> tuple[bytes, str]:
    """(SHA-256 of a chunk, for the content chain; 20 hex digits for its row ids: the chunk's
    bytes and where it starts in its object, so equal chunks at different places still give
    distinct row ids). SHA-256 is hardware-accelerated."""
    digest = hashlib.sha256(data)
    plain = digest.digest()
    digest.update(first_line.to_bytes(8, "little"))
    return plain, digest.hexdigest()[:20]


def _digest(data: bytes, first_line: int = 0) -> str:
    """20 hex digits identifying a chunk (see `_digest_pair`)."""
    return _digest_pair(data, first_line)[1]


def _now() -> datetime:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def parse_cloudtrail_file(stream: Any, reader: Reader) -> Iterator[ParsedBatch]:
    """AWS.CloudTrail's `parse`: records streamed one by one (a digest file is skipped when the
    type was sniffed, and a bad record when it was forced)."""
    trail = TrailReader(stream, reader.max_record_bytes, allow_digest=reader.sniffed)
    pending: list[TrailRecord] = []
    chars = 0
    parse_time = _now()
    for item in trail:
        if isinstance(item, TrailRecord):
            pending.append(item)
            chars += item.chars
            if len(pending) >= CLOUDTRAIL_BATCH_RECORDS or chars >= CLOUDTRAIL_BATCH_CHARS:
                yield _trail_batch(pending, trail.cut(), reader, parse_time, chars)
                pending, chars = [], 0
        elif isinstance(item, Problem):
            reader.reject(None if item.index is None else item.index + 1, item.reason, item.raw, item.offset,
                          item.size)
            reader.progress(1, 1)
        elif isinstance(item, DigestSkipped):
            reader.stats.digests_skipped += 1
    if pending:
        yield _trail_batch(pending, trail.cut(), reader, parse_time, chars)
    reader.result._chain.update(trail.cut())
    if trail.stopped_early or getattr(stream, "error", None):
        reader.result.complete = False
    reader.result.ends_newline = False  # a CloudTrail file is never resumed: a changed one is read again whole


def _trail_batch(pending: list[TrailRecord], region: bytes, reader: Reader, parse_time: datetime,
                 chars: int) -> ParsedBatch:
    reader.result._chain.update(region)
    digest = hashlib.sha256(region)
    digest.update(pending[0].index.to_bytes(8, "little"))
    records = [item.record for item in pending]
    table = _cloudtrail_table(pending, digest.hexdigest()[:20], reader.source, parse_time)
    reader.stats.records_in += len(pending)
    reader.stats.records_out += table.num_rows
    reader.progress(len(pending), 0)
    return ParsedBatch(LOG_TYPE_CLOUDTRAIL, reader.source, table, records=records, raw_chars=chars)


def _cloudtrail_table(items: list[TrailRecord], digest: str, source: str, parse_time: datetime) -> pa.Table:
    rows = []
    key_origin = cloudtrail_key_origin(source)
    for item in items:
        record = item.record
        row = cloudtrail.to_row(record, item.event_time)
        ips, arns, accounts = cloudtrail_indicators(record)
        origin = cloudtrail_record_origin(record, key_origin)
        row.update(
            p_log_type=LOG_TYPE_CLOUDTRAIL,
            p_row_id=f"{digest}{item.index:07d}",
            p_event_time=item.event_time,
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


def parse_object(obj: InputObject, log_type: str, quarantine: QuarantineSink | None, stats: ParseStats,
                 on_lines: Callable[[int, int], None] | None = None, *,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, result: SourceResult | None = None,
                 stream: LogicalStream | None = None) -> Iterator[ParsedBatch]:
    """One input, isolated: whatever goes wrong (it cannot be opened, a read fails midway, or
    anything else) becomes one quarantine entry, `result.failed` and `stats.unreadable`; it never
    raises. `stream`: an already opened (and advanced) stream of a resumed file."""
    result = result if result is not None else SourceResult()
    raw = None
    try:
        if stream is None:
            raw = obj.open_raw()
            stream = LogicalStream(raw, obj.name)
        yield from parse_stream(stream, obj.name, log_type, quarantine, stats, on_lines,
                                max_record_bytes=max_record_bytes, result=result)
    except InputError as exc:
        _failed(obj, str(exc), quarantine, stats, result)
    except Exception as exc:  # never a traceback, never silent: the input is reported as failed
        _failed(obj, f"internal error while reading {obj.name}: {type(exc).__name__}: {clean_text(str(exc))[:300]}",
                quarantine, stats, result)
    finally:
        if raw is not None:
            obj.close(raw)


def _failed(obj: InputObject, reason: str, quarantine: QuarantineSink | None, stats: ParseStats,
            result: SourceResult) -> None:
    result.failed = reason
    stats.records_in += 1
    stats.quarantined += 1
    stats.unreadable += 1
    if quarantine is not None:
        quarantine.add(QuarantineEntry(obj.name, None, reason, None, None))


class ParseRun:
    """Iterable of ParsedBatch over many inputs; `.stats` holds the running totals."""

    def __init__(self, objects: list[InputObject], log_type: str, quarantine: QuarantineSink | None,
                 progress: Any = None, workers: int = 1, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.objects = objects
        self.log_type = log_type
        self.quarantine = quarantine
        self.progress = progress
        self.workers = workers
        self.max_record_bytes = max_record_bytes
        self.stats = ParseStats()

    def _on_lines(self, lines: int, quarantined: int) -> None:
        if self.progress is not None:
            self.progress.update(lines, quarantined=self.stats.quarantined)

    def __iter__(self) -> Iterator[ParsedBatch]:
        from detectors.archives import close_cursors

        try:
            if self.workers > 1 and len(self.objects) > 1 and all(o.kind != "stdin" for o in self.objects):
                yield from self._parallel()
                return
            for obj in self.objects:
                yield from parse_object(obj, self.log_type, self.quarantine, self.stats, self._on_lines,
                                        max_record_bytes=self.max_record_bytes)
        finally:
            close_cursors()

    def _parallel(self) -> Iterator[ParsedBatch]:
        from concurrent.futures import ProcessPoolExecutor

        n = len(self.objects)
        with ProcessPoolExecutor(self.workers) as pool:
            for shipped, stats, entries in pool.map(_parse_in_worker, self.objects, [self.log_type] * n,
                                                    [self.max_record_bytes] * n):
                for entry in entries:
                    if self.quarantine is not None:
                        self.quarantine.add(entry)
                self.stats.add(stats)
                self._on_lines(stats.records_in, stats.quarantined)
                for log_type, source, data, records in shipped:
                    table = pa.ipc.open_stream(data).read_all()
                    yield ParsedBatch(log_type, source, table, records=records)


def ipc_bytes(table: pa.Table) -> bytes:
    """Arrow IPC stream: only the rows' own bytes (pickling a slice would copy its whole parent)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _parse_in_worker(obj: InputObject, log_type: str, max_record_bytes: int
                     ) -> tuple[list[tuple], ParseStats, list[QuarantineEntry]]:
    """Worker: one whole object, parsed in a child process; batches go back as Arrow IPC."""
    from detectors.quarantine import MemoryQuarantine

    sink, stats = MemoryQuarantine(), ParseStats()
    shipped = [(b.log_type, b.source, ipc_bytes(b.table), b.records)
               for b in parse_object(obj, log_type, sink, stats, max_record_bytes=max_record_bytes)]
    return shipped, stats, sink.entries


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BLOCKS_BELOW = 32 * 1024 * 1024   # glibc's own upper bound for the mmap threshold
_KEEP_FREE_UP_TO = 64 * 1024 * 1024


def keep_freed_memory() -> None:
    """Let this process's C allocator keep freed memory instead of handing it back at once.

    Every chunk allocates the same few MB of arrays again (its bytes, positions, tokens, Parquet
    buffers). glibc maps blocks over 128 KB-32 MB fresh and returns them on free (or trims them off
    the heap top), so each chunk's arrays fault their pages in again: ~8% of `ingest`'s CPU on
    S3's delivery shape. With blocks under 32 MB taken from the heap and the heap trimmed only past
    64 MB free, pages are reused; peak RSS is unchanged (the same arrays, reused). Linux with
    glibc only; elsewhere (macOS, musl) nothing changes. Forked workers inherit it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, _KEEP_BLOCKS_BELOW)
    mallopt(_M_TRIM_THRESHOLD, _KEEP_FREE_UP_TO)


def parse_inputs(inputs: Sequence[str], log_type: str = AUTO, quarantine: QuarantineSink | None = None,
                 progress: Any = None, workers: int = 1,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> ParseRun:
    """All inputs (files, directories, `-`, s3:// prefixes) are resolved up front, so a missing
    input fails before any output is written."""
    _check_log_type(log_type)
    return ParseRun(list(expand_inputs(inputs)), log_type, quarantine, progress, workers, max_record_bytes)


def records_as_json(batch: ParsedBatch) -> Iterator[str]:
    """JSON lines of a batch's events (what `bucketwatch parse` prints)."""
    for event in batch.events():
        yield json.dumps(event, ensure_ascii=False, default=str)
