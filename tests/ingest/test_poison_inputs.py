"""Poison input never stops a run: each bad record is quarantined with its position, byte offset and
reason, the other records of its file and the other files are read, and nothing is a traceback.
The cases are the issue's: CloudTrail times at 0001/9999 with ±14:00 offsets, lone surrogates,
nesting thousands deep, 5,000-digit integers, Records that is not a list, records that are not
objects; access-log times outside the lake's years; over-long lines and records."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from ingest_helpers import run_cli
from test_pipeline import GET_OBJECT, PUT_BUCKET_POLICY, TRAIL_KEY
from test_s3_access_parser import AWS_DOC_LINE, OLD_18

from detectors.lake import open_lake
from detectors.lake.ingest import quarantine_entries
from detectors.pipeline import parse_stream
from detectors.quarantine import MemoryQuarantine

GOOD = [PUT_BUCKET_POLICY, GET_OBJECT]
# (name, raw JSON text of one record, reason the quarantine gives)
POISON = [
    ("time-0001", json.dumps(dict(GET_OBJECT, eventTime="0001-01-01T00:00:00+14:00")),
     "eventTime '0001-01-01T00:00:00+14:00' is outside the lake's time range (years 2006 to 2099)"),
    ("time-9999", json.dumps(dict(GET_OBJECT, eventTime="9999-12-31T23:59:59-14:00")),
     "eventTime '9999-12-31T23:59:59-14:00' is outside the lake's time range (years 2006 to 2099)"),
    ("deep", '{"eventTime": "2020-05-10T12:00:00Z", "x": ' + "[" * 5000 + "]" * 5000 + "}",
     "nested deeper than 128 levels"),
    ("big-int", '{"eventTime": "2020-05-10T12:00:00Z", "n": ' + "9" * 5000 + "}",
     "not valid JSON: Exceeds the limit (4300 digits)"),
    ("not-an-object", "[1, 2]", "record is a list, expected an object"),
    ("invalid-json", '{"eventTime": "2020-05-10T12:00:00Z", "x": tru}', "not valid JSON: Expecting value"),
]


def trail_text(*records: str) -> str:
    return '{"Records": [' + ", ".join(records) + "]}"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("name", "record", "reason"), POISON, ids=[p[0] for p in POISON])
def test_one_bad_record_is_quarantined_and_its_neighbours_kept(tmp_path, name, record, reason):
    before = json.dumps(GOOD[0])
    text = trail_text(before, record, json.dumps(GOOD[1]))
    folder = tmp_path / "in"
    write(folder / "a" / "2020-05-10-12-00-00-AAAAAAAAAAAAAAAA", f"{AWS_DOC_LINE}\n".encode())
    write(folder / "b" / TRAIL_KEY, gzip.compress(text.encode()))
    write(folder / "c" / "2020-05-10-13-00-00-CCCCCCCCCCCCCCCC", f"{OLD_18}\n".encode())
    lake = tmp_path / "lake"
    done = run_cli("ingest", str(folder), "--lake", str(lake))
    assert done.returncode == 3 and b"Traceback" not in done.stderr, done.stderr
    assert b"5 records in = 4 rows written + 0 duplicates skipped + 1 quarantined" in done.stderr
    (entry,) = quarantine_entries(lake)
    assert entry["line_number"] == 2 and entry["reason"].startswith(reason)
    assert entry["offset"] == len('{"Records": [' + before + ", ") and entry["size"] == len(record)
    assert entry["raw"] == record
    con = open_lake(lake)
    assert con.execute("SELECT count(*) FROM panther_logs.aws_cloudtrail").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM panther_logs.aws_s3serveraccess").fetchone() == (2,)
    parsed = run_cli("parse", str(folder))
    assert parsed.returncode == 3 and len(parsed.stdout.splitlines()) == 4 and b"Traceback" not in parsed.stderr


def test_a_lone_surrogate_becomes_a_replacement_character_and_the_record_is_kept(tmp_path):
    record = json.dumps(dict(GET_OBJECT, userAgent="x")).replace('"userAgent": "x"', '"userAgent": "\\ud800 tool"')
    path = write(tmp_path / TRAIL_KEY, trail_text(record).encode())
    done = run_cli("parse", str(path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["userAgent"] == "\ufffd tool"
    lake = tmp_path / "lake"
    assert run_cli("ingest", str(path), "--lake", str(lake)).returncode == 0
    assert open_lake(lake).execute("SELECT userAgent FROM panther_logs.aws_cloudtrail").fetchone() == ("\ufffd tool",)


@pytest.mark.parametrize(("document", "reason"), [
    ('{"Records": {"eventTime": "2020-05-10T12:00:00Z"}}', "Records is a dict, expected a list"),
    ('{"Records": "x"}', "Records is a str, expected a list"),
    ('{"Records": [1, "x", null]}', "record is a int, expected an object"),
])
def test_records_that_are_not_a_list_of_objects(tmp_path, document, reason):
    path = write(tmp_path / TRAIL_KEY, document.encode())
    sink = MemoryQuarantine()
    batches = list(parse_stream(io.BytesIO(path.read_bytes()), str(path), quarantine=sink))
    assert batches == [] and sink.entries[0].reason == reason
    done = run_cli("parse", str(path))
    assert done.returncode == 3 and b"Traceback" not in done.stderr


def test_access_log_times_outside_the_lake_are_quarantined_not_partitioned(tmp_path):
    year_0 = AWS_DOC_LINE.replace("[06/Feb/2019:00:00:38 +0000]", "[06/Feb/0000:00:00:38 +0000]")
    year_1 = AWS_DOC_LINE.replace("[06/Feb/2019:00:00:38 +0000]", "[01/Jan/0001:00:30:00 +0100]")
    year_2005 = AWS_DOC_LINE.replace("[06/Feb/2019:00:00:38 +0000]", "[01/Jan/2006:00:30:00 +0100]")  # 2005 in UTC
    year_2100 = AWS_DOC_LINE.replace("[06/Feb/2019:00:00:38 +0000]", "[31/Dec/2099:23:30:00 -0100]")  # 2100 in UTC
    assert len({year_0, year_1, year_2005, year_2100, AWS_DOC_LINE}) == 5
    path = write(tmp_path / "2019-02-06-00-00-00-AAAAAAAAAAAAAAAA",
                 "\n".join([year_0, AWS_DOC_LINE, year_1, year_2005, year_2100]).encode() + b"\n")
    lake = tmp_path / "lake"
    done = run_cli("ingest", str(path), "--lake", str(lake))
    assert done.returncode == 3 and b"5 records in = 1 row written + 0 duplicates skipped + 4 quarantined" in done.stderr
    reasons = {e["line_number"]: e["reason"] for e in quarantine_entries(lake)}
    assert reasons[1].startswith("invalid time")  # there is no year 0
    for line in (3, 4, 5):
        assert reasons[line].endswith("is outside the lake's time range (years 2006 to 2099)")
    years = {p.name for p in (lake / "panther_logs" / "aws_s3serveraccess").iterdir()}
    assert years == {"year=2019"}


def test_an_over_long_line_is_quarantined_by_reference_not_copied(tmp_path, monkeypatch):
    monkeypatch.setattr("detectors.sources.CHUNK_BYTES", 4096)  # the line spans many reads
    long_line = "x" * 300_000
    text = f"{AWS_DOC_LINE}\n{long_line}\n{OLD_18}\n"
    sink = MemoryQuarantine()
    batches = list(parse_stream(io.BytesIO(text.encode()), "a.log", quarantine=sink, max_record_bytes=10_000))
    assert sum(b.table.num_rows for b in batches) == 2
    (entry,) = sink.entries
    assert (entry.line_number, entry.offset, entry.size, entry.raw) == (2, len(AWS_DOC_LINE) + 1, 300_000, None)
    assert entry.reason == "line is longer than the maximum record size (10,000 bytes): 300,000 bytes"


def test_an_over_long_line_inside_a_chunk_is_quarantined_by_reference(tmp_path):
    long_line = AWS_DOC_LINE.replace("S3Console/0.4", "S3Console/" + "9" * 5000)
    path = write(tmp_path / "a.log", f"{AWS_DOC_LINE}\n{long_line}\n".encode())
    quarantine = tmp_path / "q.jsonl"
    done = run_cli("parse", str(path), "--max-record-bytes", "2048", "--quarantine", str(quarantine))
    assert done.returncode == 3
    (entry,) = [json.loads(x) for x in quarantine.read_text().splitlines()]
    assert (entry["line_number"], entry["raw"], entry["size"]) == (2, None, len(long_line))


def test_an_over_long_cloudtrail_record_is_skipped_by_reference(tmp_path):
    huge = json.dumps(dict(GET_OBJECT, requestParameters={"pad": "p" * 200_000}))
    text = trail_text(json.dumps(GOOD[0]), huge, json.dumps(GOOD[1]))
    sink = MemoryQuarantine()
    batches = list(parse_stream(io.BytesIO(text.encode()), TRAIL_KEY, quarantine=sink, max_record_bytes=50_000))
    assert [e["eventName"] for b in batches for e in b.events()] == ["PutBucketPolicy", "GetObject"]
    (entry,) = sink.entries
    assert (entry.line_number, entry.size, entry.raw) == (2, len(huge), None)
    assert entry.offset == len('{"Records": [' + json.dumps(GOOD[0]) + ", ")


def test_an_over_long_cloudtrail_record_read_whole_in_one_block_is_quarantined(tmp_path):
    """The limit does not depend on where reads fall: a record over it that arrives inside one
    read (here a 20 KB record against a 10,000-byte limit, far under the 1 MiB read block) is quarantined
    too, in a Records array and as a single EventBridge event."""
    big = json.dumps(dict(GET_OBJECT, requestParameters={"pad": "p" * 20_000}))
    assert max(len(json.dumps(event)) for event in GOOD) < 10_000 < len(big)
    sink = MemoryQuarantine()
    text = trail_text(json.dumps(GOOD[0]), big, json.dumps(GOOD[1]))
    batches = list(parse_stream(io.BytesIO(text.encode()), TRAIL_KEY, quarantine=sink, max_record_bytes=10_000))
    assert [e["eventName"] for b in batches for e in b.events()] == ["PutBucketPolicy", "GetObject"]
    (entry,) = sink.entries
    assert (entry.line_number, entry.size, entry.raw) == (2, len(big), None)
    assert entry.reason == f"larger than the maximum record size (10,000 bytes): {len(big):,} bytes"

    envelope = json.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": json.loads(big)})
    sink = MemoryQuarantine()
    batches = list(parse_stream(io.BytesIO(envelope.encode()), TRAIL_KEY, quarantine=sink, max_record_bytes=10_000))
    assert sum(b.table.num_rows for b in batches) == 0
    (entry,) = sink.entries
    assert (entry.size, entry.raw) == (len(envelope), None)
    assert entry.reason.startswith("larger than the maximum record size (10,000 bytes)")


def test_the_record_limit_comes_from_the_config_file_and_is_validated(tmp_path):
    config = tmp_path / "bw.yml"
    config.write_text("ingest:\n  max_record_bytes: 10\n")
    path = write(tmp_path / "a.log", f"{AWS_DOC_LINE}\n".encode())
    done = run_cli("parse", str(path), "--config", str(config))
    assert done.returncode == 2
    assert done.stderr.decode().strip() == ("bucketwatch parse: error: ingest.max_record_bytes: expected a whole number "
                                            "from 1024 to 268435456, got 10")
    config.write_text("ingest:\n  max_record_bytes: 1024\n")
    done = run_cli("parse", str(path), "--config", str(config))
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1
    bad_flag = run_cli("parse", str(path), "--max-record-bytes", "0")
    assert bad_flag.returncode == 2 and b"--max-record-bytes: expected a whole number" in bad_flag.stderr


def test_a_file_that_vanished_after_listing_is_one_entry_and_the_run_goes_on(tmp_path):
    from detectors.lake.ingest import LakeIngest
    from detectors.sources import expand_inputs

    gone = write(tmp_path / "logs" / "a.log", f"{AWS_DOC_LINE}\n".encode())
    write(tmp_path / "logs" / "b.log", f"{OLD_18}\n".encode())
    objects = list(expand_inputs([str(tmp_path / "logs")]))
    gone.unlink()
    lake = tmp_path / "lake"
    with LakeIngest(lake) as run:
        report = run.run(objects)
    assert report.holds() and (report.stats.records_in, report.rows_written, report.quarantine_written) == (2, 1, 1)
    assert report.stats.unreadable == 1 and report.failures[0][0] == str(gone)
    (entry,) = quarantine_entries(lake)
    assert entry["source"] == str(gone) and entry["reason"].startswith(f"cannot read {gone}: No such file")
    # It was not recorded as read: once it is back, the next run reads it (and drops the entry).
    write(gone, f"{AWS_DOC_LINE}\n".encode())
    with LakeIngest(lake) as run:
        again = run.run(list(expand_inputs([str(tmp_path / "logs")])))
    assert (again.stats.records_in, again.rows_written, again.quarantine_written) == (1, 1, 0)
    assert list(quarantine_entries(lake)) == []


def test_hidden_folders_in_an_input_folder_are_not_read(tmp_path):
    """A folder of logs may hold a git checkout's objects, a tool's cache or what `unzip` leaves of a
    Mac zip: no file under a hidden folder (or `__MACOSX/`) is an input, as no hidden file is."""
    import zlib

    from detectors.sources import expand_inputs

    logs = tmp_path / "logs"
    for relative, data in {"2024-01-01-00-00-00-ABC": AWS_DOC_LINE + "\n",
                           ".git/objects/ab/cdef0123": zlib.compress(b"blob 12\x00not a log"),
                           ".cache/copy.log": AWS_DOC_LINE + "\n", "__MACOSX/._2024-01-01": "\x00\x05\x16\x07",
                           "sub/.DS_Store": "\x00\x00\x00\x01Bud1", "sub/2024-01-01-01-00-00-DEF": OLD_18 + "\n"}.items():
        path = logs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    assert [Path(obj.name).relative_to(logs).as_posix() for obj in expand_inputs([str(logs)])] == [
        "2024-01-01-00-00-00-ABC", "sub/2024-01-01-01-00-00-DEF"]
    hidden_input = logs / ".cache"  # named on the command line, a hidden folder is read
    assert [Path(obj.name).name for obj in expand_inputs([str(hidden_input)])] == ["copy.log"]
