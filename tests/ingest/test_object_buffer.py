"""How one object's rows become lake files (ObjectBuffer): one file per hour partition, whether the
object's lines are in time order (delivered logs) or not (an archive of many days), with memory
bounded by spilling past a number of rows. Expected partitions and row order come from the
generator's records, never from the code under test."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors import schema as schema_module
from detectors.lake import writer as lake_writer
from detectors.lake.ingest import ObjectBuffer
from detectors.lake.writer import LakeWriter
from detectors.pipeline import ParsedBatch, parse_stream

TABLE = Path("panther_logs/aws_s3serveraccess")


def _hour(record) -> str:
    t = record["time"].astimezone(UTC)
    return f"year={t.year:04d}/month={t.month:02d}/day={t.day:02d}/hour={t.hour:02d}"


def _ingest(generator, root: Path, lines: int, *, ordered: bool, span_seconds: int, flush_rows: int,
            batch_rows: int = 250, seed: int = 3) -> tuple[dict[str, list[str]], Path]:
    """The object's lines through an ObjectBuffer in batches of `batch_rows`; returns the
    request ids per hour in input order (what the lake must hold) and the spill folder."""
    items = list(generator.generate(lines, seed=seed, ordered=ordered, span_seconds=span_seconds))
    expected: dict[str, list[str]] = defaultdict(list)
    for record, _, _ in items:
        expected[_hour(record)].append(record["requestid"])
    data = ("\n".join(line for _, _, line in items) + "\n").encode()
    (table,) = [b.table for b in parse_stream(io.BytesIO(data), "archive.log")]
    spill = root / "spill"
    buffer = ObjectBuffer(LakeWriter(root / "lake"), spill, flush_rows=flush_rows)
    for start in range(0, table.num_rows, batch_rows):
        buffer.add(ParsedBatch("AWS.S3ServerAccess", "archive.log", table.slice(start, batch_rows)))
    buffer.flush()
    return dict(expected), spill


def _lake(root: Path) -> dict[str, list[list[str]]]:
    """Per partition, each file's request ids in file order."""
    files: dict[str, list[list[str]]] = defaultdict(list)
    for path in sorted((root / "lake" / TABLE).rglob("*.parquet")):
        partition = path.parent.relative_to(root / "lake" / TABLE).as_posix()
        files[partition].append(pq.read_table(path, columns=["requestid"])["requestid"].to_pylist())
    return dict(files)


@pytest.mark.parametrize("ordered", [False, True], ids=["archive-in-no-time-order", "time-ordered"])
def test_each_partition_of_an_object_is_one_file_in_input_order(generator, tmp_path, ordered):
    expected, spill = _ingest(generator, tmp_path, 4_000, ordered=ordered, span_seconds=2 * 86_400, flush_rows=1_200)
    lake = _lake(tmp_path)
    assert len(expected) > 40  # about 48 hours, each spread over every spilled part of the object
    assert {p: [ids for f in files for ids in f] for p, files in lake.items()} == expected
    assert {p: len(files) for p, files in lake.items()} == {p: 1 for p in expected}
    assert not spill.exists() or not list(spill.iterdir())  # the spilled rows are gone


def test_the_same_object_gives_the_same_files(generator, tmp_path):
    names = []
    for run in ("a", "b"):
        _ingest(generator, tmp_path / run, 2_000, ordered=False, span_seconds=86_400, flush_rows=300)
        names.append(sorted(p.relative_to(tmp_path / run).as_posix() for p in (tmp_path / run).rglob("*.parquet")))
    assert names[0] == names[1] and names[0]


