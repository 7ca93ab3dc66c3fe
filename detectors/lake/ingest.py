"""Parse inputs into the local lake, exactly once (detectors.lake.manifest), source by source.

Per input:
- unchanged since it was last read (same size and mtime, or ETag, same limits): not read at all;
- a grown access log whose processed prefix still has its recorded digests: only the new lines
  are read and added;
- new or otherwise changed: read whole; its output replaces its previous output.
Each source's rows and quarantine entries are staged and committed atomically; rows whose lake
file already exists (a byte-identical copy under another name, or a re-read that produced the
same files) are counted as duplicates and not written again. A source that cannot be read, or
fails in any way, is one quarantine entry; the run goes on. Every run checks the invariant:
records in = rows written + duplicates skipped + quarantined.

With workers, each process parses *and writes* (stages) its own inputs (Parquet encoding is a
large share of the work); the parent only commits, in input order.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from detectors.archives import close_cursors
from detectors.content import InputError, LogicalStream
from detectors.lake.manifest import QUARANTINE_DIR, Manifest, Segment, SourceRecord, StagedFile, source_id
from detectors.lake.writer import LakeWriter, partition_keys, partition_path, partition_tables
from detectors.parsers.limits import DEFAULT_MAX_RECORD_BYTES
from detectors.pipeline import (
    AUTO,
    ParsedBatch,
    ParseStats,
    SourceResult,
    _check_log_type,
    ipc_bytes,
    keep_freed_memory,
    parse_object,
)
from detectors.quarantine import QuarantineEntry
from detectors.schema import DB_LOGS, LOG_TYPE_S3, TABLE_OF_LOG_TYPE
from detectors.sources import CHUNK_BYTES, InputObject, Limited, expand_inputs

FLUSH_ROWS = 100_000


class _Spill:
    """An object's rows set aside on disk, sorted by partition: one Arrow IPC file per spill and
    log type, one record batch per partition. Read back one partition at a time."""

    def __init__(self, folder: Path | None) -> None:
        self._temporary = None if folder is not None else tempfile.TemporaryDirectory(prefix="bucketwatch-spill-")
        self.folder = Path(self._temporary.name) if self._temporary is not None else folder
        self.index: dict[tuple[str, str], list[tuple[Path, int]]] = {}
        self.paths: list[Path] = []
        self._files: dict[Path, Any] = {}
        self._readers: dict[Path, Any] = {}

    def add(self, log_type: str, partitions: list[tuple[str, pa.Table]]) -> None:
        if not partitions:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"spill-{len(self.paths):05d}.arrow"
        self.paths.append(path)
        writer = None
        number = 0
        with pa.OSFile(str(path), "wb") as sink:
            for partition, rows in partitions:
                if writer is None:
                    writer = pa.ipc.new_file(sink, rows.schema)
                for batch in rows.to_batches():
                    writer.write_batch(batch)
                    self.index.setdefault((log_type, partition), []).append((path, number))
                    number += 1
            if writer is not None:
                writer.close()

    def pieces(self, key: tuple[str, str]) -> Iterator[pa.Table]:
        """A partition's rows in input order, one spilled piece at a time."""
        for path, number in self.index.get(key, []):
            if path not in self._readers:
                self._files[path] = pa.OSFile(str(path), "rb")  # read, not mapped: RSS holds one piece
                self._readers[path] = pa.ipc.open_file(self._files[path])
            yield pa.Table.from_batches([self._readers[path].get_batch(number)])

    def close(self) -> None:
        self._readers.clear()
        for file in self._files.values():
            file.close()
        self._files.clear()
        for path in self.paths:
            path.unlink(missing_ok=True)
        if self._temporary is not None:
            self._temporary.cleanup()
        elif self.paths:
            with contextlib.suppress(OSError):  # the folder is this object's alone (made when it spilled)
                self.folder.rmdir()
        self.index.clear()


