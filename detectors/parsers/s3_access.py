"""S3 server access log: the vectorized batch parser.

A chunk of complete lines is parsed without a Python loop over lines:

1. numpy finds every newline, quote and space in the chunk's bytes. A line of the common shape has
   9 spaces before the first quote (the head fields; the bracketed time holds one), 7 spaces between
   the request-URI and the referrer, `" "` between referrer and user agent, the user agent up to
   the line's last quote (`_agent_unambiguous`), and 1..10 space-led fields after it. From those
   positions every field's byte range is computed with array arithmetic.
2. The ranges become one Arrow string array over the chunk's own bytes (no copy: field, gap,
   field, gap, ... as consecutive offsets), and each column is a single `take` from it; `-` becomes
   null through the take's null mask.
3. Times are decoded from their fixed-width bytes with numpy (every range checked, no strptime);
   numbers are cast once per column; IPs are checked with array arithmetic per column (`ipcheck`).

Raw quotes inside the request-URI are read on this path too: the URI closes at the first quote
the line parser could close it at (`_uri_close`). Lines that do not have that shape (raw quotes
inside the referrer, a user agent that may end before a quoted added field, bare `-` for a quoted
field, unknown trailing fields) and every malformed line go to the per-line parser
(`s3_access_line`), which either parses them or says precisely why they are not records. Output
keeps input order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.parsers.ipcheck import valid_ips
from detectors.parsers.limits import DEFAULT_MAX_RECORD_BYTES, LAKE_END_MS, LAKE_START_MS
from detectors.parsers.s3_access_line import LineError, parse_access_line
from detectors.schema import S3_ACCESS_FIELDS, S3_ACCESS_INT_FIELDS, S3_ACCESS_SCHEMA, TIMESTAMP

# Log columns only (no p_ fields): what both parsers produce before enrichment.
LOG_COLUMNS_SCHEMA = pa.schema([S3_ACCESS_SCHEMA.field(n) for n in (*S3_ACCESS_FIELDS, "additionalFields")])

_KNOWN_TAIL = len(S3_ACCESS_FIELDS) - 17  # versionid .. sourceregion
# Token slots of a line: 9 head tokens (the time is two: "[06/Feb/2019:00:00:38" and "+0000]"),
# request-URI, 6 middle tokens, referrer, user agent, 10 tail tokens (missing ones are empty).
_SLOT_NAMES = (
    "bucketowner", "bucket", "time", "zone", "remoteip", "requester", "requestid", "operation", "key",
    "requesturi",
    "httpstatus", "errorcode", "bytessent", "objectsize", "totaltime", "turnaroundtime",
    "referrer", "useragent",
    *S3_ACCESS_FIELDS[17:],
)
_SLOT = {name: i for i, name in enumerate(_SLOT_NAMES)}
_SLOTS = len(_SLOT_NAMES)
_STRIDE = 2 * _SLOTS  # each slot is followed by the gap up to the next one

_QUOTE, _SPACE, _NEWLINE, _CR, _DASH = 34, 32, 10, 13, 45

_MONTH_KEYS = np.array([(ord(m[0]) << 16) | (ord(m[1]) << 8) | ord(m[2]) for m in (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")])
_MONTH_ORDER = np.argsort(_MONTH_KEYS)
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_TIME_WIDTH = len("[06/Feb/2019:00:00:38")
_ZONE_WIDTH = len("+0000]")


@dataclass
class Rejected:
    index: int          # position of the line in the chunk (0-based)
    reason: str
    raw: str | None     # None: longer than the record limit, quarantined by reference
    size: int = 0       # bytes of the line (newline and CR excluded)


@dataclass
class ChunkResult:
    table: pa.Table          # LOG_COLUMNS_SCHEMA + "__index" (line position in chunk), in input order
    rejected: list[Rejected]
    lines: int               # non-empty lines seen
    newlines: int = 0        # line breaks in the chunk (empty lines included): line numbering


def _gather(buf: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """n x width bytes starting at each position (start clipped so the window fits the buffer;
    callers check the token length, which a clipped start cannot satisfy)."""
    if len(buf) < width:
        buf = np.concatenate([buf, np.zeros(width - len(buf), dtype=np.uint8)])
    windows = np.lib.stride_tricks.sliding_window_view(buf, width)
    return windows[np.minimum(starts, len(windows) - 1)]


# The digit positions of `[06/Feb/2019:00:00:38`: day, year, hour, minute, second.
_TIME_DIGITS = np.array([1, 2, 8, 9, 10, 11, 13, 14, 16, 17, 19, 20])


def access_times(t: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Byte matrices of `[06/Feb/2019:00:00:38` and `+0130]` -> (UTC epoch milliseconds, valid).

    Every part is range-checked (no 30 February, no hour 24), unlike a lenient strptime. The
    digits are taken in one gather: a byte minus '0' wraps past 9 unless it is a digit."""
    d = t[:, _TIME_DIGITS] - np.uint8(48)
    zd = z[:, 1:5] - np.uint8(48)
    digits_ok = (d <= 9).all(axis=1) & (zd <= 9).all(axis=1)
    d, zd = d.astype(np.int64), zd.astype(np.int64)
    day = d[:, 0] * 10 + d[:, 1]
    year = ((d[:, 2] * 10 + d[:, 3]) * 10 + d[:, 4]) * 10 + d[:, 5]
    hour, minute, second = d[:, 6] * 10 + d[:, 7], d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11]
    zh, zm = zd[:, 0] * 10 + zd[:, 1], zd[:, 2] * 10 + zd[:, 3]
    key = (t[:, 4].astype(np.int64) << 16) | (t[:, 5].astype(np.int64) << 8) | t[:, 6]
    found = np.minimum(np.searchsorted(_MONTH_KEYS[_MONTH_ORDER], key), 11)
    month = _MONTH_ORDER[found] + 1
    month_ok = _MONTH_KEYS[_MONTH_ORDER][found] == key
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = _DAYS_IN_MONTH[month - 1] + ((month == 2) & leap)
    punctuation = ((t[:, 0] == ord("[")) & (t[:, 3] == ord("/")) & (t[:, 7] == ord("/")) & (t[:, 12] == ord(":"))
                   & (t[:, 15] == ord(":")) & (t[:, 18] == ord(":")) & ((z[:, 0] == ord("+")) | (z[:, 0] == ord("-")))
                   & (z[:, 5] == ord("]")))
    valid = (digits_ok & month_ok & punctuation & (day >= 1)
             & (day <= month_days) & (hour < 24) & (minute < 60) & (second < 60) & (zm < 60))
    # Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    sign = np.where(z[:, 0] == ord("-"), -1, 1)
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - sign * (zh * 3600 + zm * 60)
    return seconds * 1000, valid


