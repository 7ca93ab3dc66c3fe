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


_MONTH_KEYS = np.array([(ord(m[0]) << 16) | (ord(m[1]) << 8) | ord(m[2]) for m in (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")])
_MONTH_ORDER = np.argsort(_MONTH_KEYS)
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_TIME_WIDTH = len("[06/Feb/2019:00:00:38")
_OFFSET_WIDTH = len("+0000]")


def _offsets(lists: pa.ListArray) -> np.ndarray:
    return lists.offsets.to_numpy()


def _string_lengths(strings: pa.Array) -> np.ndarray:
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[strings.offset: strings.offset + len(strings) + 1]
    return np.diff(offsets)


def _take(values: pa.Array, indices: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """values[indices] (null where `missing`), as a fresh contiguous array."""
    if missing is not None and missing.any():
        return pc.take(values, pa.array(indices, mask=missing))
    return pc.take(values, pa.array(indices))


def _fixed_width_bytes(column: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(n x width uint8 matrix, rows whose value has exactly that width)."""
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset: column.offset + len(column) + 1]
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8) if column.buffers()[2] else np.zeros(1, np.uint8)
    fits = np.diff(offsets) == width
    if column.null_count:
        fits &= column.is_valid().to_numpy(zero_copy_only=False)
    index = np.minimum(offsets[:-1, None] + np.arange(width), len(data) - 1)
    return data[index], fits


def _digits(matrix: np.ndarray, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    block = matrix[:, start:start + count].astype(np.int64) - 48
    ok = ((block >= 0) & (block <= 9)).all(axis=1)
    value = np.zeros(len(matrix), dtype=np.int64)
    for i in range(count):
        value = value * 10 + block[:, i]
    return value, ok


def _access_times(time_token: pa.Array, offset_token: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """`[06/Feb/2019:00:00:38` + `+0130]` -> (UTC epoch milliseconds, valid) without strptime:
    fixed-width digits read straight from the bytes, every range checked (no day 30 of February)."""
    t, fits = _fixed_width_bytes(time_token, _TIME_WIDTH)
    z, zfits = _fixed_width_bytes(offset_token, _OFFSET_WIDTH)
    day, ok1 = _digits(t, 1, 2)
    year, ok2 = _digits(t, 8, 4)
    hour, ok3 = _digits(t, 13, 2)
    minute, ok4 = _digits(t, 16, 2)
    second, ok5 = _digits(t, 19, 2)
    zh, ok6 = _digits(z, 1, 2)
    zm, ok7 = _digits(z, 3, 2)
    key = (t[:, 4].astype(np.int64) << 16) | (t[:, 5].astype(np.int64) << 8) | t[:, 6]
    found = np.searchsorted(_MONTH_KEYS[_MONTH_ORDER], key)
    found = np.minimum(found, 11)
    month = _MONTH_ORDER[found] + 1
    month_ok = _MONTH_KEYS[_MONTH_ORDER][found] == key
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = _DAYS_IN_MONTH[month - 1] + ((month == 2) & leap)
    punctuation = ((t[:, 0] == ord("[")) & (t[:, 3] == ord("/")) & (t[:, 7] == ord("/")) & (t[:, 12] == ord(":"))
                   & (t[:, 15] == ord(":")) & (t[:, 18] == ord(":")) & np.isin(z[:, 0], (ord("+"), ord("-")))
                   & (z[:, 5] == ord("]")))
    valid = (fits & zfits & ok1 & ok2 & ok3 & ok4 & ok5 & ok6 & ok7 & month_ok & punctuation & (day >= 1)
             & (day <= month_days) & (hour < 24) & (minute < 60) & (second < 60) & (zm < 60))
    # Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    sign = np.where(z[:, 0] == ord("-"), -1, 1)
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - sign * (zh * 3600 + zm * 60)
    return seconds * 1000, valid


def _null_dashes(column: pa.Array) -> pa.Array:
    """`-` -> null, reusing the string buffers (only a validity bitmap is built)."""
    dash = pc.equal(column, "-")
    if not pc.any(dash).as_py():
        return column
    if column.offset != 0 or column.null_count:
        return pc.if_else(dash, _NULL_STRING, column)
    validity = pc.invert(dash).buffers()[1]
    return pa.Array.from_buffers(column.type, len(column), [validity, *column.buffers()[1:]])


def _to_int(column: pa.Array) -> pa.Array | None:
    try:
        return pc.cast(column, pa.int64())
    except pa.ArrowInvalid:
        return None


def _fast_parse(lines: pa.Array) -> tuple[np.ndarray, pa.Table]:
    """(positions of the lines parsed here, their columns). Lines not parsed here are left to
    the per-line parser, which either parses them or says why they are not records."""
    parts = pc.split_pattern(lines, '"')
    p_off = _offsets(parts)
    candidates = np.flatnonzero((np.diff(p_off) == 7) & (_string_lengths(lines) > 0))
    base = p_off[candidates]

    def part(j: int, rows: np.ndarray) -> pa.Array:
        return _take(parts.values, base[rows] + j)

    everything = np.arange(len(candidates))
    head = pc.split_pattern(part(0, everything), " ")
    middle = pc.split_pattern(part(2, everything), " ")
    tail_text = part(6, everything)
    tail = pc.split_pattern(tail_text, " ")
    h_off, m_off, t_off = _offsets(head), _offsets(middle), _offsets(tail)
    t_len = np.diff(t_off)
    shape_ok = ((np.diff(h_off) == 10) & (np.diff(m_off) == 8) & (t_len >= 2) & (t_len <= _KNOWN_TAIL + 1)
                & pc.equal(part(4, everything), " ").to_numpy(zero_copy_only=False)
                & pc.starts_with(tail_text, " ").to_numpy(zero_copy_only=False))
    rows = np.flatnonzero(shape_ok)

    def head_col(j: int) -> pa.Array:
        return _take(head.values, h_off[rows] + j)

    def middle_col(j: int) -> pa.Array:
        return _take(middle.values, m_off[rows] + j)

    millis, ok = _access_times(head_col(2), head_col(3))
    remoteip = head_col(4)
    ok &= pc.match_substring_regex(remoteip, _IP_OR_DASH).to_numpy(zero_copy_only=False)
    numbers = {}
    for j, name in enumerate(("httpstatus", "errorcode", "bytessent", "objectsize", "totaltime", "turnaroundtime"), 1):
        if name in S3_ACCESS_INT_FIELDS:
            token = _null_dashes(middle_col(j))
            value = _to_int(token)
            if value is None:  # some row holds a non-number: find which, leave it to the line parser
                digits = pc.fill_null(pc.match_substring_regex(token, r"^[0-9]+$"), True)
                ok &= digits.to_numpy(zero_copy_only=False)
                value = pc.cast(pc.if_else(pa.array(ok), token, _NULL_STRING), pa.int64())
            numbers[name] = value
    if not ok.all():
        keep = np.flatnonzero(ok)
        rows = rows[keep]
        millis = millis[keep]
        remoteip = pc.take(remoteip, pa.array(keep))
        numbers = {k: pc.take(v, pa.array(keep)) for k, v in numbers.items()}

    columns: dict[str, pa.Array] = {}
    for j, name in enumerate(("bucketowner", "bucket")):
        columns[name] = head_col(j)
    columns["time"] = pa.array(millis, pa.int64()).cast(TIMESTAMP)
    columns["remoteip"] = remoteip
    for j, name in enumerate(("requester", "requestid", "operation", "key"), start=5):
        columns[name] = head_col(j)
    columns["requesturi"] = part(1, rows)
    columns.update(numbers)
    columns["errorcode"] = middle_col(2)
    columns["referrer"] = part(3, rows)
    columns["useragent"] = part(5, rows)
    t_rows_off, t_rows_len = t_off[rows], t_len[rows]
    for j, name in enumerate(S3_ACCESS_FIELDS[17:], start=1):
        columns[name] = _take(tail.values, np.minimum(t_rows_off + j, len(tail.values) - 1), t_rows_len <= j)
    out = {}
    for name in S3_ACCESS_FIELDS:
        column = columns[name]
        out[name] = column if name == "time" or name in S3_ACCESS_INT_FIELDS else _null_dashes(column)
    out["additionalFields"] = pa.nulls(len(rows), LOG_COLUMNS_SCHEMA.field("additionalFields").type)
    return candidates[rows], pa.table(out, schema=LOG_COLUMNS_SCHEMA)


def parse_chunk(text: str) -> ChunkResult:
    """Parse a chunk of complete lines. Empty lines are skipped (they hold no record)."""
    lines = split_lines(text)
    line_lengths = _string_lengths(lines)
    fast_positions, fast = _fast_parse(lines)
    fast = fast.append_column("__index", pa.array(fast_positions, pa.int64()))
    slow_mask = line_lengths > 0
    slow_mask[fast_positions] = False
    slow_positions = np.flatnonzero(slow_mask)
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
    return ChunkResult(table=table, rejected=rejected, lines=int((line_lengths > 0).sum()))
