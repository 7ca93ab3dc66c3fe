"""An object's content as the parsers read it: compression and text encoding recognised by the
first bytes, whatever the object is called.

`LogicalStream` is an object's bytes as the parsers see them: decompressed when the content
starts with the magic of gzip, bzip2, xz (every member of a concatenated file) or zstd, plain
otherwise; text with a byte order mark (UTF-16, UTF-32, UTF-8) as UTF-8 without it. Corrupt or
truncated data does not raise: the stream ends there and `.error` says why, so the parsers keep
the good prefix and quarantine the rest as one entry. An archive (zip, tar, 7z, RAR) is not read
as text: the stream is empty and `.error` says to unpack it. A failure of the underlying read (a
file that vanished, an S3 connection reset) raises `InputError`: the object could not be read at
all.
"""

from __future__ import annotations

import bz2
import codecs
import lzma
import zlib
from typing import Any

RAW_BLOCK = 1024 * 1024  # bytes asked of the underlying stream per read
_GZIP_MAGIC = b"\x1f\x8b"


class InputError(Exception):
    """An input that cannot be used at all (missing, unreadable, denied)."""


class ContentError(Exception):
    """Raised by a raw stream whose content is damaged past this point (a cut archive member):
    the content ends there, as with corrupt compressed data, and the reason is quarantined."""


