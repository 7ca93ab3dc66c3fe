"""Write tables to the lake: `<root>/<database>/<table>/year=YYYY/month=MM/day=DD/hour=HH/<name>.parquet`.

Partitions come from the UTC event time (`p_event_time`; rows without one use `p_parse_time`).
File names are a digest of the rows' `p_row_id`s, so writing the same rows again replaces the
same file instead of adding a copy: ingesting an object twice never duplicates rows.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from detectors.schema import table_path

COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1  # most of zstd's size gain at a fraction of level 3's CPU
# Columns whose values come from a short list (operations, error codes, TLS versions, regions,
# the rule id) get dictionary pages and are stored without compression: a page of their dictionary
# indices is a few hundred bytes of RLE that zstd cannot shrink, and each compressed column chunk
# costs zstd a fresh context (~20 us). Measured on the bench lake: Parquet writing -9% (logs) to
# -12% (rule matches) CPU for +0.3% bytes.
UNCOMPRESSED_COLUMNS = frozenset({
    "bucketowner", "bucket", "operation", "errorcode", "signatureversion", "ciphersuite",
    "authenticationtype", "tlsVersion", "aclrequired", "sourceregion", "eventVersion", "eventSource",
    "eventName", "awsRegion", "eventType", "apiVersion", "recipientAccountId", "eventCategory",
    "p_log_type", "p_source", "p_rule_id", "p_rule_severity", "p_account_id", "p_region",
})
# Columns with few distinct values get dictionary pages; ids, times and free text do not (building
# a dictionary for unique values costs time and then falls back to plain anyway). Those beyond the
# short lists above (user agents, referrers, host headers, principals) stay compressed.
DICTIONARY_COLUMNS = UNCOMPRESSED_COLUMNS | {
    "requester", "referrer", "useragent", "hostheader", "accesspointarn", "userAgent", "errorCode",
    "vpcEndpointId",
    # lists of the few principals' ARNs and accounts: -2.5% bytes on the bench lakes
    "p_any_aws_arns", "p_any_aws_account_ids",
}
# Rule-match files (schemas with `p_alert_id`) hold the matched rows of a few alerts per hour, so
# their principals, user agents and hosts repeat even more than in the logs: every dictionary
# column is stored uncompressed there (its pages are RLE of a few codes), and the alert's own
# columns get dictionaries (times and tags uncompressed; alert ids, 32 hex characters, still
# zstd). Measured on the bench's rule-match files: -11% CPU for writing them, +1.8% bytes (busy
# traffic) and +0.2% (attack traffic).
RULE_MATCH_UNCOMPRESSED = DICTIONARY_COLUMNS | {"p_alert_creation_time", "p_alert_update_time", "p_rule_tags"}
RULE_MATCH_DICTIONARY = RULE_MATCH_UNCOMPRESSED | {"p_alert_id"}
# Min/max statistics where queries filter (time ranges, status, names); not on long free text.
STATISTICS_COLUMNS = frozenset({
    "time", "eventTime", "p_event_time", "p_parse_time", "httpstatus", "bucket", "operation", "errorcode",
    "eventName", "eventSource", "p_rule_id", "p_alert_creation_time",
})


def partition_keys(table: pa.Table, time_column: str = "p_event_time") -> np.ndarray:
    """Per row, its hour partition as the integer YYYYMMDDHH (UTC)."""
    times = table[time_column]
    if time_column != "p_parse_time" and "p_parse_time" in table.column_names and times.null_count:
        times = pc.coalesce(times, table["p_parse_time"])
    if times.null_count:
        raise ValueError(f"rows without {time_column}: cannot choose a partition")
    # Whole hours and days since the epoch; the civil date of each day in the (short) range once.
    hours = np.floor_divide(_epoch_units(times), _UNITS_PER_HOUR[times.type.unit])
    days = np.floor_divide(hours, 24)
    first = int(days.min()) if len(days) else 0
    span = np.arange(first, int(days.max()) + 1 if len(days) else first, dtype=np.int32)
    dates = pa.array(span, pa.date32())
    year, month, day = (np.asarray(p.to_numpy(), dtype=np.int64) for p in (pc.year(dates), pc.month(dates), pc.day(dates)))
    day_keys = year * 1_000_000 + month * 10_000 + day * 100
    return day_keys[days - first] + (hours - days * 24)


_UNITS_PER_HOUR = {"s": 3600, "ms": 3_600_000, "us": 3_600_000_000, "ns": 3_600_000_000_000}


def _epoch_units(times: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(times, pa.ChunkedArray):
        times = times.combine_chunks() if times.num_chunks != 1 else times.chunk(0)
    return times.cast(pa.int64()).to_numpy()


MIN_SLICE_ROWS = 512  # shorter runs are gathered: many tiny slices make the Parquet writer slower


def partition_tables(table: pa.Table, time_column: str = "p_event_time",
                     keys: np.ndarray | None = None) -> Iterator[tuple[str, pa.Table]]:
    """(relative partition path, rows) per hour of event time, in time order, rows in input order.

    Delivered logs are nearly in time order: a partition's rows are long runs of consecutive rows
    (zero-copy slices) plus a few stragglers around hour boundaries (gathered with one take per
    gap). Input in no time order (an archive of many days) is sorted by partition once (one
    stable argsort and one take) and sliced."""
    keys = partition_keys(table, time_column) if keys is None else keys
    if not len(keys):
        return
    run_starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    if len(run_starts) * 64 > len(keys):
        yield from _sorted_partitions(table, keys)
        return
    run_ends = np.append(run_starts[1:], len(keys))
    run_keys = keys[run_starts]
    for key in np.unique(run_keys).tolist():
        mine = np.flatnonzero(run_keys == key)
        yield partition_path(key), _runs_table(table, run_starts[mine].tolist(), run_ends[mine].tolist())


def _runs_table(table: pa.Table, starts: list[int], ends: list[int]) -> pa.Table:
    """The rows of these runs (ascending, disjoint) as slices and takes, in order."""
    pieces: list[pa.Table] = []
    gathered: list[np.ndarray] = []
    for start, end in zip(starts, ends, strict=True):
        if end - start < MIN_SLICE_ROWS:
            gathered.append(np.arange(start, end, dtype=np.int64))
            continue
        if gathered:
            pieces.append(_take_rows(table, np.concatenate(gathered)))
            gathered = []
        pieces.append(table.slice(start, end - start))
    if gathered:
        pieces.append(_take_rows(table, np.concatenate(gathered)))
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)


def _take_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """Rows (ascending) of a table, taken chunk by chunk: a take on a table of many chunks would
    first join each column's chunks into one array (a copy of everything for a few rows)."""
    batches = table.to_batches()
    if len(batches) <= 1:
        return table.take(pa.array(rows.astype(np.int32)))
    bounds = np.cumsum([0, *(b.num_rows for b in batches)])
    first, last = np.searchsorted(bounds, [rows[0], rows[-1]], side="right") - 1
    taken = []
    for number in range(int(first), int(last) + 1):
        lo, hi = np.searchsorted(rows, bounds[number : number + 2])
        if hi > lo:
            taken.append(batches[number].take(pa.array((rows[lo:hi] - bounds[number]).astype(np.int32))))
    return pa.Table.from_batches(taken, schema=table.schema)