class ObjectBuffer:
    """Collects one input object's rows and writes each partition once: one file per partition
    per object (of FILE_ROWS rows at most), however the object's rows are ordered in time.

    Batches are kept as they arrive. Past FLUSH_ROWS rows (memory stays bounded), the buffered rows
    are split by partition (`partition_tables`: zero-copy slices for time-ordered rows, one sort
    for rows in no time order). Partitions older than every row among the latest quarter of them
    look complete (time-ordered logs move on): they are written now. The others may grow: they are spilled to disk (`_Spill`)
    and written with the rest of their rows, into one file, when they look complete at a later
    spill or when the object ends (`flush()`). An object of at most FLUSH_ROWS rows is never
    spilled; an archive in no time order is spilled and each partition written once at the end.
    Rows of a partition that was written already and comes back later go to another file. Chunking
    is deterministic, so the pieces and the file names (digests of the row ids) are too."""

    def __init__(self, writer: Any, spill_folder: Path | None = None, flush_rows: int = FLUSH_ROWS) -> None:
        self.writer = writer
        self.spill_folder = spill_folder
        self.flush_rows = flush_rows
        self.pending: dict[str, list[pa.Table]] = {}
        self.rows = 0
        self._spill: _Spill | None = None

    def add(self, batch: ParsedBatch) -> None:
        if not batch.table.num_rows:
            return
        self.pending.setdefault(batch.log_type, []).append(batch.table)
        self.rows += batch.table.num_rows
        if self.rows >= self.flush_rows:
            self._spill_pending(self._frontier())

    def _frontier(self) -> dict[str, str]:
        """Per log type, the earliest partition among the latest quarter of the buffered rows:
        partitions before it look complete (time-ordered logs have moved on); in an archive in no
        time order the latest rows reach back to its start, so nothing does."""
        frontier = {}
        for log_type, tables in self.pending.items():
            seen, earliest = 0, None
            for table in reversed(tables):
                first = int(partition_keys(table).min())
                earliest = first if earliest is None else min(earliest, first)
                seen += table.num_rows
                if seen * 4 >= self.flush_rows:
                    break
            frontier[log_type] = partition_path(earliest)
        return frontier

    def _partitions(self) -> Iterator[tuple[str, Iterator[tuple[str, pa.Table]]]]:
        for log_type, tables in sorted(self.pending.items()):
            yield log_type, partition_tables(tables[0] if len(tables) == 1 else pa.concat_tables(tables))

    def _spill_pending(self, frontier: dict[str, str]) -> None:
        if self._spill is None:
            self._spill = _Spill(self.spill_folder)
        spill = self._spill
        for log_type, partitions in self._partitions():
            kept = []
            for partition, rows in partitions:
                if partition >= frontier[log_type]:  # zero-padded paths sort in time order
                    kept.append((partition, rows))
                else:
                    self._write((log_type, partition), rows, spill)
            spill.add(log_type, kept)
        self.pending.clear()
        self.rows = 0

    def _write(self, key: tuple[str, str], rows: pa.Table | None, spill: _Spill | None) -> None:
        """A partition's rows, with its spilled ones before them, into its file."""
        log_type, partition = key
        if spill is not None and key in spill.index:
            rows = itertools.chain(spill.pieces(key), [rows] if rows is not None else [])
        self.writer.write_partition(DB_LOGS, TABLE_OF_LOG_TYPE[log_type], partition, rows)
        if spill is not None:
            spill.index.pop(key, None)

    def flush(self) -> None:
        spill, self._spill = self._spill, None
        try:
            memory = {(log_type, p): rows for log_type, partitions in self._partitions() for p, rows in partitions}
            for key in sorted(set(spill.index if spill is not None else ()) | set(memory)):
                self._write(key, memory.get(key), spill)
        finally:
            if spill is not None:
                spill.close()
        self.pending.clear()
        self.rows = 0


