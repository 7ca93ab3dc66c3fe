"""Progress for long runs: a single refreshed line on a terminal, nothing when piped."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Reports counts and rate on stderr at most a few times a second.

    Silent unless the stream is a terminal, so piped and CI output stays clean.
    """

    def __init__(self, label: str, unit: str = "lines", stream: TextIO | None = None,
                 enabled: bool | None = None, interval: float = 0.25) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self.count = 0
        self.extra: dict[str, int] = {}
        self._started = time.monotonic()
        self._last_draw = 0.0

    def update(self, advance: int = 0, **extra: int) -> None:
        self.count += advance
        for key, value in extra.items():
            self.extra[key] = value
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float, end: str = "\r") -> None:
        elapsed = max(now - self._started, 1e-9)
        details = "".join(f", {key} {value:,}" for key, value in self.extra.items())
        self.stream.write(
            f"\x1b[2K{self.label}: {self.count:,} {self.unit} ({self.count / elapsed:,.0f} {self.unit}/s){details}{end}"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic(), end="\n")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
