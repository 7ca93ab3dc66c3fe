"""Inputs: a file, a directory (recursive), `-` (stdin) or `s3://bucket/prefix`, read as lines;
their content is decoded in detectors.content.

S3 uses boto3's default client, which honours AWS_ENDPOINT_URL (a local moto server in tests).

Reading is streamed and bounded:
- `detectors.content.LogicalStream` is an object's bytes as the parsers see them (decompressed,
  decoded; damage ends the stream with `.error`, a failed read raises `InputError`).
- `iter_line_chunks` cuts the stream into blocks of whole lines (fixed-size reads cut at the last
  newline, so the chunks of a given content are always the same: row ids derive from them). A
  line longer than the maximum record size is skipped without being held in memory and reported
  by reference (`OversizeLine`: its offset and size).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from detectors.content import RAW_BLOCK, InputError, LogicalStream, read_fully

CHUNK_BYTES = 4 * 1024 * 1024


def display_name(location: str) -> str:
    """`location` as text that can be printed and stored (p_source): a file name that is not
    UTF-8 (kept by Python as surrogate escapes) shows U+FFFD where its undecodable bytes are."""
    try:
        location.encode("utf-8")
    except UnicodeEncodeError:
        return location.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return location


@dataclass(frozen=True)
class InputObject:
    kind: str        # "file" | "s3" | "stdin" | "member" (a file in a local zip or tar archive)
    location: str    # path (surrogate-escaped if not UTF-8), s3://bucket/key, "-" or <archive>!/<member>
    size: int | None = None    # from the listing (S3, archive members); files are stat'ed when planned
    etag: str | None = None    # S3 only
    member: Any = None         # detectors.archives.ArchiveMember of a "member"

    @property
    def name(self) -> str:
        """What p_source records (always valid UTF-8)."""
        return display_name(self.location)

    @property
    def key(self) -> bytes:
        """The exact identity of the input (file names as their bytes), for the lake's manifest."""
        if self.kind in ("file", "member"):
            return os.fsencode(self.location)
        return self.location.encode("utf-8", "surrogatepass")

    def open_raw(self) -> BinaryIO:
        if self.kind == "stdin":
            return sys.stdin.buffer
        if self.kind == "member":
            from detectors.archives import open_member

            return open_member(self.member)  # type: ignore[return-value]
        if self.kind == "file":
            try:
                return open(self.location, "rb")
            except OSError as exc:
                raise InputError(f"cannot read {self.name}: {exc.strerror}") from None
        bucket, key = split_s3_url(self.location)
        try:
            return s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        except Exception as exc:
            raise InputError(f"cannot read {self.name}: {exc}") from None

    def close(self, stream: Any) -> None:
        if self.kind != "stdin":
            stream.close()


class Limited:
    """The next `size` bytes of a stream, as a stream (re-reading a processed prefix)."""

    def __init__(self, stream: LogicalStream, size: int) -> None:
        self._stream = stream
        self._left = size
        self.error: str | None = None

    def read(self, size: int = RAW_BLOCK) -> bytes:
        data = self._stream.read(min(size, self._left)) if self._left > 0 else b""
        self._left -= len(data)
        if not data:
            self.error = self._stream.error
        return data


@dataclass
class LineChunk:
    offset: int     # byte offset of the chunk in the logical stream
    data: bytes     # whole lines (the last one may lack its newline at the end of the stream)


@dataclass
class OversizeLine:
    offset: int     # where the line starts
    size: int       # its length in bytes, newline excluded
    digest: bytes   # SHA-256 of its bytes (for the lake's manifest)
    terminated: bool  # False when the stream ended inside it


@dataclass
class StreamTail:
    """The stream ended with an error: the unterminated last line (if any) and what could not be
    read form one quarantine entry."""
    offset: int
    data: bytes     # the unterminated partial line before the error (at most the record limit)
    size: int       # its full size
    reason: str


def iter_line_chunks(stream: Any, max_line: int, size: int | None = None
                     ) -> Iterator[LineChunk | OversizeLine | StreamTail]:
    """Blocks of whole lines, oversize lines by reference, and a StreamTail when the stream ends
    with an error. Memory: one block plus at most `max_line` bytes of a carried partial line."""
    size = size or CHUNK_BYTES
    carry, carry_at, position = b"", 0, 0
    while True:
        block = read_fully(stream, size)
        if not block:
            break
        cut = block.rfind(b"\n")
        if cut < 0:
            if len(carry) + len(block) > max_line:
                start = carry_at if carry else position
                skipped = yield from _skip_long_line(stream, carry, block, start, size)
                carry, carry_at, position = skipped
                continue
            if not carry:
                carry_at = position
            carry += block
            position += len(block)
            continue
        start = carry_at if carry else position
        if not carry and cut == len(block) - 1:
            yield LineChunk(start, block)
        else:
            yield LineChunk(start, b"".join((carry, memoryview(block)[: cut + 1])))
        position += len(block)
        carry = block[cut + 1:]
        carry_at = position - len(carry)
    error = getattr(stream, "error", None)
    if error:
        yield StreamTail(carry_at if carry else position, carry, len(carry), error)
    elif carry:
        yield LineChunk(carry_at, carry)