class StagingWriter(LakeWriter):
    """A LakeWriter into the run's staging folder that remembers what it wrote. Files are staged
    flat, named after the source (`<prefix><n>.parquet`; the commit moves each to its place in the
    lake): no folder per source to create and remove (two metadata operations per delivered
    object, which a busy disk makes as slow as writing its Parquet). A file is written under its
    staged name at once: nothing reads staging before the commit, so no rename is needed."""

    def __init__(self, staging: Path, prefix: str) -> None:
        super().__init__(staging)
        self.prefix = prefix
        self.staged: list[StagedFile] = []
        self._made = False
        self._staged_as = ""  # the staged name of the file being written (one at a time)

    def _temporary(self, folder: str, name: str) -> Path:
        if not self._made:
            self.root.mkdir(parents=True, exist_ok=True)
            self._made = True
        self._staged_as = f"{self.prefix}{self.files_written:06d}.parquet"
        return self.root / self._staged_as

    def _target(self, folder: str, name: str) -> Path:
        return self.root / self._staged_as

    def on_written(self) -> None:
        self.staged.append(StagedFile(self.last_written, self.last_rows, staged_as=self._staged_as))


class StagedQuarantine:
    """A source's quarantine entries as JSON lines, staged as `<prefix>quarantine.jsonl`."""

    def __init__(self, staging: Path, name: str, prefix: str) -> None:
        self.staging = staging
        self.name = name
        self.staged_as = f"{prefix}quarantine.jsonl"
        self.count = 0
        self._file: IO[str] | None = None

    def add(self, entry: QuarantineEntry) -> None:
        if self._file is None:
            path = self.staging / self.staged_as
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")
        self._file.write(entry.to_json() + "\n")
        self.count += 1

    def close(self) -> StagedFile | None:
        if self._file is None:
            return None
        self._file.close()
        self._file = None
        return StagedFile(self.name, self.count, quarantine=True, staged_as=self.staged_as)


def limits_key(max_record_bytes: int) -> str:
    """What a file's chunking depends on: a resumed file must be cut as it was."""
    return f"max_record_bytes={max_record_bytes};chunk_bytes={CHUNK_BYTES}"


@dataclass
class Task:
    """One input to read, and how."""
    obj: InputObject
    sid: str | None               # None: stdin (not tracked by the manifest)
    log_type: str
    max_record_bytes: int
    staging: str                  # the run's staging folder (shared by its sources)
    prefix: str                   # of this source's staged file names
    previous: SourceRecord | None = None
    resume: bool = False          # try to resume after the previous record's verified prefix
    fingerprint: tuple[int | None, int | None, str | None] = (None, None, None)  # size, mtime_ns, etag


@dataclass
class Staged:
    """A task's outcome, ready to commit."""
    task: Task
    stats: ParseStats
    result: SourceResult
    files: list[StagedFile]
    resumed: bool = False
    shipped: list[tuple] = field(default_factory=list)  # batches sent back to the parent (detect)


def verify_prefix(stream: LogicalStream, segments: list[Segment], max_record_bytes: int) -> bool:
    """Whether the stream starts with the recorded segments (same chunking, same digests)."""
    from detectors.sources import LineChunk, OversizeLine, iter_line_chunks

    position = 0
    for segment in segments:
        if segment.start != position:
            return False
        limited = Limited(stream, segment.end - segment.start)
        chain = hashlib.sha256()
        for item in iter_line_chunks(limited, max_record_bytes):
            if isinstance(item, LineChunk):
                chain.update(hashlib.sha256(item.data).digest())
            elif isinstance(item, OversizeLine):
                chain.update(item.digest)
            else:
                return False
        if chain.hexdigest() != segment.digest or stream.offset != segment.end:
            return False
        position = segment.end
    return True


