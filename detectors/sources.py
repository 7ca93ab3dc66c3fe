"""Inputs: a file, a directory (recursive), `-` (stdin) or `s3://bucket/prefix`; gzip by content.

S3 uses boto3's default client, which honours AWS_ENDPOINT_URL (a local moto server in tests).

Reading is streamed and bounded:
- `LogicalStream` is an object's bytes as the parsers see them: gunzipped when the content starts
  with the gzip magic (every member of a concatenated gzip), plain otherwise. Corrupt or truncated
  gzip data does not raise: the stream ends there and `.error` says why, so the parsers keep the
  good prefix and quarantine the rest as one entry. A failure of the underlying read (a file that
  vanished, an S3 connection reset) raises `InputError`: the object could not be read at all.
- `iter_line_chunks` cuts the stream into blocks of whole lines (fixed-size reads cut at the last
  newline, so the chunks of a given content are always the same: row ids derive from them). A
  line longer than the maximum record size is skipped without being held in memory and reported
  by reference (`OversizeLine`: its offset and size).
"""

from __future__ import annotations

import hashlib
import os
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

CHUNK_BYTES = 4 * 1024 * 1024
_RAW_BLOCK = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class InputError(Exception):
    """An input that cannot be used at all (missing, unreadable, denied)."""


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
    kind: str        # "file" | "s3" | "stdin"
    location: str    # path (surrogate-escaped if not UTF-8), s3://bucket/key or "-"
    size: int | None = None    # from the listing (S3); files are stat'ed when planned
    etag: str | None = None    # S3 only

    @property
    def name(self) -> str:
        """What p_source records (always valid UTF-8)."""
        return display_name(self.location)

    @property
    def key(self) -> bytes:
        """The exact identity of the input (file names as their bytes), for the lake's manifest."""
        return os.fsencode(self.location) if self.kind == "file" else self.location.encode("utf-8", "surrogatepass")

    def open_raw(self) -> BinaryIO:
        if self.kind == "stdin":
            return sys.stdin.buffer
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


class LogicalStream:
    """An object's content as the parsers read it (see the module docstring).

    `read(n)` returns up to n bytes (b"" at the end); `offset` counts the bytes returned so far;
    `error` is set when the content could not be read to its end (corrupt/truncated gzip)."""

    def __init__(self, raw: Any, source: str = "") -> None:
        self._raw = raw
        self._source = source
        self.offset = 0
        self.error: str | None = None
        self.compressed = False
        self._pending = b""  # raw bytes read but not yet consumed
        self._done = False
        self._inflate: Any = None
        head = self._peek(2)
        if head == _GZIP_MAGIC:
            self.compressed = True
            self._inflate = zlib.decompressobj(wbits=31)

    def _peek(self, size: int) -> bytes:
        """The first bytes, left in a buffered file (peek) so that the first read is not joined
        from them and the rest (a copy of a whole chunk); other streams keep them pending."""
        peek = getattr(self._raw, "peek", None)
        if peek is not None:
            try:
                head = peek(size)[:size]
            except Exception as exc:  # as in _raw_read: the object could not be read at all
                raise InputError(f"cannot read {self._source}: {type(exc).__name__}: {exc}") from None
            if len(head) == size:
                return head
        # No peek, or fewer bytes so far (a short file, or a pipe: read blocks until it has them).
        self._pending = self._raw_read(size)
        return self._pending

    def _raw_read(self, size: int) -> bytes:
        try:
            data = self._raw.read(size)
        except Exception as exc:  # network reset, I/O error: the object could not be read at all
            raise InputError(f"cannot read {self._source}: {type(exc).__name__}: {exc}") from None
        return data or b""

    def read(self, size: int = _RAW_BLOCK) -> bytes:
        if size <= 0 or self._done:
            return b""
        data = self._read_gzip(size) if self.compressed else self._read_plain(size)
        self.offset += len(data)
        return data

    def _read_plain(self, size: int) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            if len(data) < size:
                data += self._raw_read(size - len(data))
        else:
            data = self._raw_read(size)
        if not data:
            self._done = True
        return data

    def _read_gzip(self, size: int) -> bytes:
        out: list[bytes] = []
        wanted = size
        while wanted > 0 and not self._done:
            if self._inflate.eof:
                if not self._next_member():
                    break
                continue
            data = self._inflate.unconsumed_tail or self._pending or self._raw_read(_RAW_BLOCK)
            self._pending = b""
            if not data:
                self._fail("gzip data is truncated: the file ends inside a compressed member")
                break
            try:
                piece = self._inflate.decompress(data, wanted)
            except zlib.error as exc:
                self._fail(f"gzip data is corrupt: {exc}")
                break
            if piece:
                out.append(piece)
                wanted -= len(piece)
        return b"".join(out)

    def _next_member(self) -> bool:
        """After a member ends: the next member (concatenated gzip), the end, or trailing junk."""
        rest = self._inflate.unused_data
        while len(rest) < 2:
            more = self._raw_read(_RAW_BLOCK)
            if not more:
                break
            rest += more
        if rest.startswith(_GZIP_MAGIC):
            self._inflate = zlib.decompressobj(wbits=31)
            self._pending = rest
            return True
        while rest and not rest.strip(b"\x00"):  # zero padding after the last member is allowed
            rest = self._raw_read(_RAW_BLOCK)
        if rest:
            self._fail("data after the end of the gzip stream is not gzip")
        self._done = True
        return False

    def _fail(self, reason: str) -> None:
        self.error = reason
        self._done = True


def read_fully(stream: LogicalStream, size: int) -> bytes:
    """Up to `size` bytes (fewer only at the end of the stream)."""
    parts, remaining = [], size
    while remaining > 0:
        data = stream.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class Limited:
    """The next `size` bytes of a stream, as a stream (re-reading a processed prefix)."""

    def __init__(self, stream: LogicalStream, size: int) -> None:
        self._stream = stream
        self._left = size
        self.error: str | None = None

    def read(self, size: int = _RAW_BLOCK) -> bytes:
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
    """Every object to read, in a stable order (directories sorted, recursively)."""
    for item in inputs:
        if item == "-":
            yield InputObject("stdin", "-")
        elif item.startswith("s3://"):
            yield from _list_s3(item)
        else:
            path = Path(item)
            if path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
                for file in files:
                    yield InputObject("file", str(file))
            elif path.is_file():
                yield InputObject("file", str(path))
            else:
                raise InputError(f"no such file or directory: {display_name(item)}")