class _Member:
    """One compressed member (gzip member, bzip2 stream, xz stream) being inflated: the stdlib
    decompressors behind one interface. zlib hands back input it has not used yet
    (`unconsumed_tail`); bz2 and lzma keep it and say whether they need more (`needs_input`)."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        if codec == "gzip":
            self._inflate: Any = zlib.decompressobj(wbits=31)
        elif codec == "bzip2":
            self._inflate = bz2.BZ2Decompressor()
        else:
            self._inflate = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)

    @property
    def eof(self) -> bool:
        return self._inflate.eof

    @property
    def unused_data(self) -> bytes:
        return self._inflate.unused_data

    def held(self) -> bytes | None:
        """Input to feed again before reading more (b"": the decompressor holds it), or None."""
        if self.codec == "gzip":
            return self._inflate.unconsumed_tail or None
        return None if self._inflate.needs_input else b""

    def decompress(self, data: bytes, size: int) -> bytes:
        return self._inflate.decompress(data, size)


# Compressed content is recognised by its magic bytes, whatever the file is called.
_MAGIC = ((_GZIP_MAGIC, "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
_CORRUPT = (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError)
# Archives hold many files: read as one text they would be garbage lines. Local zip and tar
# archives are listed file by file instead (detectors.archives); any other (in S3, 7z, RAR, one
# inside another) is reported whole with what to do.
_ARCHIVES = ((b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"7z\xbc\xaf\x27\x1c", "7z"), (b"Rar!\x1a\x07", "RAR"))
_TAR_HEADER = 512
_ZSTD_PIECE = 64 * 1024


def _is_tar(head: bytes) -> bool:
    """A tar header (POSIX or GNU magic and a valid checksum: text that merely has "ustar" at
    byte 257 is not taken for one)."""
    if len(head) < _TAR_HEADER or head[257:262] != b"ustar":
        return False
    import tarfile  # only for content that looks like a tar header

    try:
        tarfile.TarInfo.frombuf(head[:_TAR_HEADER], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


# Text saved as UTF-16 (Windows PowerShell 5.1's `>` and Out-File write it, e.g. `aws cloudtrail
# lookup-events > events.json`) or UTF-32 is known by its byte order mark and read as UTF-8; UTF-8
# with a byte order mark (PowerShell 7's `-Encoding utf8BOM`, Notepad) is read without the mark.
_UNICODE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
                 (b"\xfe\xff", "utf-16"), (b"\xef\xbb\xbf", "utf-8-sig"))


def _unicode_decoder(head: bytes) -> Any:
    encoding = next((name for bom, name in _UNICODE_BOMS if head.startswith(bom)), None)
    return None if encoding is None else codecs.getincrementaldecoder(encoding)(errors="replace")


def codec_of(head: bytes) -> str | None:
    """The compression the first bytes announce ("gzip", "bzip2", "xz", "zstd"), or None."""
    return next((codec for magic, codec in _MAGIC if head.startswith(magic)), None)


class LogicalStream:
    """An object's content as the parsers read it (see the module docstring).

    `read(n)` returns up to n bytes (b"" at the end); `offset` counts the bytes returned so far;
    `error` is set when the content could not be read to its end (corrupt/truncated compressed
    data); `codec` names the compression ("gzip", "bzip2", "xz", "zstd") or is None; `archive`
    the kind of archive ("zip", "tar", "7z", "RAR"), which is not read, or None. UTF-16 and UTF-32
    text (a byte order mark first) is returned as UTF-8, and UTF-8 without its byte order mark:
    offsets count the UTF-8 bytes returned then."""

    def __init__(self, raw: Any, source: str = "") -> None:
        self._raw = raw
        self._source = source
        self.offset = 0
        self.error: str | None = None
        self._pending = b""  # raw bytes read but not yet consumed
        self._done = False
        self._member: _Member | None = None
        self._zstd: Any = None
        self._returned = b""  # decompressed bytes read ahead (the archive check), returned first
        self._text: Any = None  # the decoder of content with a byte order mark, read as UTF-8
        self.archive: str | None = None
        self.codec = codec_of(self._peek(6))
        if self.codec == "zstd":
            self._zstd = _open_zstd(self)
        elif self.codec is not None:
            self._member = _Member(self.codec)
        self._archive_check()

    @property
    def compressed(self) -> bool:
        return self.codec is not None

    def _archive_check(self) -> None:
        """An archive (zip, 7z, RAR; tar, compressed or not) is not read as text: the stream is
        empty and `error` says to unpack it."""
        if self.codec is None:
            head = self._peek(_TAR_HEADER)
        else:  # the decompressed start, given back to the next reads
            head = self._returned = read_fully(self, _TAR_HEADER)
            self.offset = 0
        self._text = _unicode_decoder(head)
        self.archive = next((kind for magic, kind in _ARCHIVES if head.startswith(magic)), None)
        if self.archive is None and _is_tar(head):
            self.archive = "tar"
        if self.archive is not None:
            self._done, self._returned = True, b""
            compressed = f" ({self.codec}-compressed)" if self.codec else ""
            self.error = (f"a {self.archive} archive{compressed}: not read as one text; unpack it and ingest the "
                          "folder (zip and tar archives on this machine are read file by file)")

    def _peek(self, size: int) -> bytes:
        """The first bytes, left in a buffered file (peek) so that the first read is not joined
        from them and the rest (a copy of a whole chunk); other streams keep them pending."""
        peek = getattr(self._raw, "peek", None)
        if peek is not None and not self._pending:
            try:
                head = peek(size)[:size]
            except Exception as exc:  # as in _raw_read: the object could not be read at all
                raise InputError(f"cannot read {self._source}: {type(exc).__name__}: {exc}") from None
            if len(head) == size:
                return head
        # No peek, or fewer bytes so far (a short file, or a pipe: read blocks until it has them).
        while len(self._pending) < size:
            more = self._raw_read(size - len(self._pending))
            if not more:
                break
            self._pending += more
        return self._pending[:size]

    def _raw_read(self, size: int) -> bytes:
        try:
            data = self._raw.read(size)
        except ContentError as exc:
            self._fail(str(exc))
            return b""
        except Exception as exc:  # network reset, I/O error: the object could not be read at all
            raise InputError(f"cannot read {self._source}: {type(exc).__name__}: {exc}") from None
        return data or b""

    def read(self, size: int = RAW_BLOCK) -> bytes:
        if size <= 0:
            return b""
        data = self._content(size) if self._text is None else self._transcoded(size)
        self.offset += len(data)
        return data

    def _content(self, size: int) -> bytes:
        """The next (decompressed) bytes of the content."""
        if self._returned:
            data, self._returned = self._returned[:size], self._returned[size:]
            return data
        if self._done:
            return b""
        if self._zstd is not None:
            return self._read_zstd(size)
        return self._read_compressed(size) if self._member is not None else self._read_plain(size)

    def _transcoded(self, size: int) -> bytes:
        """Content with a byte order mark as UTF-8 without it, at most `size` bytes (UTF-8 takes
        at most 3 bytes for 2 of UTF-16); what does not decode becomes U+FFFD."""
        while True:
            raw = self._content(max(4, size * 2 // 3))
            text = self._text.decode(raw, final=not raw)  # type: ignore[union-attr]
            if text or not raw:
                return text.encode("utf-8")

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

    def _read_compressed(self, size: int) -> bytes:
        member = self._member
        assert member is not None
        out: list[bytes] = []
        wanted = size
        while wanted > 0 and not self._done:
            if member.eof:
                if not self._next_member():
                    break
                member = self._member
                assert member is not None
                continue
            data = member.held()
            if data is None:
                data, self._pending = self._pending or self._raw_read(RAW_BLOCK), b""
                if not data:
                    self._fail(f"{self.codec} data is truncated: the file ends inside a compressed member")
                    break
            try:
                piece = member.decompress(data, wanted)
            except _CORRUPT as exc:
                self._fail(f"{self.codec} data is corrupt: {exc}")
                break
            if piece:
                out.append(piece)
                wanted -= len(piece)
        return b"".join(out)

    def _next_member(self) -> bool:
        """After a member ends: the next member (concatenated gzip, multi-stream bzip2/xz), the
        end, or trailing junk."""
        assert self._member is not None
        rest = self._member.unused_data
        while len(rest) < 6:
            more = self._raw_read(RAW_BLOCK)
            if not more:
                break
            rest += more
        if codec_of(rest) == self.codec:
            self._member = _Member(self.codec)  # type: ignore[arg-type]
            self._pending = rest
            return True
        while rest and not rest.strip(b"\x00"):  # zero padding after the last member is allowed
            rest = self._raw_read(RAW_BLOCK)
        if rest:
            self._fail(f"data after the end of the {self.codec} stream is not {self.codec}")
        self._done = True
        return False

    def _read_zstd(self, size: int) -> bytes:
        """Read in small pieces: Arrow's stream raises on a truncated frame and drops what that
        one read had decompressed, so a cut file loses at most a piece of its good prefix."""
        out: list[bytes] = []
        wanted = size
        while wanted > 0:
            try:
                piece = self._zstd.read(min(wanted, _ZSTD_PIECE))
            except InputError:
                raise
            except Exception as exc:  # corrupt or truncated frames
                if isinstance(exc.__context__, InputError):  # the raw read failed under Arrow
                    raise exc.__context__ from None
                self._fail(f"zstd data is corrupt or truncated: {exc}")
                break
            if not piece:
                self._done = True
                break
            out.append(piece)
            wanted -= len(piece)
        return b"".join(out)

    def _fail(self, reason: str) -> None:
        self.error = self.error or reason  # the first cause (a damaged member, then "truncated")
        self._done = True


class _RawReader:
    """The raw bytes not yet consumed, as a file for Arrow's zstd stream (the first bytes were
    peeked already); a failing read still becomes InputError."""

    def __init__(self, stream: LogicalStream) -> None:
        self._stream = stream
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        stream = self._stream
        if stream._pending:
            data, stream._pending = stream._pending[:size], stream._pending[size:]
            return data
        return stream._raw_read(size if size > 0 else RAW_BLOCK)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def _open_zstd(stream: LogicalStream) -> Any:
    import pyarrow as pa  # zstd is not in Python's standard library before 3.14; Arrow has it

    return pa.CompressedInputStream(pa.PythonFile(_RawReader(stream), mode="r"), "zstd")


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
