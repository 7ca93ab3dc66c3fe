"""The commands as users run them: parse, ingest, query; the lake layout and the tutorial query."""

from __future__ import annotations

import collections
import gzip
import json
from datetime import UTC
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from ingest_helpers import run_cli
from test_s3_access_parser import AWS_DOC_LINE, MALFORMED, OLD_18

from detectors.lake import LakeWriter, S3LakeWriter, open_lake
from detectors.pipeline import parse_inputs

TUTORIAL_SQL = (
    "SELECT DISTINCT requester, httpstatus, errorcode, COUNT(*) as err_count FROM panther_logs.aws_s3serveraccess "
    "WHERE errorcode IS NOT NULL AND month=5 AND day>=10 AND httpstatus IN (400, 403, 405) "
    "GROUP BY requester, httpstatus, errorcode ORDER BY err_count DESC"
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory, generator):
    """3,000 generated records in three log files (one gzipped), and the lines themselves."""
    folder = tmp_path_factory.mktemp("logs")
    items = list(generator.generate(3000, seed=11))
    for i in range(3):
        text = "\n".join(line for _, _, line in items[i::3]) + "\n"
        name = folder / f"2020-05-1{i}-00-00-00-{'ABCDEF0123456789'}{'.gz' if i == 2 else ''}"
        name.write_bytes(gzip.compress(text.encode()) if i == 2 else text.encode())
    return folder, [record for record, _, _ in items]


def expected_tutorial_answer(records):
    """The tutorial query computed in plain Python from the generated records (not from the parser)."""
    counts = collections.Counter()
    for r in records:
        when = r["time"].astimezone(UTC)
        if (r.get("errorcode") and when.month == 5 and when.day >= 10
                and r.get("httpstatus") in (400, 403, 405)):
            counts[(r.get("requester"), r["httpstatus"], r["errorcode"])] += 1
    return counts


def test_tutorial_query_verbatim_returns_the_right_rows(generated, tmp_path):
    folder, records = generated
    lake = tmp_path / "lake"
    done = run_cli("ingest", str(folder), "--lake", str(lake))
    assert done.returncode == 0, done.stderr
    assert b"3 files; 3,000 records in = 3,000 rows written + 0 duplicates skipped + 0 quarantined" in done.stderr
    out = run_cli("query", TUTORIAL_SQL, "--lake", str(lake), "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    got = {(r["requester"], r["httpstatus"], r["errorcode"]): r["err_count"] for r in rows}
    expected = expected_tutorial_answer(records)
    assert len(expected) > 5  # the generated data exercises the query
    assert got == dict(expected)
    assert [r["err_count"] for r in rows] == sorted((r["err_count"] for r in rows), reverse=True)


def test_ingest_is_idempotent_and_partitioned_by_event_hour(generated, tmp_path):
    folder, records = generated
    lake = tmp_path / "lake"
    for _ in range(2):
        assert run_cli("ingest", str(folder), "--lake", str(lake)).returncode == 0
    con = open_lake(lake)
    assert con.execute("SELECT count(*), count(DISTINCT p_row_id) FROM panther_logs.aws_s3serveraccess").fetchone() == (3000, 3000)
    hours = {(r["time"].astimezone(UTC).year, r["time"].astimezone(UTC).month, r["time"].astimezone(UTC).day,
              r["time"].astimezone(UTC).hour) for r in records}
    on_disk = {tuple(int(part.split("=")[1]) for part in p.parent.relative_to(lake / "panther_logs" / "aws_s3serveraccess").parts)
               for p in lake.rglob("*.parquet")}
    assert on_disk == hours
    # every row sits in the partition of its own event time
    mismatched = con.execute(
        "SELECT count(*) FROM panther_logs.aws_s3serveraccess WHERE year != year(time) OR month != month(time) "
        "OR day != day(time) OR hour != hour(time)").fetchone()[0]
    assert mismatched == 0


def test_parse_cli_json_lines_and_quarantine_file(tmp_path):
    bad = MALFORMED["status-not-a-number"][0]
    log = tmp_path / "2019-02-06-00-00-00-ABCDEF0123456789"
    log.write_text(f"{AWS_DOC_LINE}\n{bad}\n{OLD_18}\n")
    quarantine = tmp_path / "q.jsonl"
    done = run_cli("parse", str(log), "--quarantine", str(quarantine))
    assert done.returncode == 3  # completed, something was quarantined
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["requestid"] for r in records] == ["3E57427F3EXAMPLE", "5D1F2B3C4A5E6F70"]
    assert records[0]["tlsVersion"] == "TLSV1.2" and records[0]["httpstatus"] == 200
    entries = [json.loads(line) for line in quarantine.read_text().splitlines()]
    offset = len(AWS_DOC_LINE) + 1
    assert entries == [{"source": str(log), "line_number": 2, "reason": "httpstatus is not a number: '2OO'",
                        "raw": bad, "log_type": "AWS.S3ServerAccess", "offset": offset, "size": len(bad)}]
    assert done.stderr.decode().strip().splitlines()[-1] == (
        f"bucketwatch parse: 1 file; 3 records in = 2 records out + 0 duplicates skipped + 1 quarantined "
        f"(see {quarantine})")


