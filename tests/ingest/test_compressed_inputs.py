"""Compressed and archived inputs, as backfills bring them: gzip, bzip2, xz and zstd are read by
content (any file name), member after member; truncated or corrupt data keeps the good prefix and
quarantines the rest; an archive read as one stream (in S3, 7z, RAR) is one quarantine entry
saying to unpack it, never garbage lines. The invariant holds for every input."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest

from detectors.pipeline import ParseStats, parse_inputs, parse_stream
from detectors.quarantine import MemoryQuarantine


def compress(codec: str, data: bytes) -> bytes:
    if codec == "gzip":
        return gzip.compress(data)
    if codec == "bzip2":
        return bz2.compress(data, compresslevel=1)  # 100 kB blocks: a cut file still has whole ones
    if codec == "xz":
        return lzma.compress(data)
    return pa.Codec("zstd").compress(data, asbytes=True)


CODECS = ("gzip", "bzip2", "xz", "zstd")


@pytest.fixture(scope="module")
def lines(generator) -> bytes:
    items = list(generator.generate(300, seed=11, span_seconds=600))
    return ("\n".join(line for _, _, line in items) + "\n").encode()


def parse(tmp_path: Path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    sink = MemoryQuarantine()
    run = parse_inputs([str(path)], quarantine=sink)
    rows = [row for batch in run for row in batch.table.to_pylist()]
    assert run.stats.lines_in == run.stats.records_out + run.stats.quarantined
    return rows, sink.entries


@pytest.mark.parametrize("codec", CODECS)
def test_each_codec_is_read_by_content_member_after_member(tmp_path, lines, codec):
    half = lines.index(b"\n", len(lines) // 2) + 1
    data = compress(codec, lines[:half]) + compress(codec, lines[half:])  # pbzip2, pixz, zstd -T: several
    rows, quarantined = parse(tmp_path, "access.log.old", data)  # no telling extension
    assert len(rows) == 300 and quarantined == []
    assert [r["requestid"] for r in rows] == [line.split(b" ")[6].decode() for line in lines.splitlines()]


@pytest.mark.parametrize("codec", CODECS)
def test_a_truncated_compressed_file_keeps_its_good_prefix(tmp_path, generator, codec):
    items = list(generator.generate(3000, seed=12, span_seconds=600))  # several bzip2 and zstd blocks
    data = compress(codec, ("\n".join(line for _, _, line in items) + "\n").encode())
    rows, quarantined = parse(tmp_path, "cut", data[: len(data) * 2 // 3])
    assert 0 < len(rows) < 3000
    (tail,) = quarantined
    assert codec in tail.reason and ("truncated" in tail.reason or "corrupt" in tail.reason), tail.reason


@pytest.mark.parametrize("codec", ("gzip", "bzip2", "xz"))
def test_junk_after_the_last_member_is_one_entry_after_every_row(tmp_path, lines, codec):
    rows, quarantined = parse(tmp_path, "junk", compress(codec, lines) + b"not compressed at all")
    assert len(rows) == 300
    assert [entry.reason for entry in quarantined] == [f"data after the end of the {codec} stream is not {codec}"]


def _tar(compression: str = "") -> bytes:
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode=f"w:{compression}") as archive:
        for name in ("logs/a.log", "logs/b.log"):
            member = tarfile.TarInfo(name)
            member.size = 6
            archive.addfile(member, io.BytesIO(b"line \n"))
    return sink.getvalue()


def _zip() -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("logs/a.log", "line\n")
    return sink.getvalue()


@pytest.mark.parametrize(("data", "kind"), [
    (_zip(), "a zip archive"),
    (_tar(), "a tar archive"),
    (_tar("gz"), "a tar archive (gzip-compressed)"),
    (_tar("bz2"), "a tar archive (bzip2-compressed)"),
    (_tar("xz"), "a tar archive (xz-compressed)"),
    (b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 40, "a 7z archive"),
    (b"Rar!\x1a\x07\x01\x00" + b"\x00" * 40, "a RAR archive"),
], ids=["zip", "tar", "tar.gz", "tar.bz2", "tar.xz", "7z", "rar"])
def test_an_archive_read_as_one_stream_is_one_entry_saying_to_unpack_it(data, kind):
    """In S3 (or on stdin, or inside another archive) an archive is one stream: it is one entry
    saying what to do, not garbage lines. (Local zip and tar files are read file by file:
    tests/ingest/test_archives.py.)"""
    sink, stats = MemoryQuarantine(), ParseStats()
    batches = list(parse_stream(io.BytesIO(data), "s3://backups/logs-2023", "auto", sink, stats))
    assert batches == [] and stats.records_in == stats.quarantined == 1
    (entry,) = sink.entries
    assert entry.reason.startswith(f"{kind}: not read as one text; unpack it and ingest the folder")


@pytest.mark.parametrize("data", [b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 40, b"Rar!\x1a\x07\x01\x00" + b"\x00" * 40],
                         ids=["7z", "rar"])
def test_a_local_7z_or_rar_file_is_one_entry_too(tmp_path, data):
    rows, quarantined = parse(tmp_path, "logs-2023", data)
    assert rows == [] and len(quarantined) == 1 and "unpack it" in quarantined[0].reason


def test_text_with_ustar_where_a_tar_header_has_it_is_still_text(tmp_path, generator):
    """Only a real tar header (magic and checksum) marks a tar: a log line may say "ustar" anywhere."""
    text = b"".join(line.encode() + b"\n" for _, _, line in generator.generate(5, seed=3, span_seconds=60))
    text = text[:257] + b"ustar" + text[262:]  # inside the first line (one field changed)
    rows, quarantined = parse(tmp_path, "ustar.log", text)
    assert len(rows) + len(quarantined) == 5 and len(rows) >= 4
    assert not any("archive" in entry.reason for entry in quarantined)


def test_compressed_cloudtrail_is_read_too(tmp_path):
    record = {"eventVersion": "1.09", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
              "eventName": "GetObject", "awsRegion": "us-east-1", "eventID": "e1"}
    for codec in CODECS:
        path = tmp_path / f"AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/trail-{codec}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(compress(codec, json.dumps({"Records": [record]}).encode()))
    run = parse_inputs([str(tmp_path / "AWSLogs")], quarantine=MemoryQuarantine())
    events = [e for batch in run for e in batch.events()]
    assert [e["eventID"] for e in events] == ["e1"] * 4


@pytest.mark.parametrize("codec", CODECS)
def test_a_read_failure_inside_compressed_data_fails_the_input_not_the_run(codec):
    """A connection reset mid-object is the object's failure (InputError: retried as a whole), not
    corrupt data and not a traceback, whichever library decompresses it."""
    from detectors.content import InputError, LogicalStream

    data = compress(codec, b"x" * 300_000)

    class ResetAfterTwoReads:
        def __init__(self) -> None:
            self.body, self.reads = io.BytesIO(data), 0

        def read(self, size: int = -1) -> bytes:
            self.reads += 1
            if self.reads > 2:
                raise ConnectionResetError("reset by peer")
            return self.body.read(min(size, 10))

    with pytest.raises(InputError, match="cannot read s3://logs/obj: ConnectionResetError: reset by peer"):
        stream = LogicalStream(ResetAfterTwoReads(), "s3://logs/obj")
        while stream.read(100_000):
            pass


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-32", "utf-16+gzip", "utf-8-sig",
                                      "utf-8-sig+gzip"])
def test_text_with_a_byte_order_mark_is_read_as_utf8(tmp_path, lines, encoding):
    """Windows PowerShell 5.1 writes `>` and Out-File as UTF-16 with a byte order mark; PowerShell 7's
    `-Encoding utf8BOM` and Notepad write UTF-8 with one. The first owner id is read without it."""
    text = lines.decode()
    if encoding == "utf-16-be-bom":
        data = b"\xfe\xff" + text.encode("utf-16-be")
    else:
        data = text.encode(encoding.split("+")[0])
    if encoding.endswith("+gzip"):
        data = gzip.compress(data)
    rows, quarantined = parse(tmp_path, "export.log", data)
    expected, _ = parse(tmp_path, "utf8.log", lines)
    assert quarantined == [] and [r["requestid"] for r in rows] == [r["requestid"] for r in expected]
    assert rows[0]["bucketowner"] == expected[0]["bucketowner"]


def test_cloudtrail_file_saved_as_utf8_with_a_byte_order_mark(tmp_path):
    """Before, the mark hid the JSON from the content sniffer: one access-log quarantine entry."""
    record = {"eventVersion": "1.09", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
              "eventName": "DeleteBucketPolicy", "awsRegion": "eu-west-3", "eventID": "e1",
              "requestParameters": {"bucketName": "données-été"}}
    path = tmp_path / "trail.json"
    path.write_bytes(json.dumps({"Records": [record]}, ensure_ascii=False).encode("utf-8-sig"))
    sink = MemoryQuarantine()
    events = [e for batch in parse_inputs([str(path)], quarantine=sink) for e in batch.events()]
    assert sink.entries == [] and [e["requestParameters"]["bucketName"] for e in events] == ["données-été"]


def test_powershell_lookup_events_with_non_ascii_names(tmp_path):
    """`aws cloudtrail lookup-events > events.json` in Windows PowerShell 5.1: UTF-16LE, CRLF."""
    record = {"eventVersion": "1.09", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
              "eventName": "DeleteBucketPolicy", "awsRegion": "eu-west-3", "eventID": "e1",
              "requestParameters": {"bucketName": "données-été"}}
    document = json.dumps({"Events": [{"EventId": "e1", "CloudTrailEvent": json.dumps(record)}]}, indent=4,
                          ensure_ascii=False)
    path = tmp_path / "events.json"
    path.write_bytes(document.replace("\n", "\r\n").encode("utf-16"))
    sink = MemoryQuarantine()
    events = [e for batch in parse_inputs([str(path)], quarantine=sink) for e in batch.events()]
    assert sink.entries == [] and [e["requestParameters"]["bucketName"] for e in events] == ["données-été"]


def test_utf16_that_does_not_decode_keeps_its_records_with_replacement_characters(tmp_path, lines):
    data = lines.decode().encode("utf-16-le")
    broken = b"\xff\xfe" + data[:100] + b"\x00\xd8" + data[100:]  # a lone high surrogate in the owner id
    rows, quarantined = parse(tmp_path, "broken.log", broken)
    assert len(rows) == 300 and quarantined == []
    owner = lines.split(b" ")[0].decode()
    assert rows[0]["bucketowner"] == owner[:50] + "\ufffd" + owner[50:]
