"""One detection run over parsed batches: evaluate, group, write logs and rule matches.

Shared by `bucketwatch detect`, the interim demo, the benchmark and the Lambda handler.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from detectors.config import DetectionSettings, activate
from detectors.engine.batches import evaluate_batch, write_rule_matches
from detectors.engine.evaluate import Engine, FlushResult
from detectors.engine.rules import Rule, check_rule_overrides, load_rules
from detectors.engine.stores import DedupStore
from detectors.lake.ingest import ObjectBuffer
from detectors.lake.writer import row_ids_digest
from detectors.pipeline import ParsedBatch

# Parsed batches are small (a few thousand lines); grouping matches costs per (rule, dedup)
# group per batch, so batches of one log type are combined up to this many rows first.
COMBINE_ROWS = 100_000
# CloudTrail batches carry their records as Python dicts (~5x their text): combined only up to
# this much text, so memory stays bounded (the detector Lambda has 1 GB).
COMBINE_CHARS = 32 * 1024 * 1024


@dataclass
class DetectionSession:
    engine: Engine
    writer: Any = None  # LakeWriter / S3LakeWriter, or None to skip the lake
    write_logs: bool = True  # False: the caller writes the logs (the local lake's exactly-once ingest)
    rows_written: int = 0
    match_rows: int = 0
    combine_rows: int = COMBINE_ROWS
    _buffer: list[ParsedBatch] = field(default_factory=list)

    @classmethod
    def create(cls, settings: DetectionSettings, store: DedupStore | None = None, writer: Any = None,
               rule_dirs: Iterable[str] = (), rules: list[Rule] | None = None,
               on_created: Any = None) -> DetectionSession:
        activate(settings)  # rules read their configured lists through bucketwatch_helpers.settings()
        if rules is None:
            check_rule_overrides(settings, rule_dirs)
            rules = load_rules(rule_dirs, settings=settings, only_enabled=True)
        return cls(engine=Engine(rules, store, on_created=on_created, group_thresholds=settings.group_thresholds),
                   writer=writer)

    def process(self, batch: ParsedBatch) -> None:
        """Queue a batch; it is evaluated once enough rows of its log type are queued.
        Call `finish()` after the last batch (of an object, for the Lambda)."""
        if self._buffer and self._buffer[0].log_type != batch.log_type:
            self.finish()
        self._buffer.append(batch)
        if sum(b.table.num_rows for b in self._buffer) >= self.combine_rows or \
                (batch.records is not None and sum(b.raw_chars for b in self._buffer) >= COMBINE_CHARS):
            self.finish()

    def finish(self) -> FlushResult | None:
        if not self._buffer:
            return None
        batches, self._buffer = self._buffer, []
        return self._run(batches)

    def discard(self) -> None:
        """Drop queued batches (their object failed; it will be retried as a whole)."""
        self._buffer = []

    def _run(self, batches: list[ParsedBatch]) -> FlushResult:
        with collector_paused():
            return self._run_batch(batches)

    def _run_batch(self, batches: list[ParsedBatch]) -> FlushResult:
        batch = _combine(batches)
        evaluate_batch(self.engine, batch)
        # The rows' identity makes the dedup update exactly-once: the same rows again (a retried
        # delivery, a re-read file) are recognised by the store and change nothing.
        contribution = f"{batch.log_type}:{row_ids_digest(batch.table, 16)}" if batch.table.num_rows else None
        result = self.engine.flush(contribution)
        if self.writer is not None:
            if self.write_logs:
                # The logs are written as `ingest` writes them: each parsed batch split into hours
                # (contiguous, cheap), one file per hour. Partitioning the combined table instead
                # gathers stragglers from a many-chunk table, which copies every chunk per gather.
                logs = ObjectBuffer(self.writer)
                for part in batches:
                    logs.add(part)
                logs.flush()
                self.rows_written += batch.table.num_rows
            self.match_rows += write_rule_matches(self.writer, batch, result)
        return result


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while one batch is evaluated and grouped.

    A batch allocates many small objects that hold no cycles (matches, windows, sample dicts, row
    views); each time enough of them pile up the collector walks the live objects again, every
    stored alert state and sample among them: 10-18% of the engine's CPU time on the benchmark
    (bench/bench_detect.py, busy traffic). Reference counting frees these objects either way; a
    cycle made meanwhile is collected at the next collection after the batch."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _combine(batches: list[ParsedBatch]) -> ParsedBatch:
    if len(batches) == 1:
        return batches[0]
    records = None
    if all(b.records is not None for b in batches):
        records = [record for b in batches for record in b.records]  # type: ignore[union-attr]
    table = pa.concat_tables([b.table for b in batches])  # zero-copy: columns become chunked
    return ParsedBatch(batches[0].log_type, batches[0].source, table, records=records)