@dataclass
class _Lines:
    buf: np.ndarray
    starts: np.ndarray   # every line (empty ones included)
    ends: np.ndarray     # exclusive, without trailing "\r" and blanks (what is parsed)
    raw_ends: np.ndarray  # exclusive, without "\r" (what quarantine keeps)
    quotes: np.ndarray   # positions of every '"' in the chunk
    spaces: np.ndarray   # positions of every ' '


def _delimiters(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the newlines, quotes and spaces: one scan of the chunk for the three (bytes
    up to '"' are rare in logs besides them), then split, instead of one scan per delimiter."""
    low = np.flatnonzero(buf <= _QUOTE)
    found = buf[low]
    return low[found == _NEWLINE], low[found == _QUOTE], low[found == _SPACE]


def _lines(data: bytes) -> _Lines:
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines, quotes, spaces = _delimiters(buf)
    starts = np.empty(len(newlines), dtype=np.int64)
    if len(newlines):
        starts[0] = 0
        starts[1:] = newlines[:-1] + 1
    ends = newlines.astype(np.int64)
    carriage = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == _CR)
    raw_ends = ends - carriage
    # Trailing CR (files saved on Windows) and spaces (lines re-exported by tools) are not fields:
    # S3 writes "-" for an empty last field, so a line never ends in a meaningful blank.
    while True:
        last = buf[np.maximum(ends - 1, 0)]
        trailing = (ends > starts) & ((last == _CR) | (last == _SPACE))
        if not trailing.any():
            break
        ends[trailing] -= 1
    return _Lines(buf, starts, ends, raw_ends, quotes, spaces)


_SHIFTED = np.array([0, 1, 1, 1, 1, 0])  # the quotes that come after the request-URI's closing one


def _uri_close(buf: np.ndarray, quotes: np.ndarray, first: np.ndarray, count: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per line (its first quote and quote count), which of its quotes closes the request-URI
    (1: the second, as usual) and whether that is decided here.

    The line parser takes the URI as short as possible: it closes at the first quote after which
    the line can go on with ` status ` (digits or `-`). A quote not followed by a space and then a
    digit or `-` cannot close it (`?q="a" HTTP/1.1`); the first quote that may is taken, and the
    shape checks and value checks then hold the rest of the line to what the line parser would
    read from there (else it goes to the line parser, which tries the later quotes). At most 16
    raw quotes in a URI are looked through; lines with more go to the line parser."""
    close = np.ones(len(first), dtype=np.int64)
    extra = np.flatnonzero(count > 6)  # usually none or a few: only they can close later
    if not len(extra):
        return close, np.ones(len(first), dtype=bool)
    decided = np.ones(len(first), dtype=bool)
    open_rows = extra
    for j in range(1, 18):
        in_line = j <= count[open_rows] - 5  # room left for the referrer's and user agent's quotes
        at = quotes[np.minimum(first[open_rows] + j, len(quotes) - 1)]
        after = buf[np.minimum(at[:, None] + np.array([1, 2]), len(buf) - 1)]
        may_close = (after[:, 0] == _SPACE) & (((after[:, 1] >= 48) & (after[:, 1] <= 57)) | (after[:, 1] == _DASH))
        close[open_rows] = j
        taken = may_close | ~in_line
        decided[open_rows[~in_line]] = False
        open_rows = open_rows[~taken]
        if not len(open_rows):
            break
    decided[open_rows] = False
    return close, decided


def _field_bounds(lines: _Lines) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(candidate line numbers, slot starts (m x slots), slot ends, tail token counts) for the
    lines that have the common shape; nothing is decided about their values yet."""
    buf, starts, ends, quotes, spaces = lines.buf, lines.starts, lines.ends, lines.quotes, lines.spaces
    if not len(quotes) or not len(spaces):
        empty = np.zeros((0, _SLOTS), dtype=np.int64)
        return np.zeros(0, dtype=np.int64), empty, empty, np.zeros(0, dtype=np.int64)
    q_first = np.searchsorted(quotes, starts)
    q_count = np.diff(np.append(q_first, len(quotes)))
    s_first = np.searchsorted(spaces, starts)
    s_next = np.searchsorted(spaces, ends)  # spaces inside the line (trailing blanks are cut off)
    rows = np.flatnonzero((ends > starts) & (q_count >= 6) & (s_next - s_first >= 18))
    last_space = len(spaces) - 1
    # The first quote opens the request-URI, which closes where the line parser closes it (raw
    # quotes inside it are kept: `_uri_close`); the next three close it and open and close the
    # referrer and open the user agent, which closes at the line's last quote (`_agent_unambiguous`).
    # Quotes anywhere else break the shape checks below.
    close, decided = _uri_close(buf, quotes, q_first[rows], q_count[rows])
    q = quotes[np.minimum(q_first[rows, None] + np.array([0, 0, 1, 2, 3, 3]) + (close[:, None] * _SHIFTED),
                          len(quotes) - 1)]
    q[:, 5] = quotes[q_first[rows] + q_count[rows] - 1]
    head = spaces[np.minimum(s_first[rows, None] + np.arange(9), last_space)]
    m_first = np.searchsorted(spaces, q[:, 1])
    middle = spaces[np.minimum(m_first[:, None] + np.arange(7), last_space)]
    t_first = np.searchsorted(spaces, q[:, 5])
    tail_count = s_next[rows] - t_first
    tail = spaces[np.minimum(t_first[:, None] + np.arange(_KNOWN_TAIL), last_space)]
    line_end = ends[rows]
    # quote numbers (in `quotes`) of the first quote inside the user agent and of the line's last
    plain_agent = _agent_unambiguous(quotes, spaces, q_first[rows] + close + 4, q_first[rows] + q_count[rows] - 1,
                                     tail_count)
    ok = ((head[:, 8] == q[:, 0] - 1) & (middle[:, 0] == q[:, 1] + 1) & (middle[:, 6] == q[:, 2] - 1)
          & (q[:, 4] == q[:, 3] + 2) & (buf[q[:, 3] + 1] == _SPACE) & (tail[:, 0] == q[:, 5] + 1)
          & (tail_count >= 1) & (tail_count <= _KNOWN_TAIL) & (q[:, 5] < line_end) & decided & plain_agent)
    if not ok.all():
        keep = np.flatnonzero(ok)
        rows, q, head, middle, tail, tail_count, line_end = (
            a[keep] for a in (rows, q, head, middle, tail, tail_count, line_end))
    n = len(rows)
    lo = np.empty((n, _SLOTS), dtype=np.int64)
    hi = np.empty((n, _SLOTS), dtype=np.int64)
    lo[:, 0] = starts[rows]
    lo[:, 1:9] = head[:, :8] + 1
    hi[:, 0:9] = head
    lo[:, 9], hi[:, 9] = q[:, 0] + 1, q[:, 1]
    lo[:, 10:16] = middle[:, :6] + 1
    hi[:, 10:16] = middle[:, 1:7]
    lo[:, 16], hi[:, 16] = q[:, 2] + 1, q[:, 3]
    lo[:, 17], hi[:, 17] = q[:, 4] + 1, q[:, 5]
    k = np.arange(_KNOWN_TAIL)
    present = k[None, :] < tail_count[:, None]
    nxt = np.concatenate([tail[:, 1:], np.zeros((n, 1), dtype=np.int64)], axis=1)
    last = k[None, :] == (tail_count[:, None] - 1)
    tail_lo = np.where(present, tail + 1, line_end[:, None])
    tail_hi = np.where(present & ~last, nxt, line_end[:, None])
    lo[:, 18:], hi[:, 18:] = tail_lo, tail_hi
    return rows, lo, hi, tail_count


def _agent_unambiguous(quotes: np.ndarray, spaces: np.ndarray, first_inside: np.ndarray, last: np.ndarray,
                       tail_count: np.ndarray) -> np.ndarray:
    """Per line, whether its user agent surely closes at the line's last quote (number `last` in
    `quotes`; `first_inside`: the number of the quote after the agent's opening one).

    A field AWS may add after the known ones could be quoted (`... us-east-1 "a b" c`): then the
    agent closes at an earlier quote, followed by every known field unquoted, that is, by at least
    10 spaces before the next quote. Lines with such a quote inside the agent and fewer than every
    known field after its last quote go to the line parser, which decides as `_quoted_extra` does;
    quotes inside an agent are otherwise its own (`"curl "x" y"`), as the line parser keeps them."""
    unambiguous = (last <= first_inside) | (tail_count >= _KNOWN_TAIL)  # no quote inside, or every field after
    doubtful = np.flatnonzero(~unambiguous)
    for row in doubtful.tolist():  # a few lines of old generations with quotes in their agents
        spaces_before = np.searchsorted(spaces, quotes[first_inside[row]:last[row] + 1])
        unambiguous[row] = np.diff(spaces_before).max() < _KNOWN_TAIL
    return unambiguous


def _token_array(data: bytes, lo: np.ndarray, hi: np.ndarray) -> pa.Array:
    """All slots of all rows as one string array over the chunk's bytes: slot, gap, slot, gap..."""
    offsets = np.empty(len(lo) * _STRIDE + 1, dtype=np.int32)
    bounds = offsets[:-1].reshape(len(lo), _STRIDE)
    bounds[:, 0::2] = lo
    bounds[:, 1::2] = hi
    offsets[-1] = len(data)
    return pa.Array.from_buffers(pa.string(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


# The numbers first: one contiguous run of the taken tokens, checked and cast in one call each.
_INT_NAMES = tuple(name for name in S3_ACCESS_FIELDS if name in S3_ACCESS_INT_FIELDS)
_STRING_NAMES = (*_INT_NAMES, *(name for name in S3_ACCESS_FIELDS if name != "time" and name not in _INT_NAMES))
_STRING_SLOTS = np.array([_SLOT[name] for name in _STRING_NAMES], dtype=np.int32)
_ADDITIONAL_TYPE = LOG_COLUMNS_SCHEMA.field("additionalFields").type


@dataclass
class _Candidates:
    """Lines of the common shape with a valid time: their slot byte ranges, `-`/absent mask
    (rows x slots) and UTC epoch milliseconds. Field values are checked after assembly."""
    rows: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    null: np.ndarray
    millis: np.ndarray

    def without(self, drop: np.ndarray) -> _Candidates:
        keep = ~drop
        return _Candidates(self.rows[keep], self.lo[keep], self.hi[keep], self.null[keep], self.millis[keep])


@dataclass
class _SlowRows:
    """Records from the per-line parser and their line positions (any order)."""
    rows: list[int]
    records: list[dict]

    def add(self, position: int, record: dict) -> None:
        self.rows.append(position)
        self.records.append(record)


def _candidates(lines: _Lines) -> _Candidates:
    rows, lo, hi, tail_count = _field_bounds(lines)
    buf = lines.buf
    length = hi - lo
    null = (length == 1) & (buf[np.minimum(lo, len(buf) - 1)] == _DASH)
    t_at, z_at = lo[:, _SLOT["time"]], lo[:, _SLOT["zone"]]
    millis, ok = access_times(_gather(buf, t_at, _TIME_WIDTH), _gather(buf, z_at, _ZONE_WIDTH))
    ok &= (length[:, _SLOT["time"]] == _TIME_WIDTH) & (length[:, _SLOT["zone"]] == _ZONE_WIDTH)
    ok &= (millis >= LAKE_START_MS) & (millis < LAKE_END_MS)  # else the line parser says why
    null[:, _SLOT["versionid"]:] |= np.arange(_KNOWN_TAIL)[None, :] >= tail_count[:, None]  # not in this generation
    if ok.all():
        return _Candidates(rows, lo, hi, null, millis)
    keep = np.flatnonzero(ok)
    return _Candidates(rows[keep], lo[keep], hi[keep], null[keep], millis[keep])


def _slow_strings(records: list[dict]) -> pa.Array:
    """The per-line records' fields as text, row-major (numbers too: they are cast with the rest)."""
    values = [None if (v := record[name]) is None else str(v) for record in records for name in _STRING_NAMES]
    return pa.array(values, pa.string())


def _slow_column(values: list, type_: pa.DataType, slow_index: np.ndarray, is_fast: np.ndarray) -> pa.Array:
    """A column holding the per-line records' values at their rows and null elsewhere."""
    return pa.array(values, type_).take(pa.array(slow_index, mask=is_fast))


def _assemble(data: bytes, fast: _Candidates, slow: _SlowRows) -> tuple[pa.Table, np.ndarray]:
    """Both parsers' rows as one table in line order, every column one contiguous array (one take
    from the chunk's tokens plus the per-line records' values), and the fast rows whose values
    turned out invalid (the caller hands those to the per-line parser and assembles again)."""
    n_fast = len(fast.rows)
    rows = np.concatenate([fast.rows, np.asarray(slow.rows, dtype=np.int64)])
    order = np.argsort(rows, kind="stable")
    n = len(rows)
    is_fast = order < n_fast
    fast_at, slow_at = np.flatnonzero(is_fast), np.flatnonzero(~is_fast)
    f, k = order[fast_at], len(_STRING_NAMES)
    tokens = _token_array(data, fast.lo, fast.hi)
    index = np.empty((k, n), dtype=np.int32)
    null = np.zeros((k, n), dtype=bool)
    index[:, fast_at] = f[None, :] * _STRIDE + 2 * _STRING_SLOTS[:, None]
    null[:, fast_at] = fast.null[f][:, _STRING_SLOTS].T
    millis = np.zeros(n, dtype=np.int64)
    millis[fast_at] = fast.millis[f]
    slow_index = np.zeros(n, dtype=np.int32)
    additional: pa.Array = pa.nulls(n, _ADDITIONAL_TYPE)
    time_null = None
    if len(slow_at):
        s = (order[slow_at] - n_fast).astype(np.int32)
        slow_index[slow_at] = s
        index[:, slow_at] = len(tokens) + s[None, :] * k + np.arange(k, dtype=np.int32)[:, None]
        tokens = pa.concat_arrays([tokens, _slow_strings(slow.records)])
        times = pa.array([r["time"] for r in slow.records], TIMESTAMP)
        millis[slow_at] = pc.fill_null(times.cast(pa.int64()), 0).to_numpy()[s]
        time_null = np.zeros(n, dtype=bool)
        time_null[slow_at] = times.is_null().to_numpy(zero_copy_only=False)[s]
        if any(r["additionalFields"] for r in slow.records):
            additional = _slow_column([r["additionalFields"] for r in slow.records], _ADDITIONAL_TYPE,
                                      slow_index, is_fast)
    mask = null.ravel()
    taken = pc.take(tokens, pa.array(index.ravel(), mask=mask) if mask.any() else pa.array(index.ravel()))
    bad = np.zeros(n, dtype=bool)
    columns: dict[str, pa.Array] = {
        "time": pa.array(millis, pa.int64(), mask=time_null if time_null is not None and time_null.any() else None)
        .cast(TIMESTAMP)}
    # Digits only (Arrow's cast alone would take "-5" and "0x5"), at most 18 of them.
    numbers = taken.slice(0, len(_INT_NAMES) * n)
    digits = pc.fill_null(pc.and_(pc.ascii_is_decimal(numbers), pc.less_equal(pc.utf8_length(numbers), 18)), True)
    if not pc.all(digits).as_py():  # the line parser will say which row and why
        bad |= ~digits.to_numpy(zero_copy_only=False).reshape(len(_INT_NAMES), n).all(axis=0) & is_fast
    else:
        numbers = pc.cast(numbers, pa.int64())
    for j, name in enumerate(_STRING_NAMES):
        column = (numbers if j < len(_INT_NAMES) else taken).slice(j * n, n)
        if name == "remoteip":
            bad |= ~valid_ips(column) & is_fast
        columns[name] = column
    if bad.any():
        return pa.table({}), np.isin(fast.rows, rows[order][bad])
    columns["additionalFields"] = additional
    table = pa.table(columns, schema=LOG_COLUMNS_SCHEMA)
    return table.append_column("__index", pa.array(rows[order], pa.int64())), np.zeros(n_fast, dtype=bool)


def _valid_utf8(data: bytes) -> bytes:
    if data.isascii():  # the usual case (keys are URL-encoded): no decoding pass needed
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace").encode("utf-8")
    return data


def parse_chunk(data: bytes | str, max_line: int = DEFAULT_MAX_RECORD_BYTES) -> ChunkResult:
    """Parse a chunk of complete lines. Empty lines are skipped (they hold no record); lines
    longer than `max_line` bytes are rejected by reference (no text kept)."""
    data = data.encode("utf-8") if isinstance(data, str) else _valid_utf8(data)
    if not data.endswith(b"\n"):
        data += b"\n"
    lines = _lines(data)
    rejected = _too_long(lines, max_line)
    long_lines = len(rejected)
    fast = _candidates(lines)
    nonempty = lines.ends > lines.starts
    slow_mask = nonempty.copy()
    slow_mask[fast.rows] = False
    slow = _SlowRows([], [])
    _parse_lines(data, lines, np.flatnonzero(slow_mask), slow, rejected)
    if long_lines:
        rejected.sort(key=lambda r: r.index)
    table, bad = _assemble(data, fast, slow)
    if bad.any():  # rare: lines of the common shape with an invalid value; the line parser says why
        _parse_lines(data, lines, fast.rows[bad], slow, rejected)
        rejected.sort(key=lambda r: r.index)
        table, _ = _assemble(data, fast.without(bad), slow)
    return ChunkResult(table=table, rejected=rejected, lines=int(nonempty.sum()) + long_lines,
                       newlines=len(lines.starts))


def _too_long(lines: _Lines, max_line: int) -> list[Rejected]:
    """Lines over the limit: rejected by reference and hidden from both parsers (made empty)."""
    lengths = lines.raw_ends - lines.starts
    found = np.flatnonzero(lengths > max_line)
    if not len(found):
        return []
    lines.ends[found] = lines.starts[found]
    return [Rejected(int(i), f"line is longer than the maximum record size ({max_line:,} bytes): "
                             f"{int(lengths[i]):,} bytes", None, int(lengths[i])) for i in found]


def _line(data: bytes, lines: _Lines, position: int) -> str:
    return data[lines.starts[position]:lines.ends[position]].decode("utf-8")


def _parse_lines(data: bytes, lines: _Lines, positions: np.ndarray, slow: _SlowRows, rejected: list[Rejected]) -> None:
    for position in positions.tolist():
        line = _line(data, lines, position)
        try:
            slow.add(position, parse_access_line(line))
        except LineError as exc:
            raw = data[lines.starts[position]:lines.raw_ends[position]].decode("utf-8")
            rejected.append(Rejected(position, str(exc), raw, int(lines.raw_ends[position] - lines.starts[position])))

