"""The lake: partitioned Parquet (local folder or S3 prefix) and DuckDB views over it.

`open_lake` needs duckdb and is imported lazily so the Lambda bundle (no duckdb) can use the writers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from detectors.lake.writer import LakeWriter, S3LakeWriter, partition_tables

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb

__all__ = ["LakeWriter", "S3LakeWriter", "open_lake", "partition_tables"]


def open_lake(root: Path, **kwargs: Any) -> duckdb.DuckDBPyConnection:
    from detectors.lake.reader import open_lake as _open_lake

    return _open_lake(root, **kwargs)
