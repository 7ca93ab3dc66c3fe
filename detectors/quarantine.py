"""Where lines and files that cannot be parsed go: never dropped, always with a reason.

An entry says where the text was (`source`, `line_number` — the 1-based line of an access log or
the record's position in a CloudTrail file — and `offset`, its byte offset in the decompressed
content) and why it is not a record. `raw` holds the text itself, except for text longer than the
maximum record size: that is quarantined by reference (`raw` null, `size` its length in bytes), so
a 256 MiB line costs neither memory nor a 256 MiB quarantine entry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Protocol


@dataclass(frozen=True)
class QuarantineEntry:
    source: str               # file path or s3:// URL the text came from
    line_number: int | None   # 1-based line (access logs) or record number (CloudTrail); None for a whole file
    reason: str
    raw: str | None           # the text; None when quarantined by reference (see `size`)
    log_type: str | None = None
    offset: int | None = None  # byte offset in the decompressed content
    size: int | None = None    # length in bytes of the quarantined text

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


class QuarantineSink(Protocol):
    def add(self, entry: QuarantineEntry) -> None: ...


class MemoryQuarantine:
    """Keeps entries in a list (tests, workers, the Lambda handler)."""

    def __init__(self) -> None:
        self.entries: list[QuarantineEntry] = []

    def add(self, entry: QuarantineEntry) -> None:
        self.entries.append(entry)

    @property
    def count(self) -> int:
        return len(self.entries)


class CountingQuarantine:
    """Counts entries on their way to an optional sink (the count is the quarantine's side of the
    run's invariant, taken where entries are written, not where the parser thinks it sent them)."""

    def __init__(self, sink: QuarantineSink | None = None) -> None:
        self.sink = sink
        self.count = 0

    def add(self, entry: QuarantineEntry) -> None:
        if self.sink is not None:
            self.sink.add(entry)
        self.count += 1


class TeeQuarantine:
    """Every entry to each of several sinks."""

    def __init__(self, *sinks: QuarantineSink | None) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def add(self, entry: QuarantineEntry) -> None:
        for sink in self.sinks:
            sink.add(entry)


class JsonlQuarantine:
    """Writes one JSON object per entry to a file, opened (and truncated) on the first entry."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.count = 0
        self._file: IO[str] | None = None

    def add(self, entry: QuarantineEntry) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        self._file.write(entry.to_json() + "\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> JsonlQuarantine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
