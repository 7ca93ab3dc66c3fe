"""Done-when of issue 12: Panther's large-download query, verbatim from the conformance pack,
returns the right users over a local lake built from realistic CloudTrail GetObject events; the
expected users are computed here in plain Python from the same events."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import timedelta

import pytest
import sqlglot
from cloudtrail_events import identity, ingest, s3_event, utc, write_trail_file
from sqlglot import exp

from bucketwatch.cli import main
from detectors.common.yamlsafe import load_yaml
from detectors.sql.executors import DuckDBLakeExecutor
from detectors.sql.transpile import check_athena, transpile

NOW = utc("2024-05-14T12:00:00Z")
MB = 1024 * 1024


def load_query(conformance_dir):
    path = conformance_dir / "queries" / "aws_queries" / "aws_s3_large_download_specific_bucket_query.yml"
    return load_yaml(path.read_text(), str(path))["Query"]


def traffic():
    """Downloads around the query's 10-minute window and 50 MB threshold, with the noise the
    query must ignore (errors, other calls, AWS services, Panther's own reader, older events)."""
    rng = random.Random(12)
    users = {
        "exfil": identity("IAMUser", "exfil-user"),            # a 3 GiB object: BIGINT, not INT
        "analyst": identity("AssumedRole", "DataAnalyst"),      # user name from the session issuer
        "contractor": identity("FederatedUser", "contractor"),  # no userName: issuer's
        "edge": identity("IAMUser", "edge-case"),               # exactly 50 MB: included (>=)
        "under": identity("IAMUser", "just-under"),             # 50 MB - 1: excluded
        "service": identity("AWSService", ""),                  # not a user type
        "panther": identity("AssumedRole", "panther-snowflake-api"),
    }
    records = []

    def get(user, bucket, size, minutes_ago, **kw):
        key = f"data/{rng.randrange(10**6):06d}.bin"
        records.append(s3_event("GetObject", users[user], bucket, key, NOW - timedelta(minutes=minutes_ago),
                                bytes_out=size, **kw))

    for _ in range(30):
        get("exfil", "customer-archive", 100 * MB + rng.randrange(MB), rng.uniform(0.5, 9.5), ip="198.51.100.66")
    get("exfil", "customer-archive", 3 * 1024 * MB, 8, ip="198.51.100.66")  # one object over 2**31 bytes
    for _ in range(12):  # floats, as CloudTrail writes some byte counts
        get("analyst", "finance-reports", float(5 * MB), rng.uniform(0.5, 9.5))
    get("analyst", "finance-reports", None, 3)  # no bytesTransferredOut: counts 0
    for _ in range(4):
        get("contractor", "project-data", 15 * MB, rng.uniform(0.5, 9.5), agent="Boto3/1.34.0 md/Botocore#1.34.0")
    get("edge", "web-assets", 30 * MB, 2)
    get("edge", "web-assets", 20 * MB, 4)
    get("under", "web-assets", 50 * MB - 1, 5)
    get("service", "customer-archive", 900 * MB, 1, ip="athena.amazonaws.com")
    get("panther", "customer-archive", 900 * MB, 1)
    get("analyst", "finance-reports", 80 * MB, 30)          # too old for the window
    get("exfil", "finance-reports", 80 * MB, 3, error="AccessDenied")
    get("exfil", "second-bucket", 60 * MB, 1, ip="198.51.100.66")  # another bucket: another group
    get("exfil", "customer-archive", 70 * MB, 2, ip="192.0.2.44")  # another address: another group
    records.append(s3_event("PutObject", users["exfil"], "customer-archive", "x", NOW - timedelta(minutes=1),
                            bytes_in=500 * MB, bytes_out=0))
    rng.shuffle(records)
    return records


def expected_rows(records):
    """The query's semantics, written out in Python."""
    groups = defaultdict(lambda: {"bytes": 0, "count": 0, "keys": set()})
    for r in records:
        ui = r["userIdentity"]
        when = utc(r["eventTime"])
        if (r["eventName"] != "GetObject" or r["eventSource"] != "s3.amazonaws.com"
                or ui.get("type") not in ("IAMUser", "AssumedRole", "FederatedUser") or r.get("errorCode")
                or when < NOW - timedelta(minutes=10) or "panther-snowflake-api" in ui.get("arn", "")):
            continue
        name = ui.get("userName") or ui.get("sessionContext", {}).get("sessionIssuer", {}).get("userName") or "unknown"
        key = (ui["arn"], name, ui["type"], r["requestParameters"]["bucketName"], r["sourceIPAddress"], r["userAgent"])
        group = groups[key]
        group["bytes"] += int(r["additionalEventData"].get("bytesTransferredOut") or 0)
        group["count"] += 1
        group["keys"].add(r["requestParameters"]["key"])
    return {key: g for key, g in groups.items() if g["bytes"] >= 50 * MB}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("large-download")
    records = traffic()
    write_trail_file(root / "logs", records[:40], NOW)
    write_trail_file(root / "logs", records[40:], NOW)
    ingest(root / "logs", root / "lake")
    return root / "lake", records


def test_verbatim_query_returns_the_right_users(conformance_dir, lake):
    lake_root, records = lake
    query = load_query(conformance_dir)
    rows = DuckDBLakeExecutor(lake_root).run(transpile(query, read="snowflake", write="duckdb", now=NOW))
    expected = expected_rows(records)
    got = {(r["user_arn"], r["user_name"], r["user_type"], r["bucket_name"], r["source_ip"], r["user_agent"]): r
           for r in rows}
    assert set(got) == set(expected)
    for key, row in got.items():
        assert row["total_bytes_downloaded"] == expected[key]["bytes"]
        assert row["object_count"] == expected[key]["count"]
        assert set(row["sample_objects"]) == expected[key]["keys"]
    names = {r["user_name"] for r in rows}
    assert names == {"exfil-user", "DataAnalyst", "broker", "edge-case"}
    assert [r["total_bytes_downloaded"] for r in rows] == sorted((r["total_bytes_downloaded"] for r in rows),
                                                                 reverse=True)


def test_query_command_runs_snowflake_sql(conformance_dir, lake, capsys):
    lake_root, records = lake
    code = main(["query", "--dialect", "snowflake", "--now", "2024-05-14T12:00:00Z", "--lake", str(lake_root),
                 "--format", "json", load_query(conformance_dir)])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["user_arn"] for r in rows} == {key[0] for key in expected_rows(records)}