def _sorted_partitions(table: pa.Table, keys: np.ndarray) -> Iterator[tuple[str, pa.Table]]:
    """Rows ordered by partition (stable: input order within one) with one take, then sliced."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    boundaries = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    starts = np.concatenate(([0], boundaries)).tolist()
    ends = np.concatenate((boundaries, [len(keys)])).tolist()
    # Taken column by column from the chunks: memory holds the rows twice, not three times.
    ordered = table.take(pa.array(order.astype(np.int32)))
    for start, end in zip(starts, ends, strict=True):
        yield partition_path(int(sorted_keys[start])), ordered.slice(start, end - start)


def partition_path(key: int) -> str:
    year, rest = divmod(key, 1_000_000)
    month, rest = divmod(rest, 10_000)
    day, hour = divmod(rest, 100)
    return f"year={year:04d}/month={month:02d}/day={day:02d}/hour={hour:02d}"


def row_ids_digest(rows: pa.Table, size: int = 12) -> str:
    """Digest of the rows' p_row_ids in order (hex): the identity of a set of rows."""
    digest = hashlib.blake2b(digest_size=size)
    ids = rows["p_row_id"].combine_chunks().cast(pa.string())
    _, offsets_buffer, data_buffer = ids.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[ids.offset: ids.offset + len(ids) + 1]
    digest.update(offsets - offsets[0])
    if data_buffer is not None:
        digest.update(memoryview(data_buffer)[offsets[0]: offsets[-1]])
    return digest.hexdigest()


def file_name(rows: pa.Table) -> str:
    """Deterministic name: the same rows always give the same file."""
    if "p_row_id" in rows.column_names:
        return f"part-{row_ids_digest(rows)}.parquet"
    digest = hashlib.blake2b(digest_size=12)
    sink = io.BytesIO()
    pq.write_table(rows, sink)
    digest.update(sink.getvalue())
    return f"part-{digest.hexdigest()}.parquet"


