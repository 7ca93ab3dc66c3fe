"""CloudTrail log files: `{"Records": [...]}` documents (digest files are recognised, not parsed),
also joined end to end, and single events (EventBridge's envelope or a CloudTrail Lake export,
one document or JSON lines). Also what incident responders have at hand without a trail: the
output of `aws cloudtrail lookup-events` (Event history: `{"Events": [{"CloudTrailEvent": "<the
record as JSON text>", ...}]}`) and a plain JSON array of records (`jq '.Records'` and exports).
And a trail sent to CloudWatch Logs and on through a subscription filter to Firehose, which writes
the subscription messages (`{"messageType": "DATA_MESSAGE", ..., "logEvents": [{"message": "<the
record as JSON text>"}]}`) to S3, gzip member after gzip member.

Records are streamed one by one (`TrailReader`): a log file is never held whole in memory. The
reader keeps a text window over the decompressed bytes and decodes each record with the standard
library's C decoder (`json.JSONDecoder.raw_decode`) at its position; the window only grows while
one record is incomplete. Every record is either yielded or reported as a `Problem` with its
position, byte offset and reason, and reading goes on with the next record:
- a record that is not an object, has no valid `eventTime`, or is dated outside the lake's
  range; a record nested deeper than MAX_DEPTH; invalid JSON inside one record (its extent is
  found by counting brackets outside strings, so the records after it are still read);
- a record longer than the maximum record size: skipped without being kept, by reference;
- text that cannot be read further (truncated file, corrupt gzip, garbage between records):
  the rest of the file is one problem.
Lone UTF-16 surrogates (`"\\ud800"`) and bytes that are not UTF-8 become U+FFFD in the record
(as invalid bytes do in access logs): the record stays visible to the rules.

Records are kept whole for the rules; for the lake, top-level fields become columns and nested
objects JSON text (see detectors.schema).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detectors.parsers.limits import DEFAULT_MAX_RECORD_BYTES, MAX_DEPTH, OUT_OF_RANGE, in_lake_range
from detectors.schema import (
    CLOUDTRAIL_BOOL_FIELDS,
    CLOUDTRAIL_JSON_FIELDS,
    CLOUDTRAIL_KNOWN_FIELDS,
    CLOUDTRAIL_STRING_FIELDS,
    PARTITION_COLUMNS,
)

CLOUDTRAIL_DIGEST = "CloudTrail.Digest"  # pseudo log type of digest files: recognised and skipped
DIGEST_KEYS = frozenset({"digestStartTime", "digestEndTime", "digestS3Bucket", "previousDigestSignature"})
READ_BLOCK = 1024 * 1024
_COMPACT_AT = 1024 * 1024

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r\ufeff]*")
# The start of a list of records read one by one: a trail file's Records, lookup-events' Events
# (each holding its record as JSON text), or a document that is itself an array of records.
_ARRAY_HEAD = re.compile(r'\{[ \t\n\r]*"(?P<key>Records|Events)"[ \t\n\r]*:[ \t\n\r]*\[|\[')
RECORDS, EVENTS, ARRAY = "Records", "Events", "array"
_STRUCTURAL = re.compile(r'["\[\]{}]')
_IN_STRING = re.compile(r'["\\]')
_SCALAR = re.compile(r'[^\s,\]}]*')
# Lone surrogates: JSON escapes of surrogates, or bytes that were not UTF-8 (surrogate-escaped).
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


_LONE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` as valid Unicode: each lone surrogate (an escaped byte too) becomes one U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE.sub("\ufffd", text)
    return text


@dataclass
class TrailRecord:
    index: int            # 0-based position among the file's records
    record: dict[str, Any]
    event_time: datetime  # naive UTC
    chars: int            # its size in characters (memory accounting)


@dataclass
class Problem:
    """Something that is not a record: one quarantine entry."""
    index: int | None     # record position (0-based); None for a whole document or the rest of the file
    offset: int           # byte offset in the decompressed content
    size: int             # bytes
    reason: str
    raw: str | None       # the text, or None when it is quarantined by reference


class DigestSkipped:
    """A CloudTrail digest document (recognised and skipped, not a record)."""


@dataclass
class _Value:
    value: Any = None
    start: int = 0        # text index
    end: int = 0
    offset: int = 0       # byte offset
    size: int = 0
    error: str | None = None
    raw: str | None = None
    fatal: bool = False   # the stream ended inside the value: nothing follows


class _Extent:
    """Where the JSON value starting at text index `start` ends, without decoding it: strings are
    skipped whole (escapes included) and brackets counted. Resumable as more text arrives."""

    def __init__(self, start: int) -> None:
        self.i = start
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.begun = False

    def scan(self, text: str, final: bool) -> int | None:
        i, n = self.i, len(text)
        if not self.begun:
            if i >= n:
                return i if final else None
            if text[i] not in '{["':
                end = _SCALAR.match(text, i).end()  # type: ignore[union-attr]
                if end == n and not final:
                    return None
                return max(end, i + 1)
            self.begun = True
        while i < n:
            if self.in_string:
                if self.escape:
                    self.escape, i = False, i + 1
                    continue
                match = _IN_STRING.search(text, i)
                if match is None:
                    i = n
                    break
                i = match.end()
                if match.group() == "\\":
                    self.escape = True
                    continue
                self.in_string = False
                if self.depth == 0:
                    return i
                continue
            match = _STRUCTURAL.search(text, i)
            if match is None:
                i = n
                break
            i, char = match.end(), match.group()
            if char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth <= 0:
                    return i
        self.i = i
        return None

    def shift(self, by: int) -> None:
        self.i -= by


class TrailReader:
    """Records of a CloudTrail file, streamed: `TrailRecord`, `Problem` or `DigestSkipped` items
    in file order. `cut()` returns the SHA-256 of the bytes consumed since the previous cut (row
    ids and the lake's content digests derive from it)."""

    def __init__(self, stream: Any, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 allow_digest: bool = True, block: int = READ_BLOCK) -> None:
        self.stream = stream
        self.max_bytes = max_record_bytes
        self.allow_digest = allow_digest
        self.block = block
        self.text = ""
        self.pos = 0
        self.base = 0          # byte offset of text[0]
        self.eof = False
        self.index = 0         # records seen
        self._ascii = True
        self._hashed = 0       # text index up to which the hash is updated
        self._hash = hashlib.sha256()
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._read_any = False
        self.stopped_early = False  # the rest of the file was one problem (truncated, not JSON)

    # -- buffer --------------------------------------------------------------------------------
    def _more(self, at_least: int = 0) -> bool:
        """Append the next block (bigger when one value is already large: amortized linear)."""
        if self.eof:
            return False
        data = self.stream.read(max(self.block, at_least))
        if not data:
            self.text += self._decoder.decode(b"", final=True)
            self.eof = True
            return False
        self._read_any = True
        self._ascii = self._ascii and data.isascii()
        self.text += self._decoder.decode(data)
        return True

    def _bytes(self, start: int, end: int) -> int:
        if self._ascii:
            return end - start
        return len(self.text[start:end].encode("utf-8", "surrogateescape"))

    def _offset(self, i: int) -> int:
        return self.base + self._bytes(0, i)

    def _drop(self, upto: int) -> None:
        """Forget text before index `upto` (hashing it first)."""
        if upto <= 0:
            return
        if upto > self._hashed:
            self._hash.update(self.text[self._hashed:upto].encode("utf-8", "surrogateescape"))
        self.base += self._bytes(0, upto)
        self.text = self.text[upto:]
        self.pos -= upto
        self._hashed = max(0, self._hashed - upto)
        if not self._ascii:
            self._ascii = self.text.isascii()

    def _compact(self) -> None:
        if self.pos > _COMPACT_AT:
            self._drop(self.pos)

    def cut(self) -> bytes:
        if self.pos > self._hashed:
            self._hash.update(self.text[self._hashed:self.pos].encode("utf-8", "surrogateescape"))
            self._hashed = self.pos
        digest, self._hash = self._hash.digest(), hashlib.sha256()
        return digest

    def _peek(self) -> str:
        """The next character after white space ('' at the end)."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text):
                return self.text[self.pos]
            self._compact()
            if not self._more():
                return ""

    # -- values ----------------------------------------------------------------------------------
    def _value(self) -> _Value:
        """Decode the JSON value at `pos`, or say why not and step over it."""
        start = self.pos
        extent = _Extent(start)
        while True:
            error: str | None = None
            try:
                value, end = _DECODER.raw_decode(self.text, start)
            except RecursionError:
                error = f"nested deeper than {MAX_DEPTH} levels"
            except json.JSONDecodeError as exc:
                error = f"not valid JSON: {exc.msg} at character {exc.pos - start + 1} of the value"
            except ValueError as exc:  # an integer of more than 4,300 digits
                error = f"not valid JSON: {_short(exc)}"
            else:
                if end < len(self.text) or self.eof or isinstance(value, dict | list | str):
                    self.pos = end
                    return _Value(value, start, end, self._offset(start), self._bytes(start, end))
            found = extent.scan(self.text, self.eof)
            if found is not None and error is not None:
                self.pos = found
                return _Value(None, start, found, self._offset(start), self._bytes(start, found), error,
                              self.text[start:found])
            if found is None and self.eof:
                self.pos = len(self.text)
                return _Value(None, start, self.pos, self._offset(start), self._bytes(start, self.pos),
                              "truncated: the text ends inside this value", self.text[start:], fatal=True)
            if self._bytes(start, len(self.text)) > self.max_bytes:
                return self._skip_oversize(start, extent)
            self._more(len(self.text) - start)

    def _skip_oversize(self, start: int, extent: _Extent) -> _Value:
        """A value longer than the limit: find its end without keeping it (by reference)."""
        offset = self._offset(start)
        while True:
            found = extent.scan(self.text, self.eof)
            if found is not None:
                self.pos = found
                size = self._offset(found) - offset
                return _Value(None, 0, 0, offset, size,
                              f"larger than the maximum record size ({self.max_bytes:,} bytes): {size:,} bytes")
            self.pos = len(self.text)
            self._drop(self.pos)  # scanned: hashed and forgotten
            extent.i = 0
            if not self._more():
                size = self.base - offset
                return _Value(None, 0, 0, offset, size,
                              f"truncated inside a value larger than the maximum record size "
                              f"({self.max_bytes:,} bytes): {size:,} bytes", fatal=True)

    # -- documents -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[TrailRecord | Problem | DigestSkipped]:
        documents = 0
        while True:
            char = self._peek()
            if not char:
                break
            documents += 1
            kind = self._array_head() if char in "{[" else None
            if kind is not None:
                done = yield from self._records_array(kind)
            else:
                done = yield from self._document()
            if done:
                return
            self._compact()
        error = getattr(self.stream, "error", None)
        if error:
            yield Problem(None, self._offset(self.pos), 0, error, None)
        elif not documents:
            yield Problem(None, 0, 0, "empty file: no JSON document" if not self._read_any
                          else "no JSON document, only white space", "")

    def _array_head(self) -> str | None:
        """RECORDS, EVENTS or ARRAY when the document here starts a list of records (read past
        its `[`), else None."""
        while len(self.text) - self.pos < 64 and self._more():
            pass
        match = _ARRAY_HEAD.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return match.group("key") or ARRAY

    def _records_array(self, kind: str) -> Iterator[TrailRecord | Problem]:
        """Records one by one, then the end of the document. Returns True when nothing follows."""
        first = True
        while True:
            char = self._peek()
            if char == "]":
                self.pos += 1
                break
            if not first:
                if char != ",":
                    yield self._rest(f"expected ',' or ']' after record {self.index}")
                    return True
                self.pos += 1
                char = self._peek()
            if not char:
                yield self._rest(f"truncated: the text ends inside Records after record {self.index}")
                return True
            first = False
            item = self._oversize_error(self._value())
            whole = True
            if kind == EVENTS and not item.error:
                item, whole = _from_event_history(item)
            index, self.index = self.index, self.index + 1
            yield self._problem(index, item) if item.error else self._record(index, item, whole)
            if item.fatal:
                self.stopped_early = True
                return True
            self._compact()
        if kind == ARRAY:
            return False
        return (yield from self._document_end())

    def _document_end(self) -> Iterator[Problem]:
        """After Records or Events: `}`, or more members (read and ignored: a trail file has none,
        lookup-events' NextToken says nothing about the events); anything else ends the file.
        Returns True when nothing can follow."""
        while True:
            char = self._peek()
            if char == "}":
                self.pos += 1
                return False
            if char != ",":
                yield self._rest("expected '}' after Records" if char else
                                 "truncated: the text ends inside the document")
                return True
            self.pos += 1
            self._peek()
            key = self._value()
            if key.error or not isinstance(key.value, str) or self._peek() != ":":
                yield self._rest("expected a key and ':' after Records")  # from here: _peek may have moved the text
                return True
            self.pos += 1
            self._peek()
            value = self._value()
            if value.error:
                yield self._rest(f"after Records: {value.error}", start=value.start)
                return True

    def _document(self) -> Iterator[TrailRecord | Problem | DigestSkipped]:
        """A document that does not start with Records: a single event, an EventBridge envelope,
        a digest, a Records document in another key order, or not a trail file."""
        if self.text[self.pos] not in "{[":
            yield self._rest("not a CloudTrail log file: expected a JSON object")
            return True
        item = self._value()
        if item.error:
            yield self._problem(None, item)
            self.stopped_early = self.stopped_early or item.fatal
            return item.fatal
        document = item.value
        if not isinstance(document, dict):
            yield self._problem(None, _failed(item, f"JSON value is a {type(document).__name__}, expected an object "
                                                    "with Records"))
            return False
        records = document.get("Records")
        if "Records" not in document and is_log_subscription(document):
            yield from self._log_events(document, item)
            return False
        if isinstance(records, list):
            for element in records:
                index, self.index = self.index, self.index + 1
                yield self._record(index, _Value(element, item.start, item.end, item.offset, item.size), whole=False)
            return False
        if "Records" not in document:
            if self.allow_digest and DIGEST_KEYS & document.keys():
                yield DigestSkipped()
                return False
            event = _single_event(document)
            if event is not None:
                index, self.index = self.index, self.index + 1
                if self._oversize_error(item).error:
                    yield self._problem(index, item)
                else:
                    yield self._record(index, _Value(event, item.start, item.end, item.offset, item.size),
                                       whole=False)
                return False
        reason = (f"Records is a {type(records).__name__}, expected a list" if "Records" in document
                  else "JSON object has no Records list: not a CloudTrail log file")
        yield self._problem(None, _failed(item, reason))
        return False

    def _log_events(self, document: dict[str, Any], item: _Value) -> Iterator[TrailRecord | Problem]:
        """A CloudWatch Logs subscription message's records. A CONTROL_MESSAGE (CloudWatch Logs
        checking that the destination is reachable) holds no log data: nothing to read."""
        if document["messageType"] == "CONTROL_MESSAGE":
            return
        for element in document["logEvents"]:
            index, self.index = self.index, self.index + 1
            part = _from_log_event(_Value(element, item.start, item.end, item.offset, item.size),
                                   document.get("logGroup"))
            yield self._problem(index, part) if part.error else self._record(index, part, whole=False)

    def _rest(self, reason: str, start: int | None = None) -> Problem:
        """Everything from here to the end is one problem (counted, kept if small, else by reference)."""
        self.stopped_early = True
        start = self.pos if start is None else start
        offset = self._offset(start)
        kept = self.text[start:]
        size = self._bytes(start, len(self.text))
        self._drop(len(self.text))
        while self._more():
            size += self._bytes(0, len(self.text))
            if len(kept) <= self.max_bytes:
                kept += self.text
            self._drop(len(self.text))
        error = getattr(self.stream, "error", None)
        if error:
            reason = f"{reason}; {error}"
        raw = clean_text(kept) if size <= self.max_bytes else None
        return Problem(None, offset, size, reason, raw)

    # -- records ---------------------------------------------------------------------------------
    def _oversize_error(self, item: _Value) -> _Value:
        """A record that arrived whole in the buffer but is over the limit is quarantined as one
        that did not (by reference: `_problem` keeps no text past the limit): the limit must not
        depend on where reads fall."""
        if not item.error and item.size > self.max_bytes:
            item.error = f"larger than the maximum record size ({self.max_bytes:,} bytes): {item.size:,} bytes"
        return item

    def _problem(self, index: int | None, item: _Value) -> Problem:
        reason = item.error or "unusable"
        error = getattr(self.stream, "error", None)
        if item.fatal and error:
            reason = f"{reason}; {error}"
        raw = None if item.raw is None or item.size > self.max_bytes else clean_text(item.raw)
        return Problem(index, item.offset, item.size, reason, raw)

    def _record(self, index: int, item: _Value, whole: bool = True) -> TrailRecord | Problem:
        value = item.value
        if not isinstance(value, dict):
            return self._bad(index, item, f"record is a {type(value).__name__}, expected an object", whole)
        text_span = (item.start, item.end) if whole else None
        if _too_deep(value, self.text, text_span):
            return self._bad(index, item, f"nested deeper than {MAX_DEPTH} levels", whole)
        if text_span is None or _SURROGATE.search(self.text, *text_span):
            value = _clean_value(value)
        try:
            event_time = parse_event_time(value.get("eventTime"))
        except ValueError as exc:
            return self._bad(index, item, str(exc), whole)
        return TrailRecord(index, value, event_time, item.end - item.start)

    def _bad(self, index: int, item: _Value, reason: str, whole: bool) -> Problem:
        raw = self.text[item.start:item.end] if whole else _dumps(item.value)
        return Problem(index, item.offset, item.size, reason, clean_text(raw))


def _from_event_history(item: _Value) -> tuple[_Value, bool]:
    """A lookup-events item's record (its `CloudTrailEvent` JSON text, decoded), and whether the
    item's text is the record's text (an item that is itself a record is taken as it is)."""
    entry = item.value
    if isinstance(entry, dict) and "CloudTrailEvent" not in entry and _is_event(entry):
        return item, True
    missing = "Events item without CloudTrailEvent text (expected aws cloudtrail lookup-events output)"
    return _embedded_record(item, "CloudTrailEvent", missing), False


def _embedded_record(item: _Value, key: str, missing: str) -> _Value:
    """The record an item holds as JSON text under `key`, decoded (or the item, failed, saying why)."""
    entry = item.value
    text = entry.get(key) if isinstance(entry, dict) else None
    if not isinstance(text, str):
        return _failed(item, missing)
    try:
        record = json.loads(text)
    except RecursionError:
        return _failed(item, f"{key} nested deeper than {MAX_DEPTH} levels")
    except ValueError as exc:
        return _failed(item, f"{key} is not valid JSON: {_short(exc)}")
    return _Value(record, item.start, item.end, item.offset, item.size)


def is_log_subscription(document: dict[str, Any]) -> bool:
    """A CloudWatch Logs subscription message (what a log group's subscription filter sends to
    Firehose, Kinesis or Lambda; Firehose writes them to S3 gzip member after gzip member)."""
    return isinstance(document.get("messageType"), str) and isinstance(document.get("logEvents"), list)


def _from_log_event(item: _Value, log_group: Any) -> _Value:
    """A subscription message's log event: its `message` is one CloudTrail record as JSON text
    (a trail delivering to CloudWatch Logs); other logs of a subscribed group are quarantined."""
    decoded = _embedded_record(item, "message", "logEvents item without message text "
                                                "(expected a CloudWatch Logs subscription message)")
    if decoded.error or (isinstance(decoded.value, dict) and _is_event(decoded.value)):
        return decoded
    return _failed(item, f"message is not a CloudTrail event (no eventVersion and eventTime; log group {log_group!r})")


def _failed(item: _Value, reason: str) -> _Value:
    item.error = reason
    item.raw = _dumps(item.value)
    return item


def _single_event(document: dict[str, Any]) -> dict[str, Any] | None:
    """One event as delivered by EventBridge (`detail`) or exported from CloudTrail Lake."""
    detail = document.get("detail")
    if "detail-type" in document and isinstance(detail, dict) and _is_event(detail):
        return detail
    return document if _is_event(document) else None


def _is_event(document: dict[str, Any]) -> bool:
    return "eventVersion" in document and "eventTime" in document


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "..."


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):
        return repr(value)[:1000]


def _too_deep(value: Any, text: str, span: tuple[int, int] | None) -> bool:
    """Exact depth only when the bracket count says it could exceed MAX_DEPTH (rare)."""
    if span is not None and text.count("{", *span) + text.count("[", *span) <= MAX_DEPTH:
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return False


def _clean_value(value: Any) -> Any:
    """The value with every string (keys too) as valid Unicode (iterative: depth is bounded,
    but no recursion is needed)."""
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if isinstance(item, dict | list):
                copy: Any = {} if isinstance(item, dict) else []
                stack.append((item, copy))
                item = copy
            elif isinstance(item, str):
                item = clean_text(item)
            if isinstance(target, dict):
                target[clean_text(key)] = item
            else:
                target.append(item)
    return root


def is_digest(document: dict[str, Any]) -> bool:
    return "Records" not in document and bool(DIGEST_KEYS & document.keys())


def parse_event_time(value: Any) -> datetime:
    """`eventTime` as naive UTC; ValueError with the reason when it is missing, not ISO 8601, or
    outside the lake's time range."""
    if not isinstance(value, str):
        raise ValueError("eventTime missing or not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"eventTime is not an ISO 8601 time: {value[:60]!r}") from None
    try:
        if parsed.tzinfo is not None:
            parsed = (parsed - parsed.utcoffset()).replace(tzinfo=None)  # type: ignore[operator]
    except OverflowError:
        raise ValueError(f"eventTime {value[:60]!r} is {OUT_OF_RANGE}") from None
    if not in_lake_range(parsed):
        raise ValueError(f"eventTime {value[:60]!r} is {OUT_OF_RANGE}")
    return parsed


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    return None


def _string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def to_row(record: dict[str, Any], event_time: datetime) -> dict[str, Any]:
    """A record -> lake row (log columns only; p_ fields are added by the pipeline)."""
    row: dict[str, Any] = {"eventTime": event_time}
    for name in CLOUDTRAIL_STRING_FIELDS:
        row[name] = _string(record.get(name))
    for name in CLOUDTRAIL_BOOL_FIELDS:
        row[name] = _bool(record.get(name))
    for name in CLOUDTRAIL_JSON_FIELDS:
        value = record.get(name)
        row[name] = None if value is None else json.dumps(value, separators=(",", ":"))
    unknown = {k: v for k, v in record.items() if k not in CLOUDTRAIL_KNOWN_FIELDS}
    row["additionalFields"] = json.dumps(unknown, separators=(",", ":")) if unknown else None
    return row


def from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A lake row (as a query returns it) -> the record rules see: the inverse of `to_row`, with
    the row's p_ fields (and rule-match fields) kept. Times read back as CloudTrail writes them."""
    record: dict[str, Any] = {}
    extra = row.get("additionalFields")
    if extra:
        record.update(json.loads(extra))
    for name, value in row.items():
        if value is None or name == "additionalFields" or name in PARTITION_COLUMNS:
            continue
        if name in CLOUDTRAIL_JSON_FIELDS and isinstance(value, str):
            record[name] = json.loads(value)
        elif name == "eventTime":
            record[name] = _cloudtrail_time(value)
        else:
            record[name] = value
    return record


def _cloudtrail_time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = str(value)
    return f"{text[:10]}T{text[11:19]}Z" if len(text) >= 19 and text[10] in " T" else text