def test_a_large_partition_is_written_in_files_of_bounded_size(generator, tmp_path, monkeypatch):
    monkeypatch.setattr(lake_writer, "FILE_ROWS", 600)
    monkeypatch.setattr(lake_writer, "ROW_GROUP_ROWS", 200)
    expected, _ = _ingest(generator, tmp_path, 2_000, ordered=True, span_seconds=1_800, flush_rows=500)
    lake = _lake(tmp_path)
    assert {p: sorted(ids for f in files for ids in f) for p, files in lake.items()} == \
        {p: sorted(ids) for p, ids in expected.items()}
    for partition, files in lake.items():  # each file: a run of the partition's rows, in order
        for ids in files:
            start = expected[partition].index(ids[0])
            assert expected[partition][start:start + len(ids)] == ids
    sizes = [len(f) for files in lake.values() for f in files]
    assert len(sizes) > len(expected) and max(sizes) <= 600
    largest = max((tmp_path / "lake" / TABLE).rglob("*.parquet"), key=lambda p: pq.ParquetFile(p).metadata.num_rows)
    assert pq.ParquetFile(largest).metadata.num_row_groups > 1  # row groups, not the whole file at once


def test_small_files_are_snappy_large_ones_zstd_and_duckdb_reads_both(generator, tmp_path):
    """The few rows of an object past an hour boundary are written with Snappy and without
    dictionary pages, the hour's bulk with zstd (docs/ingest.md); both read back whole through
    DuckDB, as `query` reads the lake."""
    import duckdb

    items = list(generator.generate(600, seed=5, span_seconds=3_600))  # one hour, a few seconds past it
    data = ("\n".join(line for _, _, line in items) + "\n").encode()
    (table,) = [b.table for b in parse_stream(io.BytesIO(data), "object")]
    buffer = ObjectBuffer(LakeWriter(tmp_path / "lake"))
    buffer.add(ParsedBatch("AWS.S3ServerAccess", "object", table))
    buffer.flush()
    codecs, dictionaries = {}, {}
    for path in (tmp_path / "lake" / TABLE).rglob("*.parquet"):
        meta = pq.ParquetFile(path).metadata
        columns = [meta.row_group(0).column(i) for i in range(meta.num_columns)]
        codecs[meta.num_rows] = {column.compression for column in columns}
        dictionaries[meta.num_rows] = any(column.dictionary_page_offset is not None for column in columns)
    small = [rows for rows in codecs if rows < lake_writer.SMALL_FILE_ROWS]
    large = [rows for rows in codecs if rows >= lake_writer.SMALL_FILE_ROWS]
    assert small and large, codecs
    assert all(codecs[rows] == {"SNAPPY"} and not dictionaries[rows] for rows in small)
    assert all(dictionaries[rows] for rows in large)
    # zstd for the bulk; short-vocabulary dictionary columns (operation, bucket, ...) uncompressed
    assert all(codecs[rows] == {"ZSTD", "UNCOMPRESSED"} for rows in large)
    glob = (tmp_path / "lake" / TABLE / "**" / "*.parquet").as_posix()
    read = duckdb.sql(f"SELECT requestid FROM read_parquet('{glob}')").fetchall()
    assert sorted(r for (r,) in read) == sorted(record["requestid"] for record, _, _ in items)


def _codec_per_leaf(schema: pa.Schema) -> dict[str, tuple[str, str]]:
    """(top-level column, codec) per Parquet leaf of a 200-row file of this schema; the file
    reads back with exactly this schema (no Arrow schema is stored in lake files)."""
    sink = pa.BufferOutputStream()
    lake_writer.write_parquet(pa.Table.from_pylist([{}] * 200, schema=schema), sink)
    assert pq.read_table(pa.BufferReader(sink.getvalue())).schema.equals(schema, check_metadata=False)
    meta = pq.ParquetFile(pa.BufferReader(sink.getvalue())).metadata
    group = meta.row_group(0)
    return {group.column(i).path_in_schema: (group.column(i).path_in_schema.split(".")[0], group.column(i).compression)
            for i in range(meta.num_columns)}


