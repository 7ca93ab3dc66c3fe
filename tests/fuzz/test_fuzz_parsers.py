"""For any bytes, the parsers raise nothing and account for every record:
records in = records out + quarantined, and every quarantine entry can be written as UTF-8 JSON."""

from __future__ import annotations

import io
import json

from fuzz_strategies import access_log_bytes, any_log_bytes, trail_bytes
from hypothesis import given
from hypothesis import strategies as st

from detectors.parsers.s3_access import parse_chunk
from detectors.pipeline import ParseStats, parse_stream
from detectors.quarantine import MemoryQuarantine

TRAIL_KEY = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_x.json.gz"


def parse_all(data: bytes, source: str, log_type: str = "auto", limit: int = 4096):
    sink, stats = MemoryQuarantine(), ParseStats()
    batches = list(parse_stream(io.BytesIO(data), source, log_type, sink, stats, max_record_bytes=limit))
    rows = sum(b.table.num_rows for b in batches)
    assert stats.records_in == rows + stats.quarantined == rows + len(sink.entries)
    assert stats.records_out == rows and stats.unreadable == 0
    for entry in sink.entries:
        json.loads(entry.to_json().encode("utf-8"))  # never a surrogate, always valid JSON
        assert entry.raw is None or entry.size is None or entry.size <= limit or entry.line_number is None
    for batch in batches:
        for event in batch.events():
            json.dumps(event, ensure_ascii=False, default=str).encode("utf-8")
    return batches, sink.entries


@given(st.binary(max_size=4000))
def test_the_access_log_chunk_parser_takes_any_bytes(data):
    result = parse_chunk(data, max_line=2048)
    assert result.table.num_rows + len(result.rejected) == result.lines


@given(access_log_bytes())
def test_access_logs_broken_anywhere(data):
    parse_all(data, "logs/2024-05-14-10-00-00-5F3A0E4C1B2D7A98")


@given(trail_bytes())
def test_cloudtrail_files_broken_anywhere(data):
    parse_all(data, TRAIL_KEY, limit=64 * 1024)


@given(any_log_bytes(), st.sampled_from(["auto", "AWS.S3ServerAccess", "AWS.CloudTrail"]),
       st.sampled_from(["x.log", TRAIL_KEY, "logs/2024-05-14-10-00-00-5F3A0E4C1B2D7A98.gz"]))
def test_any_bytes_as_any_log_type(data, log_type, source):
    parse_all(data, source, log_type, limit=1024)
