"""The local lake's manifest: what each input became, so re-runs are exactly-once.

`<lake>/_state/manifest.sqlite` holds, per source (file path as bytes, S3 URL):
- what was seen: size, mtime (files) or ETag (S3), the log type and the limits it was read with;
- how far it was read: bytes and lines done, whether the text ended with a newline, and the
  content digests of the segments read so far (a grown file is resumed only if its processed
  prefix still has those digests);
- the lake files it produced (shared ownership: a byte-identical copy of a file under another
  name produces the same file names, owned by both; a file is deleted only when no source owns it).

Commits are atomic per source: its Parquet and quarantine files are written to the run's staging
folder `<lake>/_state/staging/<run>/`, named after the source (`<n>-...`), then one SQLite
transaction records the new manifest row, the file ownership and the list of moves and deletions;
then the files are moved into place (`os.replace`, atomic per file), obsolete ones deleted and the
source's staged files that were not needed (rows already in the lake) removed. A run killed before
the transaction leaves only staging (deleted by the next run); one killed after it is rolled
forward by the next run. One process writes a lake at a time (`<lake>/_state/lock`).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.common.errors import UserError

STATE_DIR = "_state"
QUARANTINE_DIR = "_quarantine"
MANIFEST_VERSION = 1
_TMP_SUFFIX = ".tmp"


@dataclass
class Segment:
    start: int
    end: int
    first_line: int
    digest: str

    def to_json(self) -> list[Any]:
        return [self.start, self.end, self.first_line, self.digest]


@dataclass
class SourceRecord:
    """One source's row of the manifest."""
    id: str
    kind: str
    name: str
    size: int | None = None
    mtime_ns: int | None = None
    etag: str | None = None
    log_type: str | None = None
    limits: str = ""
    bytes_done: int = 0
    lines_done: int = 0
    ends_newline: bool = False
    complete: bool = True
    segments: list[Segment] = field(default_factory=list)
    records_in: int = 0
    rows: int = 0
    quarantined: int = 0


@dataclass
class StagedFile:
    path: str      # where it goes, relative to the lake root
    rows: int      # rows (Parquet) or entries (quarantine)
    quarantine: bool = False
    staged_as: str | None = None  # its path inside the staging folder, when not `path`

    @property
    def move(self) -> list[str]:
        return [self.staged_as or self.path, self.path]


@dataclass
class CommitResult:
    rows_written: int = 0
    duplicates: int = 0           # rows of files already in the lake (another source's, or this one's)
    duplicate_of: set[str] = field(default_factory=set)  # names of the sources that already had them
    quarantine_written: int = 0
    files_moved: int = 0
    files_deleted: int = 0


def source_id(kind: str, key: bytes) -> str:
    return hashlib.sha256(kind.encode() + b"\0" + key).hexdigest()[:32]