def stage_source(task: Task, on_batch: Callable[[ParsedBatch], None] | None = None,
                 on_lines: Callable[[int, int], None] | None = None, ship: bool = False) -> Staged:
    """Read one input into its staging folder (never raises: failures are in `result.failed`)."""
    staging = Path(task.staging)
    stats, result = ParseStats(), SourceResult()
    stream, raw, resumed = None, None, False
    writer = StagingWriter(staging, task.prefix)
    quarantine: StagedQuarantine | None = None
    shipped: list[tuple] = []
    try:
        if task.resume and task.previous is not None:
            raw = task.obj.open_raw()
            stream = LogicalStream(raw, task.obj.name)
            if verify_prefix(stream, task.previous.segments, task.max_record_bytes):
                resumed = True
                result.start, result.first_line = task.previous.bytes_done, task.previous.lines_done
            else:
                task.obj.close(raw)
                stream, raw = None, None
        log_type = task.previous.log_type if resumed and task.previous else task.log_type
        quarantine = StagedQuarantine(staging, _quarantine_name(task.sid or "stdin", result.start), task.prefix)
        buffer = ObjectBuffer(writer, staging / f"{task.prefix}spill")
        for batch in parse_object(task.obj, log_type or AUTO, quarantine, stats, on_lines,
                                  max_record_bytes=task.max_record_bytes, result=result, stream=stream):
            if ship:
                shipped.append((batch.log_type, batch.source, ipc_bytes(batch.table), batch.records))
            else:
                buffer.add(batch)
                if on_batch is not None:
                    on_batch(batch)
        buffer.flush()
    except InputError as exc:
        result.failed = str(exc)
    except Exception as exc:  # a failure while staging (disk full, ...): this source only
        result.failed = f"internal error while ingesting {task.obj.name}: {type(exc).__name__}: {exc}"
    finally:
        if raw is not None:
            task.obj.close(raw)
    files = list(writer.staged)
    if quarantine is not None and (done := quarantine.close()) is not None:
        files.append(done)
    return Staged(task, stats, result, files, resumed, shipped)


def _quarantine_name(sid: str, start: int) -> str:
    return f"{QUARANTINE_DIR}/{sid}/{start:016d}.jsonl"


def _stage_in_worker(task: Task, ship: bool) -> Staged:
    return stage_source(task, ship=ship)


