"""`bucketwatch ingest` re-runs are exactly once: unchanged input writes nothing, a grown file adds
only its new lines, a changed one replaces its rows, byte-identical copies are counted as
duplicates, each bad line is quarantined once, and a killed run leaves a lake the next run makes
consistent. Every run prints its invariant: records in = rows written + duplicates + quarantined."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ingest_helpers import run_cli
from test_s3_access_parser import AWS_DOC_LINE, OLD_18

from detectors.lake import open_lake
from detectors.lake.ingest import quarantine_entries

INVARIANT = re.compile(r"([\d,]+) records? in = ([\d,]+) rows? written \+ ([\d,]+) duplicates? skipped \+ "
                       r"([\d,]+) quarantined")
BAD = "not an access log line"


def lines(generator, n: int, seed: int) -> list[str]:
    return [line for _, _, line in generator.generate(n, seed=seed)]


def ingest(lake: Path, *inputs, expect: int = 0, extra: tuple[str, ...] = ()) -> tuple[int, int, int, int]:
    """Run the CLI; the printed invariant's four numbers (checked to add up)."""
    done = run_cli("ingest", *map(str, inputs), "--lake", str(lake), *extra)
    assert done.returncode == expect, done.stderr
    found = INVARIANT.search(done.stderr.decode())
    assert found, done.stderr
    numbers = tuple(int(x.replace(",", "")) for x in found.groups())
    assert numbers[0] == sum(numbers[1:])
    return numbers  # type: ignore[return-value]


def lake_rows(lake: Path) -> tuple[int, int]:
    """(rows, distinct p_row_id) of the access-log table."""
    return open_lake(lake).execute(
        "SELECT count(*), count(DISTINCT p_row_id) FROM panther_logs.aws_s3serveraccess").fetchone()


def lake_files(lake: Path) -> set[str]:
    return {str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file() and "_state" not in p.parts}


def test_unchanged_input_writes_nothing_new(generator, tmp_path):
    log = tmp_path / "logs" / "2020-05-10-00-00-00-AAAAAAAAAAAAAAAA"
    log.parent.mkdir()
    log.write_text("\n".join([*lines(generator, 500, 1), BAD]) + "\n")
    lake = tmp_path / "lake"
    assert ingest(lake, log.parent, expect=3) == (501, 500, 0, 1)
    before = {p: (lake / p).stat().st_mtime_ns for p in lake_files(lake)}
    assert ingest(lake, log.parent) == (0, 0, 0, 0)  # not read at all: nothing quarantined again
    assert {p: (lake / p).stat().st_mtime_ns for p in lake_files(lake)} == before
    assert lake_rows(lake) == (500, 500)
    assert [e["raw"] for e in quarantine_entries(lake)] == [BAD]


def test_a_grown_file_adds_only_its_new_lines(generator, tmp_path):
    log = tmp_path / "2020-05-10-00-00-00-AAAAAAAAAAAAAAAA"
    first, more = lines(generator, 300, 2), lines(generator, 200, 3)
    log.write_text("\n".join([*first, BAD]) + "\n")
    lake = tmp_path / "lake"
    assert ingest(lake, log, expect=3) == (301, 300, 0, 1)
    with log.open("a") as out:
        out.write("\n".join([*more, BAD]) + "\n")
    assert ingest(lake, log, expect=3) == (201, 200, 0, 1)
    assert lake_rows(lake) == (500, 500)
    entries = list(quarantine_entries(lake))
    assert [(e["line_number"], e["raw"]) for e in entries] == [(301, BAD), (502, BAD)]
    second_offset = len(("\n".join([*first, BAD]) + "\n" + "\n".join(more) + "\n").encode())
    assert entries[1]["offset"] == second_offset
    # The same as one run over the whole file: same records, same line numbers.
    fresh = tmp_path / "fresh"
    ingest(fresh, log, expect=3)
    sql = "SELECT requestid, time FROM panther_logs.aws_s3serveraccess ORDER BY requestid, time"
    assert open_lake(lake).execute(sql).fetchall() == open_lake(fresh).execute(sql).fetchall()


