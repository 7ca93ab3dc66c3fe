"""Write tables to the lake: `<root>/<database>/<table>/year=YYYY/month=MM/day=DD/hour=HH/<name>.parquet`.

Partitions come from the UTC event time (`p_event_time`; rows without one use `p_parse_time`).
File names are a digest of the rows' `p_row_id`s, so writing the same rows again replaces the
same file instead of adding a copy: ingesting an object twice never duplicates rows.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from detectors.schema import table_path

COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1  # most of zstd's size gain at a fraction of level 3's CPU
# Columns with few distinct values get dictionary pages; ids, times and free text do not (building
# a dictionary for unique values costs time and then falls back to plain anyway).
DICTIONARY_COLUMNS = frozenset({
    "bucketowner", "bucket", "requester", "operation", "errorcode", "referrer", "useragent",
    "signatureversion", "ciphersuite", "authenticationtype", "hostheader", "tlsVersion", "accesspointarn",
    "aclrequired", "sourceregion", "eventVersion", "eventSource", "eventName", "awsRegion",
    "userAgent", "errorCode", "eventType", "apiVersion", "recipientAccountId", "eventCategory",
    "vpcEndpointId", "p_log_type", "p_source", "p_rule_id", "p_rule_severity",
})
# Min/max statistics where queries filter (time ranges, status, names); not on long free text.
STATISTICS_COLUMNS = frozenset({
    "time", "eventTime", "p_event_time", "p_parse_time", "httpstatus", "bucket", "operation", "errorcode",
    "eventName", "eventSource", "p_rule_id", "p_alert_creation_time",
})


def _partition_keys(table: pa.Table, time_column: str) -> np.ndarray:
    times = table[time_column]
    if time_column != "p_parse_time" and "p_parse_time" in table.column_names and times.null_count:
        times = pc.coalesce(times, table["p_parse_time"])
    if times.null_count:
        raise ValueError(f"rows without {time_column}: cannot choose a partition")
    parts = [pc.year(times), pc.month(times), pc.day(times), pc.hour(times)]
    year, month, day, hour = (np.asarray(p.to_numpy(), dtype=np.int64) for p in parts)
    return year * 1_000_000 + month * 10_000 + day * 100 + hour


MIN_SLICE_ROWS = 512  # shorter runs are gathered: many tiny slices make the Parquet writer slower


def partition_tables(table: pa.Table, time_column: str = "p_event_time") -> Iterator[tuple[str, pa.Table]]:
    """(relative partition path, rows) per hour of event time, in time order, rows in input order.

    Delivered logs are nearly in time order: a partition's rows are long runs of consecutive rows
    (zero-copy slices) plus a few stragglers around hour boundaries (gathered with one take per
    gap). Input with many short runs is taken with ascending indices (sequential reads)."""
    keys = _partition_keys(table, time_column)
    if not len(keys):
        return
    run_starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    if len(run_starts) * 64 > len(keys):
        yield from _taken_partitions(table, keys)
        return
    run_ends = np.append(run_starts[1:], len(keys))
    run_keys = keys[run_starts]
    for key in np.unique(run_keys).tolist():
        mine = np.flatnonzero(run_keys == key)
        yield _partition_path(key), _runs_table(table, run_starts[mine].tolist(), run_ends[mine].tolist())


def _runs_table(table: pa.Table, starts: list[int], ends: list[int]) -> pa.Table:
    """The rows of these runs (ascending, disjoint) as slices and takes, in order."""
    pieces: list[pa.Table] = []
    gathered: list[np.ndarray] = []
    for start, end in zip(starts, ends, strict=True):
        if end - start < MIN_SLICE_ROWS:
            gathered.append(np.arange(start, end, dtype=np.int32))
            continue
        if gathered:
            pieces.append(table.take(pa.array(np.concatenate(gathered))))
            gathered = []
        pieces.append(table.slice(start, end - start))
    if gathered:
        pieces.append(table.take(pa.array(np.concatenate(gathered))))
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)


def _taken_partitions(table: pa.Table, keys: np.ndarray) -> Iterator[tuple[str, pa.Table]]:
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    boundaries = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    starts = np.concatenate(([0], boundaries)).tolist()
    ends = np.concatenate((boundaries, [len(keys)])).tolist()
    table = table.combine_chunks()
    for start, end in zip(starts, ends, strict=True):
        yield _partition_path(int(sorted_keys[start])), table.take(pa.array(order[start:end].astype(np.int32)))


def _partition_path(key: int) -> str:
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


def write_parquet(rows: pa.Table, where: Any) -> None:
    """One Parquet file (path or writable stream) with the lake's encoding choices."""
    names = rows.column_names
    pq.write_table(rows, where, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL,
                   use_dictionary=[n for n in names if n in DICTIONARY_COLUMNS],
                   write_statistics=[n for n in names if n in STATISTICS_COLUMNS])


def _parquet_bytes(rows: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    write_parquet(rows, sink)
    return sink.getvalue().to_pybytes()


class LakeWriter:
    """A lake in a local folder."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.files_written = 0
        self.last_written = ""  # path of the last file, relative to the root

    def write(self, database: str, table: str, data: pa.Table, time_column: str = "p_event_time") -> None:
        if data.num_rows == 0:
            return
        for partition, rows in partition_tables(data, time_column):
            self.write_partition(database, table, partition, rows)

    def write_partition(self, database: str, table: str, partition: str, rows: pa.Table) -> None:
        """Rows already known to belong to one partition (`year=.../month=.../day=.../hour=...`)."""
        relative = f"{table_path(database, table)}/{partition}/{file_name(rows)}"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".{target.name}.{os.getpid()}.tmp"
        write_parquet(rows, temporary)
        os.replace(temporary, target)  # atomic: readers never see half a file
        self.files_written += 1
        self.last_written = relative


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

    def write_partition(self, database: str, table: str, partition: str, rows: pa.Table) -> None:
        base = "/".join(p for p in (self.prefix, table_path(database, table)) if p)
        key = f"{base}/{partition}/{file_name(rows)}"
        self.client.put_object(Bucket=self.bucket, Key=key, Body=_parquet_bytes(rows),
                               ContentType="application/vnd.apache.parquet")
        self.keys_written.append(key)
