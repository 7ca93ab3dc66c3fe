"""Where lines and files that cannot be parsed go: never dropped, always with a reason."""

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
    raw: str
    log_type: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


class QuarantineSink(Protocol):
    def add(self, entry: QuarantineEntry) -> None: ...


class MemoryQuarantine:
    """Keeps entries in a list (tests, the Lambda handler)."""

    def __init__(self) -> None:
        self.entries: list[QuarantineEntry] = []

    def add(self, entry: QuarantineEntry) -> None:
        self.entries.append(entry)


class JsonlQuarantine:
    """Writes one JSON object per entry to a file, opened on the first entry."""

    def __init__(self, path: Path | str, append: bool = False) -> None:
        self.path = Path(path)
        self.append = append
        self.count = 0
        self._file: IO[str] | None = None

    def add(self, entry: QuarantineEntry) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a" if self.append else "w", encoding="utf-8")
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