def test_a_grown_gzip_file_is_resumed_too(generator, tmp_path):
    log = tmp_path / "2020-05-10-00-00-00-AAAAAAAAAAAAAAAA.gz"
    log.write_bytes(gzip.compress(("\n".join(lines(generator, 100, 4)) + "\n").encode()))
    lake = tmp_path / "lake"
    assert ingest(lake, log) == (100, 100, 0, 0)
    with log.open("ab") as out:  # a second gzip member
        out.write(gzip.compress(("\n".join(lines(generator, 50, 5)) + "\n").encode()))
    assert ingest(lake, log) == (50, 50, 0, 0)
    assert lake_rows(lake) == (150, 150)


def test_a_changed_file_replaces_its_own_rows(generator, tmp_path):
    log = tmp_path / "2020-05-10-00-00-00-AAAAAAAAAAAAAAAA"
    log.write_text("\n".join([*lines(generator, 300, 6), BAD]) + "\n")
    lake = tmp_path / "lake"
    ingest(lake, log, expect=3)
    log.write_text("\n".join(lines(generator, 120, 7)) + "\n")  # rewritten, not appended
    assert ingest(lake, log) == (120, 120, 0, 0)
    assert lake_rows(lake) == (120, 120)
    assert list(quarantine_entries(lake)) == []  # its old bad line went with its old rows
    done = run_cli("ingest", str(log), "--lake", str(lake))
    assert b"1 file (1 unchanged since the last run, not read)" in done.stderr


def test_a_touched_but_unchanged_file_adds_nothing(generator, tmp_path):
    log = tmp_path / "2020-05-10-00-00-00-AAAAAAAAAAAAAAAA"
    log.write_text("\n".join(lines(generator, 100, 8)) + "\n")
    lake = tmp_path / "lake"
    ingest(lake, log)
    os.utime(log, ns=(log.stat().st_atime_ns, log.stat().st_mtime_ns + 10**9))
    assert ingest(lake, log) == (0, 0, 0, 0)  # its prefix is verified, nothing follows it
    assert lake_rows(lake) == (100, 100)


