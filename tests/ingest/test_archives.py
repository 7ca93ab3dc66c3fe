"""Backfills as archives: every file of a local zip or tar (plain or compressed) is read as an
input of its own, named `<archive>!/<member>`, so its key path still names the log type, account
and region, and the manifest records it on its own (exactly once across runs). A cut or corrupt
archive gives what could be listed plus one quarantine entry, and is read again next time."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import duckdb
import pytest

from detectors import archives
from detectors.content import InputError
from detectors.lake.ingest import ingest_inputs, quarantine_entries
from detectors.pipeline import parse_inputs
from detectors.quarantine import MemoryQuarantine
from detectors.sources import expand_inputs

ACCESS = "logs/123456789012/eu-west-1/payroll/2024/01/01/2024-01-01-10-00-00-5F3A0E4C1B2D7A98"
TRAIL = "AWSLogs/210987654321/CloudTrail/us-east-1/2024/01/01/210987654321_CloudTrail_us-east-1_20240101T1000Z_a.json.gz"


def trail_file(*event_ids: str) -> bytes:
    records = [{"eventVersion": "1.09", "eventTime": "2024-01-01T10:00:00Z", "eventSource": "s3.amazonaws.com",
                "eventName": "GetObject", "awsRegion": "us-east-1", "eventID": i} for i in event_ids]
    return gzip.compress(json.dumps({"Records": records}).encode())


@pytest.fixture(scope="module")
def files(generator) -> dict[str, bytes]:
    lines = [line for _, _, line in generator.generate(40, seed=21, span_seconds=600)]
    return {"./" + ACCESS: ("\n".join(lines) + "\n").encode(), TRAIL: trail_file("t1", "t2", "t3"),
            "notes/README.txt": b"", "logs/other.log.bz2": bz2.compress(("\n".join(lines[:5]) + "\n").encode())}


def make_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        folder = tarfile.TarInfo("logs")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("logs/", b"")
        for name, data in files.items():
            archive.writestr(name.removeprefix("./"), data)
    return path


def lake_rows(lake: Path) -> list[tuple]:
    glob = (lake / "panther_logs" / "**" / "*.parquet").as_posix()
    return duckdb.sql(f"SELECT p_log_type, p_source, p_account_id, p_region, count(*) FROM read_parquet('{glob}', "
                      "union_by_name = true) GROUP BY ALL ORDER BY ALL").fetchall()


@pytest.mark.parametrize("kind", ["tar.gz", "tar", "tar.bz2", "tar.xz", "zip"])
def test_each_file_of_an_archive_is_an_input_of_its_own(tmp_path, files, kind):
    path = tmp_path / f"backfill.{kind}"
    if kind == "zip":
        make_zip(path, files)
    else:
        make_tar(path, files, {"tar.gz": "w:gz", "tar": "w", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}[kind])
    names = [obj.name for obj in expand_inputs([str(tmp_path)])]
    assert names == [f"{path}!/{name}" for name in (ACCESS, TRAIL, "notes/README.txt", "logs/other.log.bz2")]
    report = ingest_inputs([str(path)], tmp_path / "lake")
    assert report.holds() and report.quarantined == 0 and report.rows_written == 40 + 3 + 5
    assert lake_rows(tmp_path / "lake") == [
        ("AWS.CloudTrail", f"{path}!/{TRAIL}", "210987654321", "us-east-1", 3),
        ("AWS.S3ServerAccess", f"{path}!/{ACCESS}", "123456789012", "eu-west-1", 40),
        ("AWS.S3ServerAccess", f"{path}!/logs/other.log.bz2", None, None, 5)]


def test_an_archive_is_read_exactly_once_and_again_whole_when_it_changes(tmp_path, files):
    path = make_tar(tmp_path / "backfill.tgz", files)
    first = ingest_inputs([str(path)], tmp_path / "lake")
    again = ingest_inputs([str(path)], tmp_path / "lake")
    assert first.rows_written == 48 and again.stats.records_in == 0 and len(again.unchanged) == 4
    os.utime(path, ns=(1, 1))  # a new copy of the same archive: each member is checked again...
    third = ingest_inputs([str(path)], tmp_path / "lake")
    # ...access logs as grown files (same prefix: nothing new), the trail file whole (its rows are there)
    assert sorted(third.resumed) == [f"{path}!/{ACCESS}", f"{path}!/logs/other.log.bz2"]
    assert (third.stats.records_in, third.duplicates, third.rows_written) == (3, 3, 0)
    assert sum(row[-1] for row in lake_rows(tmp_path / "lake")) == 48


def test_a_cut_archive_keeps_what_was_listed_and_is_read_again_when_it_changes(tmp_path, files):
    whole = make_tar(tmp_path / "whole.tar", files, "w").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(gzip.compress(whole)[: len(gzip.compress(whole)) * 3 // 4])
    report = ingest_inputs([str(cut)], tmp_path / "lake")
    assert report.holds() and report.rows_written >= 40 and not report.failures
    reasons = {entry["source"]: entry["reason"] for entry in quarantine_entries(tmp_path / "lake")}
    assert reasons[f"{cut}!/(unlisted part)"].startswith("the tar archive cannot be read to its end: ")
    assert ingest_inputs([str(cut)], tmp_path / "lake").stats.records_in == 0  # recorded: not read again...
    cut.write_bytes(gzip.compress(whole))  # ...until the copy is complete
    done = ingest_inputs([str(cut)], tmp_path / "lake")
    assert done.holds() and done.quarantined == 0
    assert sum(row[-1] for row in lake_rows(tmp_path / "lake")) == 48


def test_a_file_that_only_starts_like_a_zip_is_one_entry(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04 not really")
    report = ingest_inputs([str(tmp_path / "fake.zip")], tmp_path / "lake")
    assert report.holds() and report.quarantined == 1 and not report.failures
    (entry,) = quarantine_entries(tmp_path / "lake")
    assert entry["reason"] == "the zip archive cannot be read to its end: BadZipFile: File is not a zip file"


def test_an_archive_inside_an_archive_is_one_entry(tmp_path, files):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("x.log", b"line\n")
    path = make_tar(tmp_path / "outer.tgz", {"inner.zip": inner.getvalue(), TRAIL: files[TRAIL]})
    sink = MemoryQuarantine()
    events = [e for batch in parse_inputs([str(path)], quarantine=sink) for e in batch.events()]
    assert [e["eventID"] for e in events] == ["t1", "t2", "t3"]
    assert [(entry.source, entry.reason.split(";")[0]) for entry in sink.entries] == [
        (f"{path}!/inner.zip", "a zip archive: not read as one text")]


def test_members_asked_for_out_of_order_are_still_right(tmp_path, files):
    path = make_tar(tmp_path / "backfill.tar.gz", files)
    objects = list(expand_inputs([str(path)]))
    try:
        for obj in [objects[3], objects[0], objects[1]]:  # backwards: the cursor starts a new pass
            stream = obj.open_raw()
            assert stream.read() == files[obj.member.name]
            stream.close()
    finally:
        archives.close_cursors()


def test_an_archive_that_changed_after_listing_says_so(tmp_path, files):
    path = make_tar(tmp_path / "backfill.tar", files, "w")
    objects = list(expand_inputs([str(path)]))
    make_tar(path, {"other": b"x"}, "w")
    try:
        with pytest.raises(InputError, match="changed while it was read"):
            objects[1].open_raw()
    finally:
        archives.close_cursors()


def test_workers_read_an_archive_as_one_process_does(tmp_path, files):
    path = make_tar(tmp_path / "backfill.tgz", files)
    one = ingest_inputs([str(path)], tmp_path / "one")
    two = ingest_inputs([str(path)], tmp_path / "two", workers=2)
    assert one.rows_written == two.rows_written == 48
    assert lake_rows(tmp_path / "one") == lake_rows(tmp_path / "two")


def test_a_name_the_archive_repeats_is_an_input_of_its_own(tmp_path, files):
    """tar (appended files) and zip allow the same name twice: each copy is read and recorded."""
    path = tmp_path / "appended.tar"
    with tarfile.open(path, "w") as archive:
        for data in (files[TRAIL], trail_file("t4")):
            info = tarfile.TarInfo(TRAIL)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    assert [obj.name for obj in expand_inputs([str(path)])] == [f"{path}!/{TRAIL}", f"{path}!/{TRAIL}#2"]
    report = ingest_inputs([str(path)], tmp_path / "lake")
    assert report.rows_written == 4 and sum(row[-1] for row in lake_rows(tmp_path / "lake")) == 4
    assert ingest_inputs([str(path)], tmp_path / "lake").stats.records_in == 0


def test_hidden_files_and_macos_resource_forks_are_not_inputs(tmp_path, files):
    """As in a directory: `.DS_Store`, `._x` AppleDouble files and the `__MACOSX/` folder that
    macOS puts in the zips it makes are not logs."""
    path = make_zip(tmp_path / "from-a-mac.zip", {TRAIL: files[TRAIL], ".DS_Store": b"\x00\x00\x00\x01Bud1",
                                                  "__MACOSX/AWSLogs/._t.json.gz": b"\x00\x05\x16\x07",
                                                  "logs/._notes": b"\x00", ".git/config": b"[core]\n"})
    assert [obj.name for obj in expand_inputs([str(path)])] == [f"{path}!/{TRAIL}"]


def test_ingest_reads_a_compressed_tar_in_one_pass(tmp_path, files, monkeypatch):
    """Its listing stands on each member while `ingest` reads it: the archive is opened (and
    decompressed) once, not once to list and once more to read."""
    path = make_tar(tmp_path / "backfill.tar.xz", files, "w:xz")
    opened: list[str] = []
    real_open = tarfile.open

    def counting_open(name=None, mode="r", *args, **kwargs):
        opened.append(mode)
        return real_open(name, mode, *args, **kwargs)

    monkeypatch.setattr(tarfile, "open", counting_open)
    report = ingest_inputs([str(path)], tmp_path / "lake")
    assert report.rows_written == 48 and opened == ["r|*"]