def test_parse_reads_stdin(tmp_path):
    done = run_cli("parse", "-", stdin=gzip.compress(f"{OLD_18}\n".encode()))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["versionid"] == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"


def test_missing_input_is_a_one_line_error_before_any_output(tmp_path):
    done = run_cli("parse", str(tmp_path / "x.gz"))
    assert done.returncode == 2
    err = done.stderr.decode().strip()
    assert err == f"bucketwatch parse: error: no such file or directory: {tmp_path / 'x.gz'}"


def test_corrupt_gzip_is_quarantined_and_exits_3(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(AWS_DOC_LINE.encode() * 100)[:80])
    done = run_cli("parse", str(path))
    assert done.returncode == 3, done.stderr
    assert done.stderr.decode().strip() == (
        "bucketwatch parse: 1 file; 1 record in = 0 records out + 0 duplicates skipped + 1 quarantined")


def test_query_formats_and_errors(tmp_path):
    log = tmp_path / "a.log"
    log.write_text(f"{AWS_DOC_LINE}\n{OLD_18}\n")
    lake = tmp_path / "lake"
    assert run_cli("ingest", str(log), "--lake", str(lake)).returncode == 0
    sql = "SELECT bucket, httpstatus FROM panther_logs.aws_s3serveraccess ORDER BY bucket"
    csv_out = run_cli("query", sql, "--lake", str(lake), "--format", "csv").stdout.decode()
    assert csv_out.splitlines() == ["bucket,httpstatus", "amzn-s3-demo-bucket1,200", "examplebucket,200"]
    table_out = run_cli("query", sql, "--lake", str(lake)).stdout.decode().splitlines()
    assert table_out[0].split() == ["bucket", "httpstatus"] and table_out[-1] == "(2 rows)"
    ips = run_cli("query", "SELECT p_any_ip_addresses FROM panther_views.all_ip_addresses ORDER BY 1",
                  "--lake", str(lake), "--format", "json").stdout.decode().splitlines()
    assert [json.loads(x)["p_any_ip_addresses"] for x in ips] == [["192.0.2.3"], ["203.0.113.9"]]
    bad = run_cli("query", "SELEC 1", "--lake", str(lake))
    assert bad.returncode == 2  # usage (detectors/common/exitcodes.py)
    assert bad.stderr.decode().startswith("bucketwatch query: error: Parser Error")
    assert "Traceback" not in bad.stderr.decode()
    missing = run_cli("query", "SELECT nope FROM panther_logs.aws_s3serveraccess", "--lake", str(lake))
    assert missing.returncode == 2 and "nope" in missing.stderr.decode()


def test_query_on_a_mistyped_lake_is_an_error_not_zero_rows(tmp_path):
    done = run_cli("query", "SELECT count(*) FROM panther_logs.aws_s3serveraccess", "--lake", str(tmp_path / "typo"))
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.decode().strip() == (f"bucketwatch query: error: lake not found: {tmp_path / 'typo'} "
                                            f"(write one with `bucketwatch ingest ... --lake {tmp_path / 'typo'}`)")


def test_default_lake_folder_is_under_the_current_directory(tmp_path):
    log = tmp_path / "a.log"
    log.write_text(f"{AWS_DOC_LINE}\n")
    assert run_cli("ingest", str(log), cwd=tmp_path).returncode == 0
    assert list((tmp_path / ".bucketwatch" / "lake" / "panther_logs" / "aws_s3serveraccess").rglob("*.parquet"))
    out = run_cli("query", "SELECT count(*) AS n FROM panther_logs.aws_s3serveraccess", "--format", "csv", cwd=tmp_path)
    assert out.stdout.decode().splitlines() == ["n", "1"]


