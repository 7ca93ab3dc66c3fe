"""Zip and tar archives on this machine, read file by file (backfills come as archives).

Each regular file in an archive is an input of its own (`InputObject` of kind "member", named
`<archive>!/<member name>`): it is sniffed, parsed, quarantined and recorded in the lake's
manifest on its own, so its key path still names its log type, account and region. A zip member
is opened where it is (the central directory says where). A tar, compressed or not, can only be
read from its start: members are read through one forward cursor per archive and process, so
reading them in order reads the archive once (`detectors.sources.expand_inputs` lists them in
order; out of order is correct, only slower). An uncompressed tar is listed by seeking over the
members' data. A compressed tar is listed by the cursor's own pass, which stands on each member
as it is listed: a caller that reads each member before taking the next (`bucketwatch ingest`)
decompresses it once; one that lists everything first (several workers) twice.

An archive that cannot be listed to its end (cut short, corrupt) gives the members listed before
the damage and one more input, "(unlisted part)", whose content is one quarantine entry with the
reason; it is recorded like any input, so it is read again when the archive changes (a copy that
was still being written), not on every run.
"""

from __future__ import annotations

import lzma
import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from detectors.content import ContentError, InputError, LogicalStream, codec_of
from detectors.sources import InputObject, is_hidden

SEPARATOR = "!/"  # <archive path>!/<member name>, as jar: URLs name a file inside an archive


@dataclass(frozen=True)
class ArchiveMember:
    archive: str     # the archive's path
    format: str      # "zip" | "tar"
    name: str        # the member's name in the archive ("" for the part that could not be listed)
    index: int       # tar: its position among the archive's entries (read in this order)
    problem: str | None = None  # set for the part that could not be listed


def archive_format(path: str) -> str | None:
    """"zip" or "tar" (tar compressed with gzip, bzip2, xz or zstd too) by content, else None."""
    try:
        with open(path, "rb") as raw:
            return _expandable(LogicalStream(raw, path).archive)
    except (OSError, InputError):
        return None  # unreadable: reading it as a file reports why


def _expandable(kind: str | None) -> str | None:
    return kind if kind in ("zip", "tar") else None


def members(path: str, format_: str) -> Iterator[InputObject]:
    """The archive's regular files in archive order, then, if it cannot be listed to its end, an
    input for the rest whose content is the reason (`UnlistedPart`)."""
    listed = _zip_members(path) if format_ == "zip" else _tar_members(path)
    seen: dict[str, int] = {}
    try:
        for member, size in listed:
            seen[member.name] = seen.get(member.name, 0) + 1
            yield _input(member, size, seen[member.name])
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, InputError) as exc:
        reason = f"the {format_} archive cannot be read to its end: {_describe(exc)}"
        yield _input(ArchiveMember(path, format_, "", -1, reason), _size(path))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__} (the data ends early)"


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _input(member: ArchiveMember, size: int | None, occurrence: int = 1) -> InputObject:
    """Named after the member; a name the archive repeats (tar and zip allow it) gets `#<n>` from
    its second occurrence on, so each is an input, and a manifest record, of its own."""
    name = member.name.removeprefix("./") if member.name else "(unlisted part)"
    if occurrence > 1:
        name = f"{name}#{occurrence}"
    return InputObject("member", f"{member.archive}{SEPARATOR}{name}", size, member=member)


def _zip_members(path: str) -> Iterator[tuple[ArchiveMember, int]]:
    with zipfile.ZipFile(path) as archive:
        for index, info in enumerate(archive.infolist()):
            if not info.is_dir() and not is_hidden(info.filename):
                yield ArchiveMember(path, "zip", info.filename, index), info.file_size


def _tar_members(path: str) -> Iterator[tuple[ArchiveMember, int]]:
    """An uncompressed tar is listed with seeks over the members' data; a compressed one in a pass
    of its cursor (`_TarCursor.walk`), which stands on each member while it is listed: read then,
    it is read in that same pass. The same entries, in the same order, either way."""
    with open(path, "rb") as raw:
        compressed = codec_of(raw.read(6)) is not None
    if compressed:
        entries: Iterator[tuple[int, tarfile.TarInfo]] = _cursor(path).walk()
    else:
        entries = _seek_list(path)
    for index, info in entries:
        if info.isfile() and not is_hidden(info.name.removeprefix("./")):
            yield ArchiveMember(path, "tar", info.name, index), info.size


