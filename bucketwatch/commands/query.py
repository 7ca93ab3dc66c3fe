"""`bucketwatch query`: SQL over the lake with DuckDB, written in DuckDB's, Panther's Snowflake
or Athena's dialect (transpiled by detectors.sql); `--to` prints the query for another engine."""

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
from bucketwatch.commands._now import add_now_argument, now_from
from detectors.common.errors import UserError
from detectors.common.table import cell_text, format_table
from detectors.lake import open_lake
from detectors.sql.transpile import DIALECTS, check_athena, transpile


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query", help="run SQL over the lake (DuckDB); Snowflake and Athena SQL are transpiled",
        description="Run SQL over the lake. Databases: panther_logs (aws_s3serveraccess, aws_cloudtrail), "
                    "panther_rule_matches, panther_views (all_ip_addresses, ...), bucketwatch. "
                    "Partition columns year, month, day, hour can be used in WHERE. With --dialect snowflake "
                    "or athena the query is transpiled to DuckDB first: Panther's table names "
                    "(panther_logs.public.aws_cloudtrail), VARIANT paths (userIdentity:arn) and time macros "
                    "(p_occurs_since('1 day')) work as in Panther.")
    parser.add_argument("sql", metavar="SQL")
    add_lake_argument(parser)
    parser.add_argument("--dialect", choices=tuple(DIALECTS), default="duckdb",
                        help="the dialect SQL is written in (default: duckdb, run as it is)")
    parser.add_argument("--to", choices=tuple(DIALECTS), metavar="DIALECT",
                        help="print the query transpiled to DIALECT (duckdb, athena, snowflake) and exit "
                             "without running it; e.g. --to athena to paste into the Athena console")
    parser.add_argument("--show-sql", action="store_true",
                        help="print the SQL DuckDB runs (after transpiling) on stderr first")
    add_now_argument(parser, "time macros and CURRENT_TIMESTAMP")
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


def sql_to_run(args: argparse.Namespace) -> str:
    """DuckDB SQL: the query as given (default dialect), or transpiled from Snowflake/Athena."""
    if args.dialect == "duckdb":
        return args.sql
    return transpile(args.sql, read=args.dialect, write="duckdb", now=now_from(args))


def run(args: argparse.Namespace) -> int:
    if args.to:
        # The target engine's own clock is kept unless --now pins it (Athena runs it later).
        now = now_from(args) if args.now else None
        text = transpile(args.sql, read=args.dialect, write=args.to, now=now, pretty=True)
        if args.to == "athena":
            check_athena(text)
        print(text)
        return 0
    sql = sql_to_run(args)  # a query that does not parse is reported as such, lake or no lake
    if not args.lake.is_dir():  # a mistyped --lake is an error, not an empty lake answering 0 rows
        raise UserError(f"lake not found: {args.lake} (write one with `bucketwatch ingest ... --lake {args.lake}`)")
    if args.show_sql:
        print(sql, file=sys.stderr)
    con = open_lake(args.lake)
    try:
        result = con.execute(sql)
        columns = [d[0] for d in result.description] if result.description else []
        rows = result.fetchall() if result.description else []
    except duckdb.Error as exc:
        raise UserError(str(exc).strip().replace("\n", " ")) from None  # a bad query is bad usage: exit 2
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
