"""Parse inputs and write them to a local lake, optionally with one process per file.

With workers, each process parses *and writes* its own files (Parquet encoding is a large share
of the work), and sends back only counts and quarantine entries, so throughput scales with cores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from detectors.lake.writer import LakeWriter, partition_tables
from detectors.pipeline import AUTO, ParsedBatch, ParseStats, parse_inputs, parse_stream
from detectors.quarantine import MemoryQuarantine, QuarantineEntry, QuarantineSink
from detectors.schema import DB_LOGS, TABLE_OF_LOG_TYPE
from detectors.sources import InputObject

FLUSH_ROWS = 100_000


class ObjectBuffer:
    """Collects one input object's rows per table and partition and writes each partition once:
    one file per partition per object instead of one per chunk (log files span few hours, chunks
    are small). Each batch is split into partitions as it arrives (contiguous arrays, cheap);
    the pieces are written together. Flushes early past FLUSH_ROWS so memory stays bounded;
    chunking is deterministic, so the file names (digests of the row ids) are too."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.pending: dict[tuple[str, str], list[pa.Table]] = {}
        self.rows = 0

    def add(self, batch: ParsedBatch) -> None:
        for partition, rows in partition_tables(batch.table):
            self.pending.setdefault((batch.log_type, partition), []).append(rows)
        self.rows += batch.table.num_rows
        if self.rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for (log_type, partition), pieces in sorted(self.pending.items()):
            self.writer.write_partition(DB_LOGS, TABLE_OF_LOG_TYPE[log_type], partition, pa.concat_tables(pieces))
        self.pending.clear()
        self.rows = 0


def _write_run(batches: Iterable[ParsedBatch], writer: LakeWriter) -> None:
    buffer, source = ObjectBuffer(writer), None
    for batch in batches:
        if batch.source != source:
            buffer.flush()
            source = batch.source
        buffer.add(batch)
    buffer.flush()


def _ingest_object(obj: InputObject, root: str, log_type: str) -> tuple[ParseStats, list[QuarantineEntry]]:
    writer = LakeWriter(Path(root))
    sink, stats = MemoryQuarantine(), ParseStats()
    stream = obj.open_raw()
    try:
        _write_run(parse_stream(stream, obj.name, log_type, sink, stats), writer)
    finally:
        if obj.kind != "stdin":
            stream.close()
    return stats, sink.entries


def ingest_inputs(inputs: Sequence[str], root: Path, log_type: str = AUTO,
                  quarantine: QuarantineSink | None = None, progress: Any = None, workers: int = 1) -> ParseStats:
    """Parse every input into the lake at `root`; returns the counts (lines in = out + quarantined)."""
    run = parse_inputs(inputs, log_type, quarantine, progress, workers=1)
    if workers <= 1 or len(run.objects) < 2 or any(o.kind == "stdin" for o in run.objects):
        _write_run(run, LakeWriter(root))
        return run.stats
    stats = ParseStats()
    with ProcessPoolExecutor(workers) as pool:
        n = len(run.objects)
        for done, entries in pool.map(_ingest_object, run.objects, [str(root)] * n, [log_type] * n):
            for entry in entries:
                if quarantine is not None:
                    quarantine.add(entry)
            stats.add(done)
            if progress is not None:
                progress.update(done.lines_in, quarantined=stats.quarantined)
    return stats
