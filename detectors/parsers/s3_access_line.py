"""S3 server access log: the precise, per-line parser.

This is the reference implementation of the format and the source of quarantine reasons. The
vectorized parser (`s3_access.py`) handles the common case on whole batches and hands every
line it rejects to `parse_access_line`, so a bad line always gets a specific reason.

Format (AWS "Amazon S3 server access log format"): space-separated fields; the time is one
bracketed field `[06/Feb/2019:00:00:38 +0000]`; request-URI, referrer and user agent are quoted
and may themselves contain raw `"`; `-` (bare or quoted) means absent; 18 fields in the oldest
generation, 27 today; anything after the known fields is kept in `additionalFields`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from detectors.parsers.limits import OUT_OF_RANGE, in_lake_range
from detectors.parsers.pfields import is_ip_address
from detectors.schema import (
    S3_ACCESS_FIELDS,
    S3_ACCESS_INT_FIELDS,
    S3_ACCESS_MIN_FIELDS,
)

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}

# Fields before the request-URI, split on single spaces; the time takes two tokens.
_HEAD_TOKENS = 9
# Fields after the user agent (versionid onwards), unquoted.
_TAIL_FIELDS = S3_ACCESS_FIELDS[17:]

# After the head: "URI" status error bytes size total turnaround "referrer" "UA" [tail...].
# The URI is taken as short as possible, the referrer too, the user agent runs to the last
# quote: the fixed unquoted fields between them (numbers or `-`) anchor the split when quotes
# appear inside quoted fields.
_NUM = r"[0-9]+|-"
_BODY_PATTERN = (
    r'(?P<requesturi>"(?:.*?)"|-) (?P<httpstatus>{n}) (?P<errorcode>\S+) (?P<bytessent>{n}) '
    r'(?P<objectsize>{n}) (?P<totaltime>{n}) (?P<turnaroundtime>{n}) '
    r'(?P<referrer>"(?:.*?)"|-) (?P<useragent>"(?:.*)"|-)'
)
# Common case: the user agent is quoted, so it ends at the line's last quote and everything after
# it is the unquoted tail; matching the part up to that quote never backtracks far.
_BODY = re.compile(_BODY_PATTERN.format(n=_NUM), re.DOTALL)
# General case (e.g. a bare `-` user agent): the tail is found by the regex itself.
_REST = re.compile(_BODY_PATTERN.format(n=_NUM) + r'(?P<tail>(?: [^ "]*)*)', re.DOTALL)
# The same shape with any token where numbers belong: tells which number is bad.
_REST_LOOSE = re.compile(_BODY_PATTERN.format(n=r"\S+") + r'(?P<tail>(?: [^ "]*)*)', re.DOTALL)
# A field AWS adds after the known ones may be quoted (`... Yes "a b" c`); the user agent then
# does not run to the line's last quote. Such a line has every known field, unquoted, before it.
_TAIL_TOKEN = re.compile(r' ("[^"]*"|[^ "]*)')
_REST_QUOTED_EXTRA = re.compile(
    _BODY_PATTERN.format(n=_NUM) + rf'(?P<tail>(?: [^ "]*){{{len(_TAIL_FIELDS)}}}(?: (?:"[^"]*"|[^ "]*))+)',
    re.DOTALL)
_MAX_QUOTES_TRIED = 64  # each quote is a place the user agent may close: bounded backtracking


def _match_rest(rest: str) -> dict[str, str] | None:
    last_quote = rest.rfind('"')
    tail = rest[last_quote + 1:]
    if last_quote > 0 and (not tail or tail[0] == " "):
        body = _BODY.fullmatch(rest, 0, last_quote + 1)
        if body is not None:
            known = tail.count(" ")
            if known < len(_TAIL_FIELDS) and '"' in body["useragent"][1:-1]:
                extra = _quoted_extra(rest)
                if extra is not None:
                    return extra
            return {**body.groupdict(), "tail": tail}
    match = _REST.fullmatch(rest)
    return match.groupdict() if match else _quoted_extra(rest)


def _quoted_extra(rest: str) -> dict[str, str] | None:
    """The split with every known field after the user agent and quoted fields after those: for
    a line whose last quote closes an added field, not the user agent."""
    if rest.count('"') > _MAX_QUOTES_TRIED:
        return None
    match = _REST_QUOTED_EXTRA.fullmatch(rest)
    return match.groupdict() if match else None


class LineError(ValueError):
    """A line that is not a valid S3 server access log record; the message is the reason."""


def parse_time(day_token: str, offset_token: str) -> datetime:
    """`[06/Feb/2019:00:00:38` + `+0000]` -> naive UTC datetime."""
    if not (day_token.startswith("[") and offset_token.endswith("]")):
        raise LineError(f"time field is not bracketed: {day_token} {offset_token}"[:200])
    text, offset = day_token[1:], offset_token[:-1]
    if len(text) != 20 or text[2] != "/" or text[6] != "/" or text[11] != ":":
        raise LineError(f"time is not dd/Mon/yyyy:HH:MM:SS: {text!r}")
    month = MONTHS.get(text[3:6])
    if month is None:
        raise LineError(f"bad month {text[3:6]!r} in time {text!r}")
    if len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdigit():
        raise LineError(f"bad time zone offset {offset!r}")
    try:
        local = datetime(int(text[7:11]), month, int(text[0:2]),
                         int(text[12:14]), int(text[15:17]), int(text[18:20]))
    except ValueError as exc:
        raise LineError(f"invalid time {text!r}: {exc}") from None
    shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
    try:
        utc = local - shift if offset[0] == "+" else local + shift
    except OverflowError:
        raise LineError(f"time {text} {offset} is {OUT_OF_RANGE}") from None
    if not in_lake_range(utc):
        raise LineError(f"time {text} {offset} is {OUT_OF_RANGE}")
    return utc


def _unquote(token: str) -> str | None:
    if token.startswith('"') and token.endswith('"') and len(token) >= 2:
        token = token[1:-1]
    return None if token == "-" else token


def _bare(token: str) -> str | None:
    return None if token == "-" else token


def _int_field(name: str, token: str) -> int | None:
    if token == "-":
        return None
    if not token.isdigit() or not token.isascii():
        raise LineError(f"{name} is not a number: {token[:60]!r}")
    if len(token) > 18:  # beyond int64; no real size or time is this large
        raise LineError(f"{name} is out of range: {token[:60]!r}")
    return int(token)


def _check_ip(token: str) -> str | None:
    if token == "-":
        return None
    if not is_ip_address(token):
        raise LineError(f"remoteip is not an IP address: {token[:60]!r}")
    return token


def parse_access_line(line: str) -> dict[str, Any]:
    """One log line -> record with the schema's field names (time as naive UTC datetime).

    Raises LineError with the reason when the line is not a valid record.
    """
    line = line.rstrip(" \r\n")  # a trailing blank or CR is never a field (S3 writes "-" for empty)
    stripped = line.lstrip()
    if stripped.startswith(("{", "[")):
        raise LineError("JSON text, not an S3 server access log line")
    head = line.split(" ", _HEAD_TOKENS)
    if len(head) <= _HEAD_TOKENS:
        raise LineError(f"truncated: {len(head)} space-separated tokens, need at least {S3_ACCESS_MIN_FIELDS + 1}")
    owner, bucket, day_token, offset_token, remoteip, requester, requestid, operation, key, rest = head
    record: dict[str, Any] = {
        "bucketowner": _bare(owner),
        "bucket": _bare(bucket),
        "time": parse_time(day_token, offset_token),
        "remoteip": _check_ip(remoteip),
        "requester": _bare(requester),
        "requestid": _bare(requestid),
        "operation": _bare(operation),
        "key": _bare(key),
    }
    groups = _match_rest(rest)
    if groups is None:
        raise LineError(_describe_bad_rest(rest))
    for name in ("requesturi", "referrer", "useragent"):
        record[name] = _unquote(groups[name])
    for name in ("httpstatus", "errorcode", "bytessent", "objectsize", "totaltime", "turnaroundtime"):
        token = groups[name]
        record[name] = _int_field(name, token) if name in S3_ACCESS_INT_FIELDS else _bare(token)
    tail = _TAIL_TOKEN.findall(groups["tail"])
    if not tail:
        raise LineError(f"truncated: 17 fields, need at least {S3_ACCESS_MIN_FIELDS} (versionid missing)")
    for name, token in zip(_TAIL_FIELDS, tail, strict=False):
        record[name] = _bare(token)
    for name in _TAIL_FIELDS[len(tail):]:
        record[name] = None
    extra = tail[len(_TAIL_FIELDS):]
    record["additionalFields"] = extra or None
    return record


def _describe_bad_rest(rest: str) -> str:
    """Why the part after the key does not fit: the most specific reason we can tell."""
    if not rest.strip():
        return "truncated: nothing after the key"
    loose = _REST_LOOSE.fullmatch(rest)
    if loose is not None:
        for name in ("httpstatus", "bytessent", "objectsize", "totaltime", "turnaroundtime"):
            _int_field(name, loose.group(name))
    first = rest.split(" ", 1)[0]
    if not first.startswith('"') and first != "-":
        return f"request-URI is not quoted: {first[:60]!r}"
    quotes = rest.count('"')
    if quotes < 6:
        return f"truncated: {quotes} quote characters after the key, need at least 6"
    if quotes % 2 == 1:
        return "truncated: unterminated quoted field"
    return ('fields after the key do not match: "URI" status error bytes size total turnaround '
            '"referrer" "user agent" versionid ...')
