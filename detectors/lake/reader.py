"""DuckDB over a local lake: one schema per database folder, one view per table folder.

The known tables (panther_logs.*, panther_rule_matches.*) always exist, empty when no data has
been written yet, so the tutorial's queries run on any lake. Partition columns year/month/day/hour
come from the hive folder names as integers, so `month=5 AND day>=10` prunes files.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa

from detectors.schema import (
    DB_BUCKETWATCH,
    DB_LOGS,
    DB_RULE_MATCHES,
    DB_VIEWS,
    LOG_TYPES,
    PARTITION_COLUMNS,
    SCHEMA_OF_LOG_TYPE,
    TABLE_OF_LOG_TYPE,
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
        if not db_dir.is_dir() or not _NAME.match(db_dir.name):
            continue
        for table_dir in sorted(db_dir.iterdir()):
            if table_dir.is_dir() and _NAME.match(table_dir.name) and any(table_dir.rglob("*.parquet")):
                found[(db_dir.name, table_dir.name)] = table_dir
    return found


def _empty_view(con: duckdb.DuckDBPyConnection, database: str, table: str, schema: pa.Schema) -> None:
    empty = pa.table({f.name: pa.array([], f.type) for f in schema})
    name = f"__empty_{database}_{table}"
    con.register(name, empty)
    partitions = ", ".join(f"CAST(NULL AS INTEGER) AS {c}" for c in PARTITION_COLUMNS)
    con.execute(f"CREATE OR REPLACE VIEW {database}.{table} AS SELECT *, {partitions} FROM {name}")


def open_lake(root: Path | str, connection: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with views over the lake at `root` (which may not exist yet)."""
    root = Path(root)
    con = connection or duckdb.connect(":memory:")
    on_disk = _tables_on_disk(root)
    databases = {DB_LOGS, DB_RULE_MATCHES, DB_VIEWS, DB_BUCKETWATCH} | {db for db, _ in on_disk}
    for database in sorted(databases):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {database}")
    for (database, table), folder in on_disk.items():
        pattern = _quote_path(folder / "**" / "*.parquet")
        # Tables written by time have year=/month=/day=/hour= folders; a scheduled query's result
        # table (bucketwatch.*) is one file without partitions.
        hive = (f", hive_partitioning = true, hive_types = {_HIVE_TYPES}"
                if any(p.name.startswith("year=") for p in folder.iterdir()) else "")
        con.execute(
            f"CREATE OR REPLACE VIEW {database}.{table} AS SELECT * FROM read_parquet({pattern}{hive}, "
            "union_by_name = true)"
        )
    for (database, table), schema in _known_tables().items():
        if (database, table) not in on_disk:
            _empty_view(con, database, table, schema)
    _standard_views(con)
    return con


def _standard_views(con: duckdb.DuckDBPyConnection) -> None:
    """panther_views.all_<indicator>: the standard fields of every log table, one row per event."""
    common = "p_log_type, p_row_id, p_event_time, p_source, {column}, year, month, day, hour"
    for view, column in (("all_ip_addresses", "p_any_ip_addresses"), ("all_aws_arns", "p_any_aws_arns"),
                         ("all_aws_account_ids", "p_any_aws_account_ids")):
        selects = [f"SELECT {common.format(column=column)} FROM {DB_LOGS}.{TABLE_OF_LOG_TYPE[t]}"
                   for t in LOG_TYPES]
        con.execute(f"CREATE OR REPLACE VIEW {DB_VIEWS}.{view} AS " + " UNION ALL ".join(selects))