# Files this small (the few lines of a delivered object past an hour boundary: about half of the
# files of S3's delivery shape) are compressed with Snappy: zstd's fixed cost per column chunk
# (~0.6 ms a file, half of such a file's write) buys them almost nothing (10 rows: 11.8 KB with
# zstd, 12.0 KB with Snappy; 50 rows: 16.1 vs 18.6 KB). Every Parquet reader reads both. They
# get no dictionary pages either: a dictionary of a dozen values is a page more per column, not a
# saving (the bench's 240 such files: -10% write CPU, -4% bytes).
SMALL_FILE_ROWS = 100


def _parquet_options(schema: pa.Schema, rows: int | None = None) -> dict[str, Any]:
    """The lake's encoding choices; `rows`: the file's row count when known (small files: Snappy)."""
    dictionary, statistics, codecs, levels = _column_choices(schema)
    # No serialized Arrow schema in each file's metadata (~3 KB and ~0.1 ms a file): the lake's
    # types read back the same from the Parquet schema alone (tests/ingest/test_object_buffer.py).
    options: dict[str, Any] = {"use_dictionary": dictionary, "write_statistics": statistics, "store_schema": False}
    if rows is not None and rows < SMALL_FILE_ROWS:
        return {**options, "compression": "snappy", "use_dictionary": False}
    return {**options, "compression": codecs, "compression_level": levels}


@functools.lru_cache(maxsize=32)
def _column_choices(schema: pa.Schema) -> tuple[list[str], list[str], dict[str, str], dict[str, int]]:
    """Once per schema: dictionary leaves, statistics columns, and codec and level per leaf, keyed
    by leaf path as the Parquet writer matches them (a list's values are `<name>.list.element`; a
    leaf left out of the codecs would not be compressed at all)."""
    leaves = dict(_leaf_paths(schema))
    dictionary_columns, uncompressed_columns = column_sets(schema)
    dictionary = [path for path, top in leaves.items() if top in dictionary_columns]
    statistics = [name for name in schema.names if name in STATISTICS_COLUMNS]
    codecs = {path: "none" if top in uncompressed_columns else COMPRESSION for path, top in leaves.items()}
    levels = {path: COMPRESSION_LEVEL for path, codec in codecs.items() if codec != "none"}
    return dictionary, statistics, codecs, levels


def column_sets(schema: pa.Schema) -> tuple[frozenset[str], frozenset[str]]:
    """(dictionary columns, uncompressed columns) for a table's schema: a rule-match table's, or
    the logs' (and every other table's)."""
    if "p_alert_id" in schema.names:
        return RULE_MATCH_DICTIONARY, RULE_MATCH_UNCOMPRESSED
    return DICTIONARY_COLUMNS, UNCOMPRESSED_COLUMNS


def _leaf_paths(schema: pa.Schema) -> Iterator[tuple[str, str]]:
    """(Parquet leaf path, its top-level column) per leaf column, as Arrow names nested leaves."""
    def walk(path: str, kind: pa.DataType) -> Iterator[str]:
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            yield from walk(f"{path}.list.element", kind.value_type)
        elif pa.types.is_map(kind):
            yield from walk(f"{path}.key_value.key", kind.key_type)
            yield from walk(f"{path}.key_value.value", kind.item_type)
        elif pa.types.is_struct(kind):
            for child in kind:
                yield from walk(f"{path}.{child.name}", child.type)
        else:
            yield path

    for column in schema:
        for path in walk(column.name, column.type):
            yield path, column.name


# Files are written through a buffer this large: Parquet writes each page as it is encoded, and
# a system call per page costs ~0.2 ms a file (-8% of the lake's Parquet writing, measured).
WRITE_BUFFER_BYTES = 1 << 20


def _output(where: Any) -> Any:
    """A buffered stream for a path; a stream as given."""
    return pa.output_stream(str(where), buffer_size=WRITE_BUFFER_BYTES) if isinstance(where, str | os.PathLike) else where


def write_parquet(rows: pa.Table, where: Any) -> None:
    """One Parquet file (path or writable stream) with the lake's encoding choices."""
    sink = _output(where)
    try:
        pq.write_table(rows, sink, **_parquet_options(rows.schema, rows.num_rows))
    finally:
        if sink is not where:
            sink.close()