def test_byte_identical_files_under_two_names_are_counted_as_duplicates(generator, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    text = "\n".join([*lines(generator, 22, 9), BAD]) + "\n"
    for name in ("a", "b", "c"):
        (folder / f"2020-05-10-00-00-00-{name * 16}").write_text(text)
    lake = tmp_path / "lake"
    done = run_cli("ingest", str(folder), "--lake", str(lake))
    assert done.returncode == 3
    err = done.stderr.decode()
    assert "69 records in = 22 rows written + 44 duplicates skipped + 3 quarantined" in err
    assert err.count("rows already in the lake from") == 2 and f"{folder}/2020-05-10-00-00-00-{'a' * 16}" in err
    assert lake_rows(lake) == (22, 22)
    assert len(list(quarantine_entries(lake))) == 3  # one per file: each file's bad line, once


def test_rows_shared_by_copies_stay_while_any_copy_needs_them(generator, tmp_path):
    a, b = tmp_path / "2020-05-10-00-00-00-AAAAAAAAAAAAAAAA", tmp_path / "2020-05-10-00-00-00-BBBBBBBBBBBBBBBB"
    text = "\n".join(lines(generator, 40, 10)) + "\n"
    a.write_text(text)
    b.write_text(text)
    lake = tmp_path / "lake"
    assert ingest(lake, a, b) == (80, 40, 40, 0)
    a.write_text("\n".join(lines(generator, 10, 11)) + "\n")  # a changes; b still holds the old rows
    assert ingest(lake, a, b) == (10, 10, 0, 0)
    assert lake_rows(lake) == (50, 50)


def test_each_bad_line_is_quarantined_once_across_runs(tmp_path):
    log = tmp_path / "2020-05-10-00-00-00-AAAAAAAAAAAAAAAA"
    log.write_text(f"{AWS_DOC_LINE}\n{BAD}\n{OLD_18}\n")
    lake = tmp_path / "lake"
    for _ in range(3):
        run_cli("ingest", str(log), "--lake", str(lake))
    os.utime(log, ns=(log.stat().st_atime_ns, log.stat().st_mtime_ns + 10**9))
    run_cli("ingest", str(log), "--lake", str(lake))
    assert [e["line_number"] for e in quarantine_entries(lake)] == [2]


def test_ingest_exits_3_when_every_line_was_quarantined(tmp_path):
    log = tmp_path / "junk.log"
    log.write_text(f"{BAD}\n{BAD}\n")
    assert ingest(tmp_path / "lake", log, expect=3) == (2, 0, 0, 2)


def test_the_quarantine_option_gets_a_copy_of_this_runs_entries(tmp_path):
    log = tmp_path / "a.log"
    log.write_text(f"{AWS_DOC_LINE}\n{BAD}\n")
    lake, copy = tmp_path / "lake", tmp_path / "q.jsonl"
    ingest(lake, log, expect=3, extra=("--quarantine", str(copy)))
    assert [json.loads(x)["raw"] for x in copy.read_text().splitlines()] == [BAD]
    ingest(lake, log, extra=("--quarantine", str(copy)))  # unchanged: nothing read, nothing new
    assert copy.read_text() == ""


KILL_SCRIPT = """
import os, signal, sys
from detectors.lake import ingest, manifest
where, nth = sys.argv[1], int(sys.argv[2])
calls = 0
def die_on_nth(original):
    def wrapper(self, *args, **kwargs):
        global calls
        calls += 1
        if calls == nth:
            if where == "commit":  # half of this source's files moved (as _apply does), then it dies
                staging, moves, deletes = args
                for staged_as, path in moves[: len(moves) // 2]:
                    (self.root / path).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staging / staged_as, self.root / path)
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, *args, **kwargs)
    return wrapper
if where == "commit":
    manifest.Manifest._apply = die_on_nth(manifest.Manifest._apply)
else:
    ingest.StagingWriter.write_partition = die_on_nth(ingest.StagingWriter.write_partition)
from bucketwatch.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize(("where", "nth"), [("staging", 3), ("commit", 2)])
def test_a_killed_run_leaves_a_lake_the_next_run_completes(generator, tmp_path, where, nth):
    folder = tmp_path / "logs"
    folder.mkdir()
    for i in range(4):
        (folder / f"2020-05-1{i}-00-00-00-{str(i) * 16}").write_text("\n".join(lines(generator, 400, 20 + i)) + "\n")
    lake = tmp_path / "lake"
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, where, str(nth), "ingest", str(folder),
                             "--lake", str(lake)], capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    assert list((lake / "_state" / "staging").iterdir())  # it died with work in progress
    ingest(lake, folder)
    assert lake_rows(lake) == (1600, 1600)
    assert not [p for p in lake.rglob("*") if p.name.endswith(".tmp")]
    assert not list((lake / "_state" / "staging").iterdir())
    assert ingest(lake, folder) == (0, 0, 0, 0)  # and it is all recorded: nothing to do


def test_part_tmp_files_left_by_older_versions_are_removed(tmp_path):
    lake = tmp_path / "lake"
    partition = lake / "panther_logs" / "aws_s3serveraccess" / "year=2019" / "month=02" / "day=06" / "hour=00"
    partition.mkdir(parents=True)
    leftover = partition / ".part-0123456789abcdef01234567.parquet.4242.tmp"
    leftover.write_bytes(b"PAR1 half a file")
    log = tmp_path / "a.log"
    log.write_text(f"{AWS_DOC_LINE}\n")
    ingest(lake, log)
    assert not leftover.exists()


def test_serial_and_workers_agree_on_a_directory_with_a_truncated_gzip(generator, tmp_path):
    """The issue's case: before, serial ingest exited 2 with nothing written and two workers
    wrote some files. Now both keep the good prefix, quarantine the rest as one entry, go on."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for i in range(4):
        data = ("\n".join(lines(generator, 300, 30 + i)) + "\n").encode()
        if i == 1:
            compressed = gzip.compress(data)
            (folder / f"2020-05-1{i}-00-00-00-{str(i) * 16}.gz").write_bytes(compressed[: len(compressed) // 2])
        else:
            (folder / f"2020-05-1{i}-00-00-00-{str(i) * 16}").write_bytes(data)
    results = {}
    for workers in ("1", "2"):
        lake = tmp_path / f"lake{workers}"
        numbers = ingest(lake, folder, expect=3, extra=("--workers", workers))
        (entry,) = quarantine_entries(lake)
        results[workers] = (numbers, lake_rows(lake), entry["line_number"], entry["offset"], entry["reason"])
    assert results["1"] == results["2"]
    numbers, rows, *_ = results["1"]
    assert numbers[3] == 1 and 900 < numbers[1] < 1200 and rows[0] == rows[1] == numbers[1]
    assert results["1"][4].startswith("gzip data is truncated")


def test_file_names_that_are_not_utf8_are_read(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    name = os.fsencode(str(folder)) + b"/2020-05-10-00-00-00-\xff\xfeAAAAAAAAAAAAAA"
    with open(name, "wb") as out:
        out.write(f"{AWS_DOC_LINE}\n{BAD}\n".encode())
    lake = tmp_path / "lake"
    assert ingest(lake, folder, expect=3) == (2, 1, 0, 1)
    (source,) = open_lake(lake).execute("SELECT p_source FROM panther_logs.aws_s3serveraccess").fetchone()
    assert source.endswith("2020-05-10-00-00-00-\ufffd\ufffdAAAAAAAAAAAAAA")
    assert ingest(lake, folder) == (0, 0, 0, 0)  # the manifest knows it by its bytes
    parsed = run_cli("parse", str(folder))
    assert parsed.returncode == 3 and b"Traceback" not in parsed.stderr


def test_stdin_is_ingested_once_per_content(tmp_path):
    lake = tmp_path / "lake"
    data = f"{AWS_DOC_LINE}\n{BAD}\n".encode()
    for expected in ((2, 1, 0, 1), (2, 0, 1, 1)):
        done = run_cli("ingest", "-", "--lake", str(lake), stdin=data)
        assert done.returncode == 3, done.stderr
        numbers = tuple(int(x.replace(",", "")) for x in INVARIANT.search(done.stderr.decode()).groups())
        assert numbers == expected  # the second time its row is already in the lake
    assert lake_rows(lake) == (1, 1)
    assert [e["raw"] for e in quarantine_entries(lake)] == [BAD]  # its bad line once, rewritten


def test_s3_objects_are_ingested_once_by_etag(aws_endpoint, tmp_path):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="logs")
    key = "access/2019-02-06-00-00-00-ABCDEF0123456789"
    s3.put_object(Bucket="logs", Key=key, Body=f"{AWS_DOC_LINE}\n".encode())
    lake = tmp_path / "lake"
    assert ingest(lake, "s3://logs/access/") == (1, 1, 0, 0)
    assert ingest(lake, "s3://logs/access/") == (0, 0, 0, 0)
    s3.put_object(Bucket="logs", Key=key, Body=f"{OLD_18}\n".encode())  # replaced: a new ETag
    assert ingest(lake, "s3://logs/access/") == (1, 1, 0, 0)
    assert open_lake(lake).execute("SELECT requestid FROM panther_logs.aws_s3serveraccess").fetchall() == \
        [("5D1F2B3C4A5E6F70",)]
