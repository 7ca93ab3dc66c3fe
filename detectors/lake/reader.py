"""DuckDB over a local lake: one schema per database folder, one view per table folder.

The known tables (panther_logs.*, panther_rule_matches.*) always exist, empty when no data has
been written yet, so the tutorial's queries run on any lake. Partition columns year/month/day/hour
come from the hive folder names as integers, so `month=5 AND day>=10` prunes files.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

import duckdb
import pyarrow as pa

from detectors.schema import (
    DB_BUCKETWATCH,
    DB_LOGS,
    DB_RULE_MATCHES,
    DB_VIEWS,
    INDICATOR_VIEWS,
    LOG_TYPES,
    PARTITION_COLUMNS,
    SCHEMA_OF_LOG_TYPE,
    TABLE_OF_LOG_TYPE,
    VIEW_COMMON_COLUMNS,
    rule_matches_schema,
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HIVE_TYPES = "{" + ", ".join(f"'{c}': INTEGER" for c in PARTITION_COLUMNS) + "}"


def _known_tables() -> dict[tuple[str, str], pa.Schema]:
    known = {}
    for log_type in LOG_TYPES:
        known[(DB_LOGS, TABLE_OF_LOG_TYPE[log_type])] = SCHEMA_OF_LOG_TYPE[log_type]
        known[(DB_RULE_MATCHES, TABLE_OF_LOG_TYPE[log_type])] = rule_matches_schema(log_type)
    return known


def _quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _tables_on_disk(root: Path) -> dict[tuple[str, str], Path]:
    found = {}
    if not root.is_dir():
        return found
    for db_dir in sorted(root.iterdir()):
        # `_state` (manifest, staging) and `_quarantine` are the lake's bookkeeping, not tables.
        if not db_dir.is_dir() or not _NAME.match(db_dir.name) or db_dir.name.startswith("_"):
            continue
        for table_dir in sorted(db_dir.iterdir()):
            if table_dir.is_dir() and _NAME.match(table_dir.name) and any(table_dir.rglob("*.parquet")):
                found[(db_dir.name, table_dir.name)] = table_dir
    return found


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type a lake column is read as (timestamps are plain TIMESTAMP, as from Parquet)."""
    if pa.types.is_list(arrow_type):
        return f"{duckdb_type(arrow_type.value_type)}[]"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    names = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER", pa.bool_(): "BOOLEAN"}
    return names[arrow_type]


def _null_columns(fields: list[pa.Field]) -> str:
    return "".join(f", CAST(NULL AS {duckdb_type(f.type)}) AS {f.name}" for f in fields)


def _empty_view(con: duckdb.DuckDBPyConnection, database: str, table: str, schema: pa.Schema) -> None:
    columns = _null_columns([*schema, *(pa.field(c, pa.int32()) for c in PARTITION_COLUMNS)])[2:]
    con.execute(f"CREATE OR REPLACE VIEW {database}.{table} AS SELECT {columns} WHERE false")


def _files_view(con: duckdb.DuckDBPyConnection, database: str, table: str, folder: Path,
                schema: pa.Schema | None) -> None:
    """A view over the table's Parquet files; known columns that no file has yet (files written
    before a column was added to the contract) read as NULL instead of failing the query."""
    # Tables written by time have year=/month=/day=/hour= folders; a scheduled query's result
    # table (bucketwatch.*) is one file without partitions.
    hive = (f", hive_partitioning = true, hive_types = {_HIVE_TYPES}"
            if any(p.name.startswith("year=") for p in folder.iterdir()) else "")
    source = f"read_parquet({_quote_path(folder / '**' / '*.parquet')}{hive}, union_by_name = true)"
    missing: list[pa.Field] = []
    if schema is not None:
        present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        missing = [f for f in schema if f.name not in present]
    con.execute(f"CREATE OR REPLACE VIEW {database}.{table} AS SELECT *{_null_columns(missing)} FROM {source}")


def open_lake(root: Path | str, connection: duckdb.DuckDBPyConnection | None = None,
              tables: Collection[tuple[str, str]] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with views over the lake at `root` (which may not exist yet).
    `tables` ((database, table) pairs) limits the views to those, without the standard views: each
    view reads every file footer of its table, which a startup lookup of one table need not pay."""
    root = Path(root)
    con = connection or duckdb.connect(":memory:")
    on_disk = _tables_on_disk(root)
    if tables is not None:
        on_disk = {key: folder for key, folder in on_disk.items() if key in tables}
    databases = {DB_LOGS, DB_RULE_MATCHES, DB_VIEWS, DB_BUCKETWATCH} | {db for db, _ in on_disk}
    for database in sorted(databases):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {database}")
    known = _known_tables()
    for (database, table), folder in on_disk.items():
        _files_view(con, database, table, folder, known.get((database, table)))
    for (database, table), schema in known.items():
        if (database, table) not in on_disk and (tables is None or (database, table) in tables):
            _empty_view(con, database, table, schema)
    if tables is None:
        _standard_views(con)
    return con


def _standard_views(con: duckdb.DuckDBPyConnection) -> None:
    """panther_views.all_<indicator>: the standard fields of every log table, one row per event."""
    common = ", ".join((*VIEW_COMMON_COLUMNS, "{column}", *PARTITION_COLUMNS))
    for view, column in INDICATOR_VIEWS.items():
        selects = [f"SELECT {common.format(column=column)} FROM {DB_LOGS}.{TABLE_OF_LOG_TYPE[t]}"
                   for t in LOG_TYPES]
        con.execute(f"CREATE OR REPLACE VIEW {DB_VIEWS}.{view} AS " + " UNION ALL ".join(selects))