def test_empty_lake_has_every_known_table(tmp_path):
    con = open_lake(tmp_path / "nothing-here")
    assert con.execute(TUTORIAL_SQL).fetchall() == []
    for table in ("panther_logs.aws_cloudtrail", "panther_rule_matches.aws_s3serveraccess",
                  "panther_rule_matches.aws_cloudtrail", "panther_views.all_ip_addresses"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def test_s3_input_and_s3_lake_writer(aws_endpoint, tmp_path):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="access-logs")
    s3.put_object(Bucket="access-logs", Key="logs/2019-02-06-00-00-00-ABCDEF0123456789",
                  Body=gzip.compress(f"{AWS_DOC_LINE}\n{OLD_18}\n".encode()))
    s3.put_object(Bucket="access-logs", Key="elsewhere/2019-02-06-00-00-00-0000000000000000", Body=b"x")
    done = run_cli("parse", "s3://access-logs/logs/")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["p_source"] for r in records] == ["s3://access-logs/logs/2019-02-06-00-00-00-ABCDEF0123456789"] * 2
    assert run_cli("parse", "s3://access-logs/none/").returncode == 2

    s3.create_bucket(Bucket="processed")
    batch = next(iter(parse_inputs(["s3://access-logs/logs/"])))
    remote = S3LakeWriter(s3, "processed", "lake")
    remote.write("panther_logs", "aws_s3serveraccess", batch.table)
    local = tmp_path / "lake"
    LakeWriter(local).write("panther_logs", "aws_s3serveraccess", batch.table)
    local_keys = sorted(str(p.relative_to(local)) for p in local.rglob("*.parquet"))
    assert sorted(k.removeprefix("lake/") for k in remote.keys_written) == local_keys
    body = s3.get_object(Bucket="processed", Key=remote.keys_written[0])["Body"].read()
    local_file = pq.read_table(local / local_keys[0])
    assert pq.read_table(pa_buffer(body)).equals(local_file)


def pa_buffer(data: bytes):
    import pyarrow as pa

    return pa.BufferReader(data)


def test_progress_is_quiet_when_piped(tmp_path):
    log = tmp_path / "a.log"
    log.write_text(f"{AWS_DOC_LINE}\n")
    done = run_cli("ingest", str(log), "--lake", str(tmp_path / "lake"))
    assert done.stderr.decode().count("\n") == 1 and "\r" not in done.stderr.decode()


def test_quarantine_path_of_ingest_defaults_into_the_lake(tmp_path):
    log = tmp_path / "a.log"
    log.write_text(f"{AWS_DOC_LINE}\n{MALFORMED['json-line'][0]}\n")
    lake = tmp_path / "lake"
    assert run_cli("ingest", str(log), "--lake", str(lake)).returncode == 3
    (file,) = (lake / "_quarantine").rglob("*.jsonl")
    entries = file.read_text().splitlines()
    assert [json.loads(e)["line_number"] for e in entries] == [2]
    assert Path(lake).is_dir()


def test_ingest_with_workers_writes_the_same_lake(generated, tmp_path):
    folder, _ = generated
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli("ingest", str(folder), "--lake", str(one)).returncode == 0
    done = run_cli("ingest", str(folder), "--lake", str(two), "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert b"3,000 records in = 3,000 rows written + 0 duplicates skipped + 0 quarantined" in done.stderr
    files = sorted(str(p.relative_to(one)) for p in one.rglob("*.parquet"))
    assert files == sorted(str(p.relative_to(two)) for p in two.rglob("*.parquet"))
    sql = "SELECT p_row_id, bucket, time, httpstatus FROM panther_logs.aws_s3serveraccess ORDER BY p_row_id"
    assert open_lake(one).execute(sql).fetchall() == open_lake(two).execute(sql).fetchall()


def test_parse_with_workers_prints_the_same_records(generated):
    folder, _ = generated

    def records(*extra):
        done = run_cli("parse", str(folder), *extra)
        assert done.returncode == 0, done.stderr
        return [{k: v for k, v in json.loads(x).items() if k != "p_parse_time"} for x in done.stdout.splitlines()]

    one = records()
    assert len(one) == 3000
    assert records("--workers", "2") == one
