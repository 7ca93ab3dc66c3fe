"""A scheduled query's latest result kept as a lake table (`ResultTable: bucketwatch.<name>`).

Locally: one Parquet file `<lake>/<database>/<table>/result.parquet`, replaced atomically by each
run (no partitions: it is the latest answer, not history). DuckDB sees it as `<database>.<table>`;
rules read it through `read_result_table` (e.g. the AccessError baseline). In AWS the scheduled
Lambda keeps it at the same key of the processed bucket (`S3ResultWriter`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from detectors.schema import table_path

RESULT_FILE = "result.parquet"


def result_path(lake_root: str | Path, database: str, table: str) -> Path:
    return Path(lake_root) / table_path(database, table) / RESULT_FILE


def result_key(database: str, table: str) -> str:
    return f"{table_path(database, table)}/{RESULT_FILE}"


def result_bytes(rows: list[dict[str, Any]]) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows), sink, compression="zstd")
    return sink.getvalue().to_pybytes()


class S3ResultWriter:
    """Result tables in the processed bucket, at the local lake's layout (one object, replaced by
    each run; an empty result deletes it: no rows, no table)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client, self.bucket = client, bucket

    def __call__(self, database: str, table: str, rows: list[dict[str, Any]]) -> None:
        key = result_key(database, table)
        if not rows:
            self.client.delete_object(Bucket=self.bucket, Key=key)
            return
        self.client.put_object(Bucket=self.bucket, Key=key, Body=result_bytes(rows))


def write_result_table(lake_root: str | Path, database: str, table: str, rows: list[dict[str, Any]]) -> Path:
    """Replace the table with `rows` (an empty result removes it: no rows, no table)."""
    path = result_path(lake_root, database, table)
    if not rows:
        path.unlink(missing_ok=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = pa.Table.from_pylist(rows)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        pq.write_table(data, temp, compression="zstd")
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return path


def read_result_table(lake_root: str | Path, database: str, table: str) -> list[dict[str, Any]]:
    path = result_path(lake_root, database, table)
    return pq.read_table(path).to_pylist() if path.is_file() else []
