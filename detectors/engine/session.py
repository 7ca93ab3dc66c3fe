"""One detection run over parsed batches: evaluate, group, write logs and rule matches.

Shared by `bucketwatch detect`, the interim demo, the benchmark and the Lambda handler.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from detectors.config import DetectionSettings, activate
from detectors.engine.batches import evaluate_batch, write_rule_matches
from detectors.engine.evaluate import Engine, FlushResult
from detectors.engine.rules import Rule, load_rules
from detectors.engine.stores import DedupStore
from detectors.pipeline import ParsedBatch
from detectors.schema import DB_LOGS, TABLE_OF_LOG_TYPE


@dataclass
class DetectionSession:
    engine: Engine
    writer: Any = None  # LakeWriter / S3LakeWriter, or None to skip the lake
    rows_written: int = 0
    match_rows: int = 0
    results: list[FlushResult] = field(default_factory=list)

    @classmethod
    def create(cls, settings: DetectionSettings, store: DedupStore | None = None, writer: Any = None,
               rule_dirs: Iterable[str] = (), rules: list[Rule] | None = None,
               on_created: Any = None) -> DetectionSession:
        activate(settings)  # rules read their configured lists through bucketwatch_helpers.settings()
        if rules is None:
            rules = load_rules(rule_dirs, settings=settings, only_enabled=True)
        return cls(engine=Engine(rules, store, on_created=on_created), writer=writer)

    def process(self, batch: ParsedBatch) -> FlushResult:
        evaluate_batch(self.engine, batch)
        result = self.engine.flush()
        if self.writer is not None:
            self.writer.write(DB_LOGS, TABLE_OF_LOG_TYPE[batch.log_type], batch.table)
            self.rows_written += batch.table.num_rows
            self.match_rows += write_rule_matches(self.writer, batch, result)
        return result
