"""Where a query runs: the engine-independent interface, and DuckDB over the local lake.

A scheduled query or a correlation rule asks an executor for rows; it does not care whether
they come from DuckDB over Parquet on a laptop or from Athena in the stack. An executor names
the dialect it speaks (detectors.sql.transpile) and returns plain rows (dicts of Python values).
The Athena executor belongs with the AWS scheduled Lambda.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from detectors.common.errors import UserError


class QueryExecutor(Protocol):
    dialect: str  # "duckdb" | "athena": the SQL `run` accepts

    def run(self, sql: str, timeout_s: float | None = None) -> list[dict[str, Any]]:
        """The rows of one query; UserError when it fails or exceeds `timeout_s`."""


class DuckDBLakeExecutor:
    """DuckDB views over a local lake (detectors.lake.reader), opened once per executor."""

    dialect = "duckdb"

    def __init__(self, lake_root: str | Path) -> None:
        from detectors.lake import open_lake

        self.lake_root = Path(lake_root)
        self.connection = open_lake(self.lake_root)

    def run(self, sql: str, timeout_s: float | None = None) -> list[dict[str, Any]]:
        import duckdb

        with _interrupt_after(self.connection, timeout_s) as timer:
            try:
                result = self.connection.execute(sql)
                columns = [d[0] for d in result.description] if result.description else []
                rows = result.fetchall() if result.description else []
            except duckdb.Error as exc:
                if timer is not None and timer.fired:
                    raise UserError(f"query stopped after its timeout of {timeout_s:g} s") from None
                raise UserError(" ".join(str(exc).split())) from None
        return [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]

    def close(self) -> None:
        self.connection.close()


class _Timer:
    def __init__(self, connection: Any, seconds: float) -> None:
        self.fired = False
        self.connection = connection
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        self.connection.interrupt()


@contextmanager
def _interrupt_after(connection: Any, seconds: float | None) -> Iterator[_Timer | None]:
    if not seconds:
        yield None
        return
    timer = _Timer(connection, seconds)
    timer.timer.start()
    try:
        yield timer
    finally:
        timer.timer.cancel()


def plain(value: Any) -> Any:
    """Query values as rules see them: numbers stay numbers, times become Panther's text form."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond * 1000:09d}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