def _seek_list(path: str) -> Iterator[tuple[int, tarfile.TarInfo]]:
    with tarfile.open(path, "r:") as archive:
        yield from enumerate(archive)


class UnlistedPart:
    """The part of an archive that could not be listed, as a stream whose content is damaged from
    its first byte: ContentError with the reason, which LogicalStream makes the input's one
    quarantine entry, as for a damaged member (the input is recorded as read, and read again when
    the archive changes)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def read(self, size: int = -1) -> bytes:
        raise ContentError(self.problem)

    def close(self) -> None:
        """Nothing is open."""


def open_member(member: ArchiveMember) -> IO[bytes] | UnlistedPart:
    """A member's bytes as a stream (InputError when it cannot be had)."""
    if member.problem:
        return UnlistedPart(member.problem)
    try:
        if member.format == "zip":
            with zipfile.ZipFile(member.archive) as archive:  # the member keeps the file open
                info = archive.infolist()[member.index]  # by position: a zip may repeat a name
                if info.filename != member.name:
                    raise _changed(member)
                stream = archive.open(info)
        else:
            stream = _cursor(member.archive).open(member)
        return _Checked(stream, f"{member.name} in the {member.format} archive")  # type: ignore[return-value]
    except (OSError, EOFError, IndexError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise InputError(f"cannot read {member.name} in {member.archive}: {_describe(exc)}") from None


def _changed(member: ArchiveMember) -> InputError:
    return InputError(f"{member.archive} changed while it was read: {member.name} is no longer entry "
                      f"{member.index} (read the archive again)")


# What a damaged member raises while it is read (its own decompression, tar's, zip's CRC check).
_DAMAGE = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError)


class _Checked:
    """A member's stream whose damage ends its content (ContentError: the good part is kept and
    the rest quarantined, as for a cut gzip file) instead of failing the input."""

    def __init__(self, stream: IO[bytes], where: str) -> None:
        self._stream = stream
        self._where = where

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except _DAMAGE as exc:
            raise ContentError(f"{self._where} is damaged or cut short: {_describe(exc)}") from None

    def close(self) -> None:
        self._stream.close()


class _TarCursor:
    """One pass over a tar archive: members are handed out in archive order; asking for an
    earlier one starts a new pass."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.archive: Any = None
        self.position = -1
        self.walking: tuple[Any, int, tarfile.TarInfo] | None = None  # the listing pass, on an entry

    def walk(self) -> Iterator[tuple[int, tarfile.TarInfo]]:
        """Every entry in archive order, from a pass of its own that stands on each entry while it
        is yielded: the entry opened then is read from that pass."""
        with tarfile.open(self.path, "r|*") as archive:
            for index, info in enumerate(archive):
                self.walking = (archive, index, info)
                try:
                    yield index, info
                finally:
                    self.walking = None

    def open(self, member: ArchiveMember) -> IO[bytes]:
        if self.walking is not None:
            archive, index, info = self.walking
            if index == member.index and info.name == member.name:
                stream = archive.extractfile(info)
                if stream is not None:
                    return stream
        if self.archive is None or member.index <= self.position:
            self.close()
            self.archive = tarfile.open(self.path, "r|*")  # noqa: SIM115 - open across calls, closed by close()
        info = None
        while self.position < member.index:
            info = self.archive.next()
            self.position += 1
            if info is None:
                break
        if info is None or info.name != member.name:
            self.close()
            raise _changed(member)
        stream = self.archive.extractfile(info)
        if stream is None:
            raise InputError(f"{member.name} in {self.path} is not a regular file")
        return stream

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()
        self.archive, self.position = None, -1


_CURSORS: dict[str, _TarCursor] = {}


def _cursor(path: str) -> _TarCursor:
    return _CURSORS.setdefault(os.path.abspath(path), _TarCursor(path))


def close_cursors() -> None:
    """Close the archives read so far (the end of a run)."""
    for cursor in _CURSORS.values():
        cursor.close()
    _CURSORS.clear()