class Manifest:
    """The lake's manifest and its commit protocol (module docstring). Use as a context manager:
    it takes the lake's lock and recovers what an earlier killed run left behind."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.state = self.root / STATE_DIR
        self.staging_root = self.state / "staging"
        self.run_id = f"{os.getpid()}-{time.time_ns()}"
        self._lock_file: Any = None
        self.db: sqlite3.Connection | None = None
        self.recovered = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Manifest:
        self.state.mkdir(parents=True, exist_ok=True)
        self._lock()
        self.db = sqlite3.connect(str(self.state / "manifest.sqlite"), timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._create()
        self.recovered = self._recover()
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.staging_root / self.run_id, ignore_errors=True)
        if self.db is not None:
            self.db.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def _lock(self) -> None:
        import fcntl

        self._lock_file = open(self.state / "lock", "a+")  # noqa: SIM115 - held for the whole run
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            self._lock_file = None
            raise UserError(f"the lake {self.root} is being written by another bucketwatch process; "
                            "run again when it has finished") from None

    def _create(self) -> None:
        assert self.db is not None
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS sources (
                id TEXT PRIMARY KEY, kind TEXT, name TEXT, size INTEGER, mtime_ns INTEGER, etag TEXT,
                log_type TEXT, limits TEXT, bytes_done INTEGER, lines_done INTEGER, ends_newline INTEGER,
                complete INTEGER, segments TEXT, records_in INTEGER, rows INTEGER, quarantined INTEGER,
                updated REAL);
            CREATE TABLE IF NOT EXISTS files (path TEXT, source TEXT, rows INTEGER, PRIMARY KEY (path, source));
            CREATE INDEX IF NOT EXISTS files_by_source ON files (source);
            CREATE TABLE IF NOT EXISTS commits (source TEXT PRIMARY KEY, staging TEXT, moves TEXT, deletes TEXT);
        """)

    # -- recovery ------------------------------------------------------------------------------
    def _recover(self) -> int:
        """Roll interrupted commits forward, drop uncommitted staging, and (once, or after a run
        that wrote outside staging was killed) remove half-written `.tmp` files from the tables."""
        assert self.db is not None
        pending = self.db.execute("SELECT source, staging, moves, deletes FROM commits").fetchall()
        for source, staging, moves, deletes in pending:
            self._apply(Path(staging), json.loads(moves), json.loads(deletes))
            self.db.execute("DELETE FROM commits WHERE source = ?", (source,))
        if self.staging_root.is_dir():
            for leftover in self.staging_root.iterdir():
                shutil.rmtree(leftover, ignore_errors=True)
        swept = self._get_meta("swept_version")
        if swept != str(MANIFEST_VERSION) or self._get_meta("dirty") == "1":
            self._sweep_tmp()
            self._set_meta("swept_version", str(MANIFEST_VERSION))
            self._set_meta("dirty", "0")
        return len(pending)

    def _sweep_tmp(self) -> None:
        for folder, _, names in os.walk(self.root):
            if Path(folder).is_relative_to(self.state):
                continue
            for name in names:
                if name.startswith(".") and name.endswith(_TMP_SUFFIX):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(folder, name))

    def writing_outside_staging(self) -> contextlib.AbstractContextManager[None]:
        """Mark the lake dirty while files are written straight into it (rule matches): a run
        killed meanwhile makes the next run sweep `.tmp` leftovers."""

        @contextlib.contextmanager
        def dirty() -> Iterator[None]:
            self._set_meta("dirty", "1")
            yield
            self._set_meta("dirty", "0")

        return dirty()

    def _get_meta(self, key: str) -> str | None:
        assert self.db is not None
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        assert self.db is not None
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- reading -------------------------------------------------------------------------------
    def get(self, sid: str) -> SourceRecord | None:
        assert self.db is not None
        row = self.db.execute(
            "SELECT id, kind, name, size, mtime_ns, etag, log_type, limits, bytes_done, lines_done, ends_newline, "
            "complete, segments, records_in, rows, quarantined FROM sources WHERE id = ?", (sid,)).fetchone()
        if row is None:
            return None
        return SourceRecord(
            id=row[0], kind=row[1], name=row[2], size=row[3], mtime_ns=row[4], etag=row[5], log_type=row[6],
            limits=row[7], bytes_done=row[8], lines_done=row[9], ends_newline=bool(row[10]), complete=bool(row[11]),
            segments=[Segment(*s) for s in json.loads(row[12] or "[]")], records_in=row[13], rows=row[14],
            quarantined=row[15])

    def files_of(self, sid: str) -> dict[str, int]:
        assert self.db is not None
        return dict(self.db.execute("SELECT path, rows FROM files WHERE source = ?", (sid,)).fetchall())

    def owners(self, path: str) -> list[str]:
        assert self.db is not None
        return [r[0] for r in self.db.execute(
            "SELECT s.name FROM files f LEFT JOIN sources s ON s.id = f.source WHERE f.path = ?", (path,)).fetchall()
            if r[0] is not None]

    # -- committing ----------------------------------------------------------------------------
    def commit(self, record: SourceRecord | None, sid: str, staged: list[StagedFile], keep_previous: bool,
               staging: Path) -> CommitResult:
        """Make a source's staged files its lake output, atomically (module docstring).
        `record` None: the source is not recorded as read (it failed; the next run reads it again).
        `keep_previous`: its earlier files stay (a resumed file adds to them), else they are replaced."""
        assert self.db is not None
        result = CommitResult()
        previous = self.files_of(sid)
        owned: dict[str, int] = dict(previous) if keep_previous else {}
        moves: list[list[str]] = []
        for item in staged:
            target = self.root / item.path
            if item.quarantine:
                result.quarantine_written += item.rows
                moves.append(item.move)
            elif item.path in previous or target.exists():
                result.duplicates += item.rows  # the same rows (file names are digests of row ids)
                result.duplicate_of.update(n for n in self.owners(item.path) if n != (record.name if record else None))
            else:
                result.rows_written += item.rows
                moves.append(item.move)
            owned[item.path] = item.rows
        dropped = [p for p in previous if p not in owned]
        with self._transaction():
            self.db.execute("DELETE FROM files WHERE source = ?", (sid,))
            self.db.executemany("INSERT INTO files (path, source, rows) VALUES (?, ?, ?)",
                                [(p, sid, n) for p, n in owned.items()])
            deletes = [p for p in dropped
                       if not self.db.execute("SELECT 1 FROM files WHERE path = ? LIMIT 1", (p,)).fetchone()]
            if record is not None:
                self._save(record)
            else:
                self.db.execute("DELETE FROM sources WHERE id = ?", (sid,))
            self.db.execute("INSERT OR REPLACE INTO commits (source, staging, moves, deletes) VALUES (?, ?, ?, ?)",
                            (sid, str(staging), json.dumps(moves), json.dumps(deletes)))
        result.files_moved, result.files_deleted = len(moves), len(deletes)
        self._apply(staging, moves, deletes)
        moved = {staged_as for staged_as, _ in moves}
        for item in staged:  # rows already in the lake: their staged copy is not needed
            if item.move[0] not in moved:
                with contextlib.suppress(FileNotFoundError):
                    (staging / item.move[0]).unlink()
        self.db.execute("DELETE FROM commits WHERE source = ?", (sid,))
        return result

    @staticmethod
    def discard(staging: Path, prefix: str) -> None:
        """Remove what a source staged (files and spill folder named `<prefix>...`)."""
        for path in staging.glob(f"{glob.escape(prefix)}*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        assert self.db is not None
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _save(self, record: SourceRecord) -> None:
        assert self.db is not None
        self.db.execute(
            "INSERT OR REPLACE INTO sources (id, kind, name, size, mtime_ns, etag, log_type, limits, bytes_done, "
            "lines_done, ends_newline, complete, segments, records_in, rows, quarantined, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.id, record.kind, record.name, record.size, record.mtime_ns, record.etag, record.log_type,
             record.limits, record.bytes_done, record.lines_done, int(record.ends_newline), int(record.complete),
             json.dumps([s.to_json() for s in record.segments]), record.records_in, record.rows,
             record.quarantined, time.time()))

    def _apply(self, staging: Path, moves: list[list[str]], deletes: list[str]) -> None:
        """Move staged files into place and delete obsolete ones; idempotent (roll-forward). The
        staging folder is the run's (other sources' files may be in it): `__exit__` and the next
        run's recovery remove it."""
        for staged_as, path in moves:
            staged, target = staging / staged_as, self.root / path
            try:
                os.replace(staged, target)
            except FileNotFoundError:
                if not staged.exists():
                    continue  # moved already (a roll-forward)
                target.parent.mkdir(parents=True, exist_ok=True)  # a partition's first file
                os.replace(staged, target)
        for path in deletes:
            with contextlib.suppress(FileNotFoundError):
                (self.root / path).unlink()
