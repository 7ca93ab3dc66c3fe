"""`bucketwatch query`: SQL over the lake with DuckDB."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from bucketwatch.commands._ingest_common import add_lake_argument
from detectors.common.errors import UserError
from detectors.common.table import cell_text, format_table
from detectors.lake import open_lake


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query", help="run SQL over the lake (DuckDB)",
        description="Run SQL over the lake. Databases: panther_logs (aws_s3serveraccess, aws_cloudtrail), "
                    "panther_rule_matches, panther_views (all_ip_addresses, ...), bucketwatch. "
                    "Partition columns year, month, day, hour can be used in WHERE.")
    parser.add_argument("sql", metavar="SQL")
    add_lake_argument(parser)
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.set_defaults(func=run)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _table(columns: list[str], rows: list[tuple]) -> str:
    return format_table(columns, rows) + f"\n({len(rows)} row{'s' if len(rows) != 1 else ''})"


def run(args: argparse.Namespace) -> int:
    con = open_lake(args.lake)
    try:
        result = con.execute(args.sql)
        columns = [d[0] for d in result.description] if result.description else []
        rows = result.fetchall() if result.description else []
    except duckdb.Error as exc:
        raise UserError(str(exc).strip().replace("\n", " "), exit_code=1) from None
    out = sys.stdout
    if args.format == "json":
        for row in rows:
            out.write(json.dumps({c: _json_value(v) for c, v in zip(columns, row, strict=True)}, default=str) + "\n")
    elif args.format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[cell_text(v) for v in row] for row in rows])
    else:
        out.write(_table(columns, rows) + "\n")
    return 0