def test_athena_sql_parses_as_trino_with_json_extraction(conformance_dir):
    """No Athena here: the output is checked for syntax and structure only."""
    athena = transpile(load_query(conformance_dir), read="snowflake", write="athena")
    tree = check_athena(athena)
    assert [t.sql("trino") for t in tree.find_all(exp.Table)] == ["panther_logs.aws_cloudtrail"]
    scalar_paths = {(f.this.name, f.expression.sql("trino").strip("'"))
                    for f in tree.find_all(exp.JSONExtractScalar)}
    assert scalar_paths == {("userIdentity", "$.arn"), ("userIdentity", "$.userName"), ("userIdentity", "$.type"),
                            ("userIdentity", "$.sessionContext.sessionIssuer.userName"),
                            ("requestParameters", "$.bucketName"), ("requestParameters", "$.key")}
    casts = [c for c in tree.find_all(exp.Cast) if c.to.this == exp.DataType.Type.BIGINT]
    assert casts and all(isinstance(c.this, exp.JSONExtract) for c in casts)
    assert {c.this.expression.sql("trino") for c in casts} == {"'$.bytesTransferredOut'"}
    assert not any(j.args.get("variant_extract") for j in tree.find_all(exp.JSONExtract))
    assert "DATE_ADD('MINUTE', -10, CURRENT_TIMESTAMP)" in athena
    # And the text is what Trino itself would print back (no dialect left-overs).
    assert sqlglot.transpile(athena, read="trino", write="trino")[0] == tree.sql("trino")
