"""For any set of input files, `ingest` (the real ingest_inputs, into a real lake) raises nothing,
fails no input for an internal reason, and its invariant holds: records in = rows written +
duplicates skipped + quarantined, with the rows really in the lake's Parquet files; a second run
over the same files reads nothing. Some files are zip or tar archives (read member by member),
whole or cut short."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from fuzz_strategies import any_log_bytes, archive_bytes
from hypothesis import given
from hypothesis import strategies as st

from detectors.lake.ingest import ingest_inputs

names = st.sampled_from([
    "2024-05-14-10-00-00-5F3A0E4C1B2D7A98", "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/f.json.gz",
    "plain.log", "b\udcff\udcfe.log", "x/y/z.gz"])


@given(st.lists(st.tuples(names, st.one_of(any_log_bytes(), archive_bytes())), min_size=1, max_size=4),
       st.sampled_from([1, 2]))
def test_ingest_accounts_for_every_record_of_any_input(files, workers):
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for number, (name, data) in enumerate(files):
            path = root / "in" / str(number) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        lake = root / "lake"
        report = ingest_inputs([str(root / "in")], lake, workers=workers, max_record_bytes=2048)
        assert report.holds(), report.invariant()
        assert not report.failures, report.failures
        on_disk = sum(pq.ParquetFile(p).metadata.num_rows for p in lake.rglob("*.parquet") if "_state" not in p.parts)
        assert on_disk == report.rows_written
        again = ingest_inputs([str(root / "in")], lake, max_record_bytes=2048)
        assert again.stats.records_in == 0 and len(again.unchanged) == report.sources  # archives: per member
