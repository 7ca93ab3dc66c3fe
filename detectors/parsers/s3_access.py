"""S3 server access log: the vectorized batch parser.

A chunk of complete lines is parsed with Arrow compute on whole columns: split each line on
`"` (a well-formed line has exactly 6 quotes, so 7 parts), split the unquoted parts on spaces,
`strptime` the bracketed time in one call, validate numbers and IPs with one regex per column.
Lines that do not fit that common shape (raw quotes inside quoted fields, bare `-` instead of
`"-"`, unknown trailing fields, and every malformed line) go to the per-line parser in
`s3_access_line`, which either parses them or says precisely why not. Output keeps input order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.parsers.s3_access_line import LineError, parse_access_line
from detectors.schema import S3_ACCESS_FIELDS, S3_ACCESS_INT_FIELDS, S3_ACCESS_SCHEMA, TIMESTAMP

# Log columns only (no p_ fields): what both parsers produce before enrichment.
LOG_COLUMNS_SCHEMA = pa.schema([S3_ACCESS_SCHEMA.field(n) for n in (*S3_ACCESS_FIELDS, "additionalFields")])

_KNOWN_TAIL = len(S3_ACCESS_FIELDS) - 17  # versionid .. sourceregion
_TAIL_PAD = " -" * _KNOWN_TAIL
_NUMBER_OR_DASH = r"^(?:[0-9]+|-)$"
_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IP_OR_DASH = rf"^(?:-|{_IPV4_OCTET}(?:\.{_IPV4_OCTET}){{3}}|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$"
_NULL_STRING = pa.scalar(None, pa.string())


@dataclass
class Rejected:
    index: int       # position of the line in the chunk (0-based)
    reason: str
    raw: str


@dataclass
class ChunkResult:
    table: pa.Table          # LOG_COLUMNS_SCHEMA + "__index" (line position in chunk), in input order
    rejected: list[Rejected]
    lines: int               # non-empty lines seen


def split_lines(text: str) -> pa.Array:
    """A chunk of text -> Arrow string array of its lines (no trailing newline kept)."""
    if text.endswith("\n"):
        text = text[:-1]
    lines = pc.list_flatten(pc.split_pattern(pa.array([text], pa.large_string()), "\n"))
    lines = lines.cast(pa.string())
    if "\r" in text:
        lines = pc.utf8_rtrim(lines, "\r")
    return lines


def _dash_to_null(column: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(column, "-"), _NULL_STRING, column)


_PLACEHOLDER = pa.scalar('- - [ +] - - - - - "-" - - - - - - "-" "-" -')


def _split_parts(lines: pa.Array) -> tuple[pa.Array, ...]:
    parts = pc.split_pattern(lines, '"')
    return tuple(pc.list_element(parts, i) for i in range(7))


def _fast_parse(lines: pa.Array) -> tuple[pa.Array, dict[str, pa.Array]]:
    """(ok mask, columns) for every line; columns are only meaningful where ok is true."""
    ok = pc.equal(pc.list_value_length(pc.split_pattern(lines, '"')), 7)
    # Rows that do not fit get a well-formed placeholder so list_element stays in range;
    # they are masked out of the result and parsed line by line instead.
    head, uri, middle, referrer, gap, agent, tail = _split_parts(pc.if_else(ok, lines, _PLACEHOLDER))
    head_tokens = pc.split_pattern(head, " ")
    middle_tokens = pc.split_pattern(middle, " ")
    tail_count = pc.subtract(pc.list_value_length(pc.split_pattern(tail, " ")), 1)
    for check in (
        pc.equal(pc.list_value_length(head_tokens), 10),
        pc.equal(pc.list_value_length(middle_tokens), 8),
        pc.equal(gap, " "),
        pc.starts_with(tail, " "),
        pc.greater_equal(tail_count, 1),
        pc.less_equal(tail_count, _KNOWN_TAIL),
    ):
        ok = pc.and_(ok, check)
    ok = pc.fill_null(ok, False)
    if not pc.all(ok).as_py():
        head, uri, middle, referrer, gap, agent, tail = _split_parts(pc.if_else(ok, lines, _PLACEHOLDER))
        head_tokens = pc.split_pattern(head, " ")
        middle_tokens = pc.split_pattern(middle, " ")

    columns: dict[str, pa.Array] = {}
    for i, name in enumerate(("bucketowner", "bucket")):
        columns[name] = pc.list_element(head_tokens, i)
    time_text = pc.binary_join_element_wise(pc.list_element(head_tokens, 2), pc.list_element(head_tokens, 3), " ")
    parsed_time = pc.strptime(time_text, format="[%d/%b/%Y:%H:%M:%S %z]", unit="s", error_is_null=True)
    ok = pc.and_(ok, pc.is_valid(parsed_time))
    seconds = pc.cast(pc.cast(parsed_time, pa.timestamp("s")), pa.int64())
    columns["time"] = pc.cast(pc.multiply(seconds, 1000), pa.int64()).cast(TIMESTAMP)
    for i, name in enumerate(("remoteip", "requester", "requestid", "operation", "key"), start=4):
        columns[name] = pc.list_element(head_tokens, i)
    ok = pc.and_(ok, pc.match_substring_regex(columns["remoteip"], _IP_OR_DASH))
    columns["requesturi"] = uri
    for i, name in enumerate(("httpstatus", "errorcode", "bytessent", "objectsize", "totaltime", "turnaroundtime"), 1):
        token = pc.list_element(middle_tokens, i)
        if name in S3_ACCESS_INT_FIELDS:
            ok = pc.and_(ok, pc.match_substring_regex(token, _NUMBER_OR_DASH))
        columns[name] = token
    columns["referrer"] = referrer
    columns["useragent"] = agent
    padded_tail = pc.split_pattern(pc.binary_join_element_wise(tail, _TAIL_PAD, ""), " ")
    for i, name in enumerate(S3_ACCESS_FIELDS[17:], start=1):
        columns[name] = pc.list_element(padded_tail, i)
    return pc.fill_null(ok, False), columns


def _finish_columns(columns: dict[str, pa.Array], ok: pa.Array) -> pa.Table:
    out = {}
    for name in S3_ACCESS_FIELDS:
        column = pc.filter(columns[name], ok)
        if name == "time":
            out[name] = column
            continue
        column = _dash_to_null(column)
        if name in S3_ACCESS_INT_FIELDS:
            column = pc.cast(column, pa.int64())
        out[name] = column
    n = len(out["time"])
    out["additionalFields"] = pa.nulls(n, LOG_COLUMNS_SCHEMA.field("additionalFields").type)
    return pa.table(out, schema=LOG_COLUMNS_SCHEMA)


def parse_chunk(text: str) -> ChunkResult:
    """Parse a chunk of complete lines. Empty lines are skipped (they hold no record)."""
    lines = split_lines(text)
    nonempty = pc.greater(pc.utf8_length(lines), 0)
    ok, columns = _fast_parse(lines)
    ok = pc.and_(ok, nonempty)
    positions = np.arange(len(lines), dtype=np.int64)
    fast = _finish_columns(columns, ok).append_column("__index", pa.array(positions[ok.to_numpy(zero_copy_only=False)]))

    slow_mask = pc.and_(pc.invert(ok), nonempty).to_numpy(zero_copy_only=False)
    slow_positions = positions[slow_mask]
    rejected: list[Rejected] = []
    table = fast
    if len(slow_positions):
        slow_lines = pc.take(lines, pa.array(slow_positions)).to_pylist()
        records, indices = [], []
        for position, line in zip(slow_positions.tolist(), slow_lines, strict=True):
            try:
                records.append(parse_access_line(line))
                indices.append(position)
            except LineError as exc:
                rejected.append(Rejected(position, str(exc), line))
        if records:
            slow = pa.Table.from_pylist(records, schema=LOG_COLUMNS_SCHEMA)
            slow = slow.append_column("__index", pa.array(indices, pa.int64()))
            table = pa.concat_tables([fast, slow])
            table = table.take(pc.sort_indices(table["__index"]))
    return ChunkResult(table=table, rejected=rejected, lines=int(pc.sum(nonempty).as_py() or 0))
