"""Inputs for the fuzz suite: any bytes, and valid logs broken in the ways real files break
(bytes changed, cut, joined, compressed data cut short or changed, JSON of any shape where records
belong, in every envelope CloudTrail comes in)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
import warnings
import zipfile
from pathlib import Path

import pyarrow as pa
from hypothesis import strategies as st

SAMPLES = Path(__file__).resolve().parents[2] / "detectors" / "samples" / "logs"
ACCESS_TEXT = next((SAMPLES / "s3-access" / "finance-reports").iterdir()).read_bytes()
TRAIL_RECORDS = json.loads(gzip.decompress(next((SAMPLES / "cloudtrail").rglob("*.json.gz")).read_bytes()))["Records"]
ACCESS_LINES = ACCESS_TEXT.splitlines()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
event_times = st.one_of(
    st.sampled_from(["2024-05-14T09:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                     "2005-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "2024-02-30T00:00:00Z", "", "yesterday"]),
    st.datetimes().map(lambda d: d.isoformat()),
    json_values,
)


@st.composite
def trail_records(draw) -> str:
    """One element of Records as JSON text: a real record, altered, or any JSON value."""
    kind = draw(st.sampled_from(["real", "changed", "any", "deep", "escape"]))
    if kind == "any":
        return json.dumps(draw(json_values))
    record = dict(draw(st.sampled_from(TRAIL_RECORDS)))
    if kind == "changed":
        record[draw(st.sampled_from([*sorted(record), "eventTime"]))] = draw(json_values)
        record["eventTime"] = draw(event_times)
    text = json.dumps(record)
    if kind == "deep":
        depth = draw(st.integers(100, 3000))
        text = text[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    if kind == "escape":
        text = text.replace('"eventName": "', '"eventName": "' + draw(st.sampled_from(["\\ud800", "\\udfff", "\\u0000"])), 1)
    return text


def mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """Apply (position, how many bytes to drop, bytes to insert) edits."""
    for position, drop, insert in edits:
        at = position % (len(data) + 1)
        data = data[:at] + insert + data[at + drop:]
    return data


edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 8), st.binary(max_size=6)), max_size=6)


@st.composite
def access_log_bytes(draw) -> bytes:
    lines = draw(st.lists(st.sampled_from(ACCESS_LINES), min_size=1, max_size=12))
    data = b"\n".join(lines) + draw(st.sampled_from([b"\n", b"", b"\r\n", b"\n\n"]))
    return mutate(data, draw(edits))


@st.composite
def trail_bytes(draw) -> bytes:
    records = draw(st.lists(trail_records(), max_size=6))
    text = '{"Records": [' + ", ".join(records) + "]}"
    layout = draw(st.sampled_from(["one", "joined", "lines", "envelope", "history", "subscription"]))
    if layout == "history":  # aws cloudtrail lookup-events: each record as JSON text
        text = json.dumps({"Events": [{"EventId": str(i), "CloudTrailEvent": r} for i, r in enumerate(records)]})
    elif layout == "subscription":  # CloudWatch Logs subscription messages, as Firehose writes them
        kind = draw(st.sampled_from(["DATA_MESSAGE", "CONTROL_MESSAGE"]))
        text = json.dumps({"messageType": kind, "logGroup": "trail", "logEvents": [
            {"id": str(i), "timestamp": 0, "message": r} for i, r in enumerate(records)]}) * draw(st.integers(1, 2))
    elif layout == "joined":
        text += text
    elif layout == "lines":
        text = "\n".join(records)
    elif layout == "envelope":
        text = json.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": _shallow(records[0] if records else "")})
    return mutate(text.encode("utf-8", "surrogatepass"), draw(edits))


def _shallow(record: str) -> object:
    """A record as a value to wrap in an envelope; {} for one the strategy itself cannot nest
    (a "deep" record: the standard library's encoder and decoder recurse)."""
    if not record.startswith("{") or len(record) >= 5000:
        return {}
    try:
        value = json.loads(record)
        json.dumps(value)
    except RecursionError:
        return {}
    return value


COMPRESSORS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda data: pa.Codec("zstd").compress(data, asbytes=True),
}


@st.composite
def any_log_bytes(draw) -> bytes:
    data = draw(st.one_of(st.binary(max_size=3000), access_log_bytes(), trail_bytes()))
    saved_as = draw(st.integers(0, 7))
    if saved_as == 0:  # saved as UTF-16 (PowerShell), maybe cut mid-character
        data = data.decode("utf-8", "replace").encode("utf-16")[: draw(st.integers(0, 2 * len(data) + 2))]
    elif saved_as == 1:  # UTF-8 with a byte order mark (PowerShell 7, Notepad), maybe cut inside it
        data = (b"\xef\xbb\xbf" + data)[: draw(st.integers(0, len(data) + 3))]
    if draw(st.booleans()):
        data = COMPRESSORS[draw(st.sampled_from(sorted(COMPRESSORS)))](data)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
        elif draw(st.booleans()):
            data = mutate(data, draw(edits))
    return data


@st.composite
def archive_bytes(draw) -> bytes:
    """A zip or tar (plain or compressed) of such files, whole or cut short."""
    members = draw(st.lists(st.tuples(st.sampled_from(["a.log", "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/t.json",
                                                       "d/x.gz", "./e.log"]), any_log_bytes()), min_size=0, max_size=3))
    sink = io.BytesIO()
    if draw(st.booleans()):
        with zipfile.ZipFile(sink, "w") as archive, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a repeated name is wanted: zip allows it
            for name, data in members:
                archive.writestr(name, data)
    else:
        with tarfile.open(fileobj=sink, mode=draw(st.sampled_from(["w", "w:gz", "w:bz2", "w:xz"]))) as archive:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    data = sink.getvalue()
    return data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data