@dataclass
class IngestReport:
    """What a run did; `holds()` is the invariant every run checks."""
    stats: ParseStats = field(default_factory=ParseStats)
    rows_written: int = 0
    duplicates: int = 0
    quarantine_written: int = 0
    sources: int = 0
    unchanged: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    duplicate_sources: list[tuple[str, list[str]]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    recovered: int = 0

    @property
    def quarantined(self) -> int:
        return self.quarantine_written

    def holds(self) -> bool:
        return self.stats.records_in == self.rows_written + self.duplicates + self.quarantine_written

    def invariant(self) -> str:
        sign = "=" if self.holds() else "!="
        return (f"{self.stats.records_in:,} records in {sign} {self.rows_written:,} rows written + "
                f"{self.duplicates:,} duplicates skipped + {self.quarantine_written:,} quarantined")


class LakeIngest:
    """A run over a lake (context manager: lock, recovery, commits). `run()` reads inputs."""

    def __init__(self, root: Path | str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 quarantine_copy: IO[str] | None = None) -> None:
        self.root = Path(root)
        self.max_record_bytes = max_record_bytes
        self.quarantine_copy = quarantine_copy
        self.manifest = Manifest(self.root)
        self.report = IngestReport()

    def __enter__(self) -> LakeIngest:
        self.manifest.__enter__()
        self.report.recovered = self.manifest.recovered
        return self

    def __exit__(self, *exc: object) -> None:
        close_cursors()
        self.manifest.__exit__(*exc)

    def run(self, objects: Iterable[InputObject], log_type: str = AUTO, workers: int = 1, *,
            reread: bool = False, on_batch: Callable[[ParsedBatch], None] | None = None,
            progress: Any = None) -> IngestReport:
        """`reread`: read every input whole (detect evaluates all of it) instead of skipping
        unchanged ones and resuming grown ones; the output still replaces, never duplicates.
        One worker plans each object right before reading it (an archive's member is read while
        its listing stands on it: detectors.archives)."""
        _check_log_type(log_type)
        tasks = (t for t in (self._plan(obj, log_type, reread) for obj in objects) if t is not None)
        for staged in self._stage_all(tasks, workers, on_batch, progress):
            self._commit(staged)
            if progress is not None and workers > 1:
                progress.update(staged.stats.records_in, quarantined=self.report.quarantine_written)
        return self.report

    # -- planning ------------------------------------------------------------------------------
    def _plan(self, obj: InputObject, log_type: str, reread: bool) -> Task | None:
        self.report.sources += 1
        staging, prefix = self.manifest.staging_root / self.manifest.run_id, f"{self.report.sources:06d}-"
        if obj.kind == "stdin":
            return Task(obj, None, log_type, self.max_record_bytes, str(staging), prefix)
        sid = source_id(obj.kind, obj.key)
        previous = self.manifest.get(sid)
        fingerprint = _fingerprint(obj)
        task = Task(obj, sid, log_type, self.max_record_bytes, str(staging), prefix, previous, fingerprint=fingerprint)
        if previous is None or reread or fingerprint[0] is None:
            return task
        same_reading = previous.limits == limits_key(self.max_record_bytes) and \
            (log_type == AUTO or previous.log_type == log_type)
        if same_reading and (previous.size, previous.mtime_ns, previous.etag) == fingerprint:
            self.report.unchanged.append(obj.name)
            return None
        task.resume = (same_reading and previous.log_type == LOG_TYPE_S3 and previous.complete
                       and previous.ends_newline and previous.bytes_done > 0)
        return task

    def _stage_all(self, tasks: Iterable[Task], workers: int, on_batch: Callable[[ParsedBatch], None] | None,
                   progress: Any) -> Iterator[Staged]:
        if workers <= 1:
            yield from self._stage_in_order(tasks, on_batch, progress)
            return
        tasks = list(tasks)
        if len(tasks) < 2 or any(t.sid is None for t in tasks):
            yield from self._stage_in_order(tasks, on_batch, progress)
            return
        from concurrent.futures import ProcessPoolExecutor

        ship = on_batch is not None  # detect: batches come back for the rules; the parent stages them
        with ProcessPoolExecutor(workers) as pool:
            for staged in pool.map(_stage_in_worker, tasks, [ship] * len(tasks)):
                if ship:
                    self._stage_shipped(staged, on_batch)  # type: ignore[arg-type]
                yield staged

    def _stage_in_order(self, tasks: Iterable[Task], on_batch: Callable[[ParsedBatch], None] | None,
                        progress: Any) -> Iterator[Staged]:
        def on_lines(lines: int, quarantined: int) -> None:
            if progress is not None:
                progress.update(lines, quarantined=self.report.quarantine_written)

        for task in tasks:
            yield stage_source(task, on_batch, on_lines)

    @staticmethod
    def _stage_shipped(staged: Staged, on_batch: Callable[[ParsedBatch], None]) -> None:
        writer = StagingWriter(Path(staged.task.staging), staged.task.prefix)
        buffer = ObjectBuffer(writer, Path(staged.task.staging) / f"{staged.task.prefix}spill")
        for log_type, source, data, records in staged.shipped:
            batch = ParsedBatch(log_type, source, pa.ipc.open_stream(data).read_all(), records=records)
            buffer.add(batch)
            on_batch(batch)
        buffer.flush()
        staged.shipped = []
        staged.files = [*writer.staged, *(f for f in staged.files if f.quarantine)]

    # -- committing ----------------------------------------------------------------------------
    def _commit(self, staged: Staged) -> None:
        task, result, report = staged.task, staged.result, self.report
        staging = Path(task.staging)
        if result.failed:
            self._commit_failure(staged)
            return
        sid = task.sid or f"stdin-{result.digest[:24]}"
        files = [_renamed(f, task.sid, sid) for f in staged.files]
        record = None
        if task.sid is not None:
            record = self._record(staged)
            if task.previous is not None and not staged.resumed and task.previous.bytes_done:
                report.replaced.append(task.obj.name)
        if staged.resumed:
            report.resumed.append(task.obj.name)
        done = self.manifest.commit(record, sid, files, keep_previous=staged.resumed or task.sid is None,
                                    staging=staging)
        report.stats.add(staged.stats)
        report.rows_written += done.rows_written
        report.duplicates += done.duplicates
        report.quarantine_written += done.quarantine_written
        if done.duplicate_of:
            report.duplicate_sources.append((task.obj.name, sorted(done.duplicate_of)))
        self._copy_quarantine([f for f in files if f.quarantine])

    def _record(self, staged: Staged) -> SourceRecord:
        task, result = staged.task, staged.result
        previous = task.previous if staged.resumed else None
        segment = Segment(result.start, result.end, result.first_line, result.digest)
        size, mtime_ns, etag = task.fingerprint
        return SourceRecord(
            id=task.sid or "", kind=task.obj.kind, name=task.obj.name, size=size, mtime_ns=mtime_ns, etag=etag,
            log_type=result.log_type, limits=limits_key(task.max_record_bytes), bytes_done=result.end,
            lines_done=result.lines, ends_newline=result.ends_newline, complete=result.complete,
            segments=[*(previous.segments if previous else []), segment],
            records_in=(previous.records_in if previous else 0) + staged.stats.records_in,
            rows=(previous.rows if previous else 0) + staged.stats.records_out,
            quarantined=(previous.quarantined if previous else 0) + staged.stats.quarantined)

    def _commit_failure(self, staged: Staged) -> None:
        """The input could not be read: one quarantine entry (its own file), no manifest row, so
        the next run reads it again; its earlier output, if any, stays until then."""
        task, report = staged.task, self.report
        staging = Path(task.staging)
        self.manifest.discard(staging, task.prefix)
        sid = task.sid or "stdin-failed"
        sink = StagedQuarantine(staging, f"{QUARANTINE_DIR}/{sid}/failed.jsonl", task.prefix)
        sink.add(QuarantineEntry(task.obj.name, None, staged.result.failed or "failed", None, None))
        file = sink.close()
        done = self.manifest.commit(None, sid, [file] if file else [], keep_previous=True, staging=staging)
        report.stats.add(ParseStats(records_in=1, quarantined=1, files=1, unreadable=1))
        report.quarantine_written += done.quarantine_written
        report.failures.append((task.obj.name, staged.result.failed or "failed"))
        self._copy_quarantine([file] if file else [])

    def _copy_quarantine(self, files: Iterable[StagedFile]) -> None:
        if self.quarantine_copy is None:
            return
        for file in files:
            with open(self.root / file.path, encoding="utf-8") as committed:
                for line in committed:
                    self.quarantine_copy.write(line)


def _renamed(file: StagedFile, staged_sid: str | None, sid: str) -> StagedFile:
    """stdin's quarantine file is named after its content digest, known only at the end."""
    if staged_sid is not None or not file.quarantine:
        return file
    return StagedFile(file.path.replace("/stdin/", f"/{sid}/", 1), file.rows, True, staged_as=file.staged_as or file.path)


def _fingerprint(obj: InputObject) -> tuple[int | None, int | None, str | None]:
    if obj.kind == "s3":
        return obj.size, None, obj.etag
    try:
        status = os.stat(obj.member.archive if obj.kind == "member" else obj.location)
    except OSError:
        return None, None, None
    if obj.kind == "member":  # a member is as new as its archive
        return obj.size, status.st_mtime_ns, None
    return status.st_size, status.st_mtime_ns, None


def ingest_inputs(inputs: Sequence[str], root: Path, log_type: str = AUTO, quarantine_copy: IO[str] | None = None,
                  progress: Any = None, workers: int = 1,
                  max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> IngestReport:
    """Parse every input into the lake at `root`, exactly once. Inputs are resolved first: a
    missing one fails (InputError) before anything is written."""
    _check_log_type(log_type)
    objects = expand_inputs(inputs)  # resolved now; archive members listed as they are read
    keep_freed_memory()
    with LakeIngest(root, max_record_bytes, quarantine_copy) as lake:
        return lake.run(objects, log_type, workers, progress=progress)


def quarantine_entries(root: Path | str) -> Iterator[dict[str, Any]]:
    """Every entry of a lake's quarantine (tests, tools)."""
    folder = Path(root) / QUARANTINE_DIR
    for path in sorted(folder.rglob("*.jsonl")):
        with open(path, encoding="utf-8") as file:
            for line in file:
                yield json.loads(line)