@pytest.mark.parametrize("schema", [
    *(schema_module.SCHEMA_OF_LOG_TYPE[t] for t in sorted(schema_module.SCHEMA_OF_LOG_TYPE)),
    *(schema_module.rule_matches_schema(t) for t in sorted(schema_module.SCHEMA_OF_LOG_TYPE)),
    pa.schema([("tags", pa.map_(pa.string(), pa.string())), ("who", pa.struct([("arn", pa.string()),
                                                                                 ("ids", pa.list_(pa.string()))])),
               ("bucket", pa.string())]),
], ids=lambda s: ",".join(s.names[:2]))
def test_every_leaf_is_compressed_but_the_short_vocabulary_columns(schema):
    """Codecs are given per leaf path, and a leaf the writer does not name is written uncompressed:
    every leaf of every lake table (nested ones included) must be zstd unless it is one of the
    short-vocabulary dictionary columns (in rule-match files: one of the dictionary columns)."""
    leaves = _codec_per_leaf(schema)
    assert len(leaves) >= len(schema.names)
    _, uncompressed = lake_writer.column_sets(schema)
    for path, (top, codec) in leaves.items():
        expected = "UNCOMPRESSED" if top in uncompressed else "ZSTD"
        assert codec == expected, (path, codec)
    assert any(codec == "ZSTD" for _, codec in leaves.values())


def test_dictionary_choices_reach_list_values_too():
    """Dictionary encoding is chosen per leaf as well: the values of `p_any_aws_arns` (a list
    column; its leaf is `p_any_aws_arns.list.element`) are dictionary-encoded, ids are not."""
    schema = schema_module.SCHEMA_OF_LOG_TYPE["AWS.S3ServerAccess"]
    rows = [{"requestid": f"R{i:06d}", "bucket": "payroll", "p_any_aws_arns": ["arn:aws:iam::123456789012:role/app"]}
            for i in range(300)]
    sink = pa.BufferOutputStream()
    lake_writer.write_parquet(pa.Table.from_pylist(rows, schema=schema), sink)
    group = pq.ParquetFile(pa.BufferReader(sink.getvalue())).metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    assert "RLE_DICTIONARY" in encodings["p_any_aws_arns.list.element"]
    assert "RLE_DICTIONARY" in encodings["bucket"]
    assert "RLE_DICTIONARY" not in encodings["requestid"]


def test_rule_match_files_keep_their_dictionary_columns_uncompressed():
    """Rule-match files store every dictionary column (principals, user agents, the alert's times
    and tags) as uncompressed dictionary pages; their alert ids are dictionary-encoded and zstd.
    The logs keep zstd for principals. Both read back with exactly the lake's schema."""
    rows = [{"requestid": f"R{i:06d}", "requester": "arn:aws:iam::123456789012:role/app", "p_alert_id": f"{i % 3:032x}",
             "p_alert_creation_time": 1_764_900_000_000, "p_rule_tags": ["Exfiltration"]} for i in range(300)]
    chunks = {}
    for kind, schema in (("logs", schema_module.SCHEMA_OF_LOG_TYPE["AWS.S3ServerAccess"]),
                         ("matches", schema_module.rule_matches_schema("AWS.S3ServerAccess"))):
        sink = pa.BufferOutputStream()
        table = pa.Table.from_pylist([{k: v for k, v in row.items() if k in schema.names} for row in rows], schema=schema)
        lake_writer.write_parquet(table, sink)
        assert pq.read_table(pa.BufferReader(sink.getvalue())).equals(table)
        group = pq.ParquetFile(pa.BufferReader(sink.getvalue())).metadata.row_group(0)
        chunks[kind] = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert chunks["logs"]["requester"].compression == "ZSTD"
    matches = chunks["matches"]
    for leaf in ("requester", "p_alert_creation_time", "p_alert_update_time", "p_rule_tags.list.element"):
        assert matches[leaf].compression == "UNCOMPRESSED", leaf
        assert "RLE_DICTIONARY" in matches[leaf].encodings, leaf
    assert matches["p_alert_id"].compression == "ZSTD"
    assert "RLE_DICTIONARY" in matches["p_alert_id"].encodings
    assert matches["requestid"].compression == "ZSTD"
    assert "RLE_DICTIONARY" not in matches["requestid"].encodings
