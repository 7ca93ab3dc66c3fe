"""Inputs: a file, a directory (recursive), `-` (stdin) or `s3://bucket/prefix`; gzip by content.

S3 uses boto3's default client, which honours AWS_ENDPOINT_URL (a local moto server in tests).
Reading is chunked: fixed-size blocks cut at the last newline, so the chunks of a given content
are always the same (row ids derive from them) and memory stays flat for any input size.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

CHUNK_BYTES = 4 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class InputError(Exception):
    """An input that cannot be used at all (missing, unreadable, corrupt compression)."""


@dataclass(frozen=True)
class InputObject:
    kind: str        # "file" | "s3" | "stdin"
    location: str    # path, s3://bucket/key or "-"

    @property
    def name(self) -> str:
        """What p_source records."""
        return self.location

    def open_raw(self) -> BinaryIO:
        if self.kind == "stdin":
            return sys.stdin.buffer
        if self.kind == "file":
            try:
                return open(self.location, "rb")
            except OSError as exc:
                raise InputError(f"cannot read {self.location}: {exc.strerror}") from None
        bucket, key = split_s3_url(self.location)
        try:
            return s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        except Exception as exc:
            raise InputError(f"cannot read {self.location}: {exc}") from None


class _Prefixed:
    """A stream with some already-read bytes put back in front."""

    def __init__(self, prefix: bytes, stream: Any) -> None:
        self._prefix = prefix
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size is None or size < 0:
                data, self._prefix = self._prefix + self._stream.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(data) < size:
                data += self._stream.read(size - len(data))
            return data
        return self._stream.read(size)


def decompressed(stream: Any) -> Any:
    """The stream, gunzipped when its first bytes are the gzip magic (whatever the name says)."""
    head = stream.read(2)
    prefixed = _Prefixed(head, stream)
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=prefixed, mode="rb")  # type: ignore[arg-type]
    return prefixed


def _read_exactly(stream: Any, size: int, source: str) -> bytes:
    parts, remaining = [], size
    while remaining > 0:
        try:
            data = stream.read(remaining)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{source}: unreadable gzip data: {exc}") from None
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def iter_chunks(stream: Any, source: str, size: int | None = None) -> Iterator[bytes]:
    """Blocks of whole lines (each ends with a newline except maybe the last). The bytes are
    copied at most once (the carried partial line is short)."""
    size = size or CHUNK_BYTES
    carry = b""
    while True:
        block = _read_exactly(stream, size, source)
        if not block:
            break
        cut = block.rfind(b"\n")
        if cut < 0:
            carry += block
            continue
        if not carry and cut == len(block) - 1:
            yield block
        else:
            yield b"".join((carry, memoryview(block)[: cut + 1]))
        carry = block[cut + 1:]
    if carry:
        yield carry


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
        keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    except Exception as exc:
        raise InputError(f"cannot list {url}: {exc}") from None
    if not keys:
        raise InputError(f"no objects under {url}")
    for key in sorted(keys):
        if not key.endswith("/"):
            yield InputObject("s3", f"s3://{bucket}/{key}")


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
                raise InputError(f"no such file or directory: {item}")
