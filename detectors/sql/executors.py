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

    def __init__(self, lake_root: str | Path, tables: Any = None) -> None:
        """`tables`: only these (database, table) pairs, for a quick lookup (detectors.lake.open_lake)."""
        from detectors.lake import open_lake

        self.lake_root = Path(lake_root)
        self.connection = open_lake(self.lake_root, tables=tables)

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


# Athena's result types -> Python values as DuckDB gives them (rules see the same rows).
_ATHENA_INTEGERS = frozenset({"tinyint", "smallint", "integer", "bigint", "int"})
_ATHENA_FLOATS = frozenset({"double", "float", "real"})


class AthenaExecutor:
    """Queries in the stack's Athena workgroup (results encrypted where the workgroup says), as the
    scheduled Lambda runs them: start, wait within the timeout (then stop the query), read every
    page of results. Values come back typed as DuckDB returns them (integers, floats, booleans,
    timestamps in Panther's text form, JSON text for arrays/maps/rows)."""

    dialect = "athena"

    def __init__(self, workgroup: str, client: Any = None, poll_s: float = 1.0, clock: Any = None,
                 sleep: Any = None) -> None:
        import time

        import boto3

        self.workgroup = workgroup
        self.client = client or boto3.client("athena")
        self.poll_s = poll_s
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep

    def run(self, sql: str, timeout_s: float | None = None) -> list[dict[str, Any]]:
        from botocore.exceptions import ClientError

        try:
            query_id = self.client.start_query_execution(QueryString=sql, WorkGroup=self.workgroup)["QueryExecutionId"]
            self._wait(query_id, timeout_s)
            return self._rows(query_id)
        except ClientError as exc:
            raise UserError(f"Athena: {exc.response.get('Error', {}).get('Message') or exc}") from None

    def _wait(self, query_id: str, timeout_s: float | None) -> None:
        deadline = None if not timeout_s else self.clock() + timeout_s
        while True:
            status = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
            state = status.get("State")
            if state == "SUCCEEDED":
                return
            if state in ("FAILED", "CANCELLED"):
                raise UserError(f"Athena query {query_id} {state.lower()}: {status.get('StateChangeReason', '')}".strip())
            if deadline is not None and self.clock() >= deadline:
                self.client.stop_query_execution(QueryExecutionId=query_id)
                raise UserError(f"query stopped after its timeout of {timeout_s:g} s")
            self.sleep(self.poll_s)

    def _rows(self, query_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        columns: list[tuple[str, str]] = []
        header_skipped = False
        for page in self.client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            result = page["ResultSet"]
            if not columns:
                columns = [(c["Name"], c.get("Type", "varchar").lower())
                           for c in result.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
            for row in result.get("Rows", []):
                values = [cell.get("VarCharValue") for cell in row.get("Data", [])]
                if not header_skipped:  # a SELECT's first row repeats the column names
                    header_skipped = True
                    if values == [name for name, _ in columns]:
                        continue
                rows.append({name: athena_value(value, kind) for (name, kind), value in zip(columns, values, strict=False)})
        return rows


def athena_value(text: str | None, kind: str) -> Any:
    """One Athena result cell (always text, absent for NULL) as a Python value."""
    if text is None:
        return None
    base = kind.split("(", 1)[0].strip()
    if base in _ATHENA_INTEGERS:
        return int(text)
    if base in _ATHENA_FLOATS or base == "decimal":
        number = float(text)
        return int(number) if base == "decimal" and number.is_integer() else number
    if base == "boolean":
        return text.lower() == "true"
    if base.startswith("timestamp"):
        return plain(datetime.fromisoformat(text.replace(" UTC", "")))
    if base == "array" and text.startswith("[") and text.endswith("]"):
        # Athena writes arrays as [a, b]: items with ", " inside cannot be told apart (rare in
        # what queries aggregate: keys, ARNs, addresses).
        return [item for item in text[1:-1].split(", ")] if len(text) > 2 else []
    return text