def _skip_long_line(stream: Any, carry: bytes, block: bytes, start: int, size: int
                    ) -> Iterator[LineChunk | OversizeLine | StreamTail]:
    """Consume a line longer than the limit up to its newline, hashing but not keeping it; the
    rest of the block after the newline starts a new carry. Returns (carry, carry_at, position)."""
    digest = hashlib.sha256(carry)
    length = len(carry)
    while True:
        cut = block.find(b"\n")
        if cut >= 0:
            digest.update(memoryview(block)[:cut])
            length += cut
            yield OversizeLine(start, length, digest.digest(), True)
            rest = block[cut + 1:]
            after = start + length + 1
            # The rest of the block holds whole lines up to its last newline, then a partial one.
            last = rest.rfind(b"\n")
            if last >= 0:
                yield LineChunk(after, rest[: last + 1])
                return rest[last + 1:], after + last + 1, after + len(rest)
            return rest, after, after + len(rest)
        digest.update(block)
        length += len(block)
        block = read_fully(stream, size)
        if not block:
            error = getattr(stream, "error", None)
            if error:
                yield StreamTail(start, b"", length, error)
            else:
                yield OversizeLine(start, length, digest.digest(), False)
            return b"", start + length, start + length


def split_s3_url(url: str) -> tuple[str, str]:
    rest = url[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise InputError(f"not an S3 URL: {url} (expected s3://bucket/prefix)")
    return bucket, key


def s3_client() -> Any:
    import boto3  # imported lazily: local runs without S3 inputs do not pay for it

    return boto3.client("s3")


def _list_s3(url: str) -> Iterator[InputObject]:
    bucket, prefix = split_s3_url(url)
    try:
        pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        items = [obj for page in pages for obj in page.get("Contents", [])]
    except Exception as exc:
        raise InputError(f"cannot list {url}: {exc}") from None
    if not items:
        raise InputError(f"no objects under {url}")
    for item in sorted(items, key=lambda obj: obj["Key"]):
        if not item["Key"].endswith("/"):
            yield InputObject("s3", f"s3://{bucket}/{item['Key']}", item.get("Size"), item.get("ETag"))


def expand_inputs(inputs: Sequence[str]) -> Iterator[InputObject]:
    """Every object to read, in a stable order (directories sorted, recursively). Every input is
    resolved now (a missing one raises InputError before any object is returned); each file's
    archive members are listed as the objects are taken, so a caller that reads each object
    before taking the next reads a compressed tar in one pass (detectors.archives)."""
    resolved = [_resolve(item) for item in inputs]
    return itertools.chain.from_iterable(resolved)


def _resolve(item: str) -> Iterable[InputObject]:
    if item == "-":
        return [InputObject("stdin", "-")]
    if item.startswith("s3://"):
        return list(_list_s3(item))
    path = Path(item)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if not is_hidden(p.relative_to(path).as_posix()) and p.is_file())
        return itertools.chain.from_iterable(_local_file(str(file)) for file in files)
    if path.is_file():
        return _local_file(str(path))
    raise InputError(f"no such file or directory: {display_name(item)}")


def is_hidden(relative: str) -> bool:
    """Not a log: a file in a folder or archive whose path (relative to it, `/`-separated) has a
    hidden part (`.DS_Store`, `._x` AppleDouble files, `.git/...`, `.cache/...`), or under the
    `__MACOSX/` folder of resource forks that macOS adds to the zips it makes."""
    parts = relative.split("/")
    return parts[0] == "__MACOSX" or any(part.startswith(".") and part not in (".", "..") for part in parts)


def _local_file(path: str) -> Iterator[InputObject]:
    """A file, or each file of a zip or tar archive (detectors.archives). A file named as AWS
    delivers logs (a CloudTrail or access-log key) is not opened to look for an archive: folders
    of such files are where the cost per file counts (one that is an archive all the same is
    still reported whole when it is read)."""
    from detectors import archives
    from detectors.parsers.detect import log_type_from_key

    format_ = None if log_type_from_key(path) else archives.archive_format(path)
    if format_ is None:
        yield InputObject("file", path)
    else:
        yield from archives.members(path, format_)