def _parquet_bytes(rows: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    write_parquet(rows, sink)
    return sink.getvalue().to_pybytes()


# A partition's rows given as pieces (an object's rows spilled in several parts) are written in
# row groups of about ROW_GROUP_ROWS rows, and in files of about FILE_ROWS rows at most, so that
# memory holds one row group and one file's row ids, however large the partition.
ROW_GROUP_ROWS = 100_000
FILE_ROWS = 1_000_000


class PieceFile:
    """One Parquet file written from pieces (tables with p_row_id) as they come; its name, the
    digest of its rows' ids like `file_name`, is known when it is closed."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._stream: Any = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._ids: list[pa.ChunkedArray] = []

    def add(self, rows: pa.Table) -> None:
        self._pending.append(rows)
        self._pending_rows += rows.num_rows
        self.rows += rows.num_rows
        self._ids.append(rows["p_row_id"])
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._write_group()

    def _write_group(self) -> None:
        if not self._pending:
            return
        group = self._pending[0] if len(self._pending) == 1 else pa.concat_tables(self._pending)
        if self._writer is None:
            self._stream = _output(self.sink)
            self._writer = pq.ParquetWriter(self._stream, group.schema, **_parquet_options(group.schema))
        self._writer.write_table(group, row_group_size=max(group.num_rows, 1))
        self._pending, self._pending_rows = [], 0

    def close(self) -> str:
        """Finish the file; returns its name."""
        self._write_group()
        if self._writer is not None:
            self._writer.close()
        if self._stream is not None and self._stream is not self.sink:
            self._stream.close()
        ids = pa.table({"p_row_id": pa.chunked_array([c for ids in self._ids for c in ids.chunks], pa.string())})
        return f"part-{row_ids_digest(ids)}.parquet"


def write_pieces(pieces: Iterable[pa.Table], new_file: Callable[[], PieceFile],
                 finish: Callable[[PieceFile], None]) -> None:
    """Pieces into files of about FILE_ROWS rows at most, each piece read only when it is written."""
    current: PieceFile | None = None
    for piece in pieces:
        if current is not None and current.rows + piece.num_rows > FILE_ROWS:
            finish(current)
            current = None
        if current is None:
            current = new_file()
        current.add(piece)
    if current is not None:
        finish(current)


class LakeWriter:
    """A lake in a local folder."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.files_written = 0
        self.last_written = ""  # path of the last file in the lake, relative to the root
        self.last_rows = 0

    def write(self, database: str, table: str, data: pa.Table, time_column: str = "p_event_time") -> None:
        if data.num_rows == 0:
            return
        for partition, rows in partition_tables(data, time_column):
            self.write_partition(database, table, partition, rows)

    def write_partition(self, database: str, table: str, partition: str, rows: pa.Table | Iterable[pa.Table]) -> None:
        """Rows already known to belong to one partition (`year=.../month=.../day=.../hour=...`):
        a table (one file), or pieces of tables with p_row_id, read as they are written."""
        folder = f"{table_path(database, table)}/{partition}"
        if isinstance(rows, pa.Table):
            name = file_name(rows)
            temporary = self._temporary(folder, f".{name}.{os.getpid()}.tmp")
            write_parquet(rows, temporary)
            self._place(folder, name, rows.num_rows, temporary)
            return

        def new_file() -> PieceFile:
            return PieceFile(str(self._temporary(folder, f".part-{os.getpid()}-{self.files_written}.tmp")))

        def finish(done: PieceFile) -> None:
            self._place(folder, done.close(), done.rows, Path(done.sink))

        write_pieces(rows, new_file, finish)

    def _temporary(self, folder: str, name: str) -> Path:
        """Where a file is written before it has its place: beside it (a rename within a folder)."""
        where = self.root / folder
        where.mkdir(parents=True, exist_ok=True)
        return where / name

    def _place(self, folder: str, name: str, rows: int, temporary: Path) -> None:
        """Move the written file to its name: atomic, readers never see half a file."""
        target = self._target(folder, name)
        if target != temporary:
            os.replace(temporary, target)
        self.files_written += 1
        self.last_written = f"{folder}/{name}"
        self.last_rows = rows
        self.on_written()

    def _target(self, folder: str, name: str) -> Path:
        return self.root / folder / name

    def on_written(self) -> None:
        """Called after each file (subclasses record what was written)."""


class S3LakeWriter:
    """The same layout and names under s3://bucket/<prefix>/ (the processed bucket in AWS)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.keys_written: list[str] = []

    def write(self, database: str, table: str, data: pa.Table, time_column: str = "p_event_time") -> None:
        if data.num_rows == 0:
            return
        for partition, rows in partition_tables(data, time_column):
            self.write_partition(database, table, partition, rows)

    def write_partition(self, database: str, table: str, partition: str, rows: pa.Table | Iterable[pa.Table]) -> None:
        base = "/".join(p for p in (self.prefix, table_path(database, table)) if p)
        if isinstance(rows, pa.Table):
            self._put(f"{base}/{partition}/{file_name(rows)}", _parquet_bytes(rows))
            return

        def finish(done: PieceFile) -> None:
            name = done.close()
            self._put(f"{base}/{partition}/{name}", done.sink.getvalue().to_pybytes())

        write_pieces(rows, lambda: PieceFile(pa.BufferOutputStream()), finish)

    def _put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet")
        self.keys_written.append(key)
