"""Snowflake SQL as Panther writes it, rewritten for DuckDB (run here) and Athena (parsed back)."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from bucketwatch.cli import main
from detectors.common.errors import UserError
from detectors.sql.executors import DuckDBLakeExecutor
from detectors.sql.transpile import check_athena, transpile

NOW = datetime(2024, 5, 14, 12, 0, tzinfo=UTC)


@pytest.fixture
def con():
    """A stand-in for the lake: one table with JSON-text nested fields, as the lake stores them."""
    db = duckdb.connect()
    db.execute("CREATE SCHEMA panther_logs")
    db.execute("CREATE TABLE panther_logs.aws_cloudtrail (p_event_time TIMESTAMP, p_parse_time TIMESTAMP, "
               "eventName VARCHAR, userIdentity VARCHAR, additionalEventData VARCHAR)")
    rows = [
        ("2024-05-14 11:59:00", "2024-05-14 11:59:30", "GetObject",
         '{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","sessionContext":{"sessionIssuer":{"userName":"r"}}}',
         '{"bytesTransferredOut":1061.0}'),
        ("2024-05-13 12:30:00", "2024-05-14 10:59:00", "GetObject",
         '{"type":"IAMUser","arn":"arn:aws:iam::1:user/u","userName":"u"}', '{"bytesTransferredOut":"2048"}'),
        ("2024-05-10 00:00:00", "2024-05-10 00:01:00", "PutObject",
         '{"type":"IAMUser","arn":"arn:aws:iam::1:user/u","userName":"u","odd key":"x"}', '{"bytesTransferredOut":5000000000}'),
    ]
    db.executemany("INSERT INTO panther_logs.aws_cloudtrail VALUES (?, ?, ?, ?, ?)", rows)
    return db


def run(con, sql):
    return con.execute(transpile(sql, read="snowflake", write="duckdb", now=NOW)).fetchall()


def test_variant_paths_read_scalars_and_casts_read_json_values(con):
    rows = run(con, "SELECT userIdentity:arn, userIdentity:sessionContext:sessionIssuer:userName, "
                    "additionalEventData:bytesTransferredOut::int, userIdentity:\"odd key\"::varchar "
                    "FROM panther_logs.public.aws_cloudtrail ORDER BY p_event_time")
    assert rows == [("arn:aws:iam::1:user/u", None, 5000000000, "x"),
                    ("arn:aws:iam::1:user/u", None, 2048, None),
                    ("arn:aws:sts::1:assumed-role/r/s", "r", 1061, None)]


@pytest.mark.parametrize(("macro", "events"), [
    ("p_occurs_since('1 day')", ["2024-05-13 12:30:00", "2024-05-14 11:59:00"]),
    ("p_occurs_since('2 h')", ["2024-05-14 11:59:00"]),
    ("p_occurs_since(86400)", ["2024-05-13 12:30:00", "2024-05-14 11:59:00"]),
    ("p_occurs_since('1 w')", ["2024-05-10 00:00:00", "2024-05-13 12:30:00", "2024-05-14 11:59:00"]),
    ("p_occurs_between('2024-05-13', '2024-05-14T00:00:00Z')", ["2024-05-13 12:30:00"]),
    ("p_occurs_around('2024-05-13 12:00:00', '30 m')", ["2024-05-13 12:30:00"]),
    ("p_occurs_after('2024-05-14')", ["2024-05-14 11:59:00"]),
    ("p_occurs_before('2024-05-13 12:30:00')", ["2024-05-10 00:00:00", "2024-05-13 12:30:00"]),
    ("p_occurs_since('1 hour', t, p_parse_time)", ["2024-05-14 11:59:00"]),
    ("p_occurs_since('30 minutes', t)", ["2024-05-14 11:59:00"]),
])
def test_time_macros(con, macro, events):
    rows = run(con, f"SELECT t.p_event_time FROM panther_logs.public.aws_cloudtrail t WHERE {macro} "
                    "ORDER BY 1")
    assert [r[0].strftime("%Y-%m-%d %H:%M:%S") for r in rows] == events


def test_current_timestamp_is_the_run_time(con):
    rows = run(con, "SELECT COUNT(*) FROM panther_logs.public.aws_cloudtrail "
                    "WHERE p_event_time >= DATEADD(hour, -1, CURRENT_TIMESTAMP()) AND p_event_time < SYSDATE()")
    assert rows == [(1,)]
    assert run(con, "SELECT CURRENT_DATE") == [(NOW.date(),)]


def test_athena_output_keeps_the_engine_clock_unless_pinned():
    sql = "SELECT userIdentity:arn FROM panther_logs.public.aws_cloudtrail WHERE p_occurs_since('1 day')"
    live = transpile(sql, write="athena")
    assert "CURRENT_TIMESTAMP" in live and "JSON_EXTRACT_SCALAR(userIdentity, '$.arn')" in live
    pinned = transpile(sql, write="athena", now=NOW)
    assert "CAST('2024-05-14 12:00:00.000000' AS TIMESTAMP)" in pinned
    for text in (live, pinned):
        check_athena(text)


def test_athena_sql_transpiles_to_duckdb(con):
    rows = con.execute(transpile("SELECT json_extract_scalar(userIdentity, '$.userName') AS u FROM "
                                 "panther_logs.aws_cloudtrail WHERE eventName = 'GetObject' ORDER BY 1",
                                 read="athena", write="duckdb")).fetchall()
    assert rows == [("u",), (None,)]  # Trino sorts NULLs last; so does the DuckDB translation


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT * FROM", "the snowflake SQL does not parse"),
    ("SELECT 1; SELECT 2", "expected one SQL statement, got 2"),
    ("SELECT * FROM t WHERE p_occurs_since('3 fortnights')", "p_occurs_since: cannot read the time offset"),
    ("SELECT * FROM t WHERE p_occurs_since()", "p_occurs_since: expects a time argument"),
    ("SELECT * FROM t WHERE p_occurs_between('2024-01-01')", "p_occurs_between: expects at least 2"),
    ("SELECT * FROM t WHERE p_occurs_after('yesterday-ish')", "p_occurs_after: cannot read the time"),
    ("SELECT * FROM t WHERE p_occurs_since(x)", "the time offset must be a literal"),
])
def test_bad_queries_are_one_line_errors(sql, message):
    with pytest.raises(UserError) as raised:
        transpile(sql, write="duckdb", now=NOW)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_unknown_dialect():
    with pytest.raises(UserError, match="unknown SQL dialect 'oracle'"):
        transpile("SELECT 1", read="oracle")


def test_query_to_prints_without_a_lake(tmp_path, capsys):
    code = main(["query", "--dialect", "snowflake", "--to", "athena", "--lake", str(tmp_path / "none"),
                 "SELECT requestParameters:bucketName AS b FROM panther_logs.public.aws_cloudtrail"])
    out = capsys.readouterr().out
    assert code == 0 and "JSON_EXTRACT_SCALAR(requestParameters, '$.bucketName') AS b" in out
    assert not (tmp_path / "none").exists()


def test_query_show_sql_and_errors(tmp_path, capsys):
    code = main(["query", "--dialect", "snowflake", "--show-sql", "--lake", str(tmp_path),
                 "SELECT COUNT(*) AS n FROM panther_logs.public.aws_cloudtrail WHERE p_occurs_since('1 d')"])
    captured = capsys.readouterr()
    assert code == 0 and "(1 row)" in captured.out and "FROM panther_logs.aws_cloudtrail" in captured.err
    assert main(["query", "--dialect", "snowflake", "SELECT FROM WHERE"]) == 2
    assert "does not parse" in capsys.readouterr().err


def test_default_dialect_runs_sql_unchanged(tmp_path, capsys):
    # DuckDB syntax sqlglot would not need to touch, including a DuckDB-only function.
    code = main(["query", "--lake", str(tmp_path), "--format", "csv", "SELECT list_value(1, 2) AS l"])
    assert code == 0 and capsys.readouterr().out.splitlines() == ["l", '"[1, 2]"']


def test_since_is_bounded_by_the_run_time(con):
    con.execute("INSERT INTO panther_logs.aws_cloudtrail VALUES ('2024-05-14 12:00:01', NULL, 'Later', NULL, NULL)")
    rows = run(con, "SELECT eventName FROM panther_logs.public.aws_cloudtrail WHERE p_occurs_since('1 h')")
    assert rows == [("GetObject",)]  # the event one second after the run's time is not seen yet


def test_lookback_windows_every_lake_table(con):
    sql = ("SELECT a.eventName, COUNT(*) FROM panther_logs.public.aws_cloudtrail a "
           "JOIN panther_logs.public.aws_cloudtrail b ON a.eventName = b.eventName GROUP BY 1")
    windowed = transpile(sql, write="duckdb", now=NOW, lookback_seconds=2 * 86400)
    assert con.execute(windowed).fetchall() == [("GetObject", 4)]  # 2 of the 3 rows, joined with themselves
    assert "panther_logs.aws_cloudtrail WHERE p_event_time >" in transpile(sql, write="athena",
                                                                          lookback_seconds=60)


def test_a_query_past_its_timeout_is_stopped(tmp_path):
    executor = DuckDBLakeExecutor(tmp_path)
    with pytest.raises(UserError, match=r"stopped after its timeout of 0\.2 s"):
        executor.run("SELECT SUM(i * i) FROM range(100000000000) t(i)", timeout_s=0.2)  # minutes of work
    assert executor.run("SELECT 1 AS one", timeout_s=5) == [{"one": 1}]  # the connection is still usable
