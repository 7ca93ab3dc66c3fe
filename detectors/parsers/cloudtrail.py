"""CloudTrail log files: `{"Records": [...]}` documents (digest files are recognised, not parsed),
also joined end to end, and single events (EventBridge's envelope or a CloudTrail Lake export,
one document or JSON lines).

Records are kept whole for the rules; for the lake, top-level fields become columns and nested
objects JSON text (see detectors.schema).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detectors.schema import (
    CLOUDTRAIL_BOOL_FIELDS,
    CLOUDTRAIL_JSON_FIELDS,
    CLOUDTRAIL_KNOWN_FIELDS,
    CLOUDTRAIL_STRING_FIELDS,
    PARTITION_COLUMNS,
)

DIGEST_KEYS = frozenset({"digestStartTime", "digestEndTime", "digestS3Bucket", "previousDigestSignature"})


class DocumentError(ValueError):
    """A file that is not a CloudTrail log document; the message is the reason."""


@dataclass
class RecordError:
    index: int      # 0-based position in Records
    reason: str
    raw: str


_DECODER = json.JSONDecoder()


def _documents(text: str) -> list[Any]:
    """Every JSON value in `text`: one for a log file, several for files joined end to end
    (`cat a.json.gz b.json.gz`: gzip reads both members) or for JSON lines of single events."""
    found, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return found
        value, position = _DECODER.raw_decode(text, position)
        found.append(value)


def load_document(data: bytes) -> dict[str, Any]:
    """The log document; several concatenated documents or single events become one `Records`."""
    try:
        documents = _documents(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(f"not valid JSON: {exc}") from None
    for number, document in enumerate(documents, start=1):
        if not isinstance(document, dict):
            where = f"JSON value {number} " if len(documents) > 1 else "JSON document "
            raise DocumentError(f"{where}is a {type(document).__name__}, expected an object with Records")
    if not documents:
        raise DocumentError("empty file: no JSON document")
    if len(documents) == 1:
        return documents[0]
    records: list[Any] = []
    for number, document in enumerate(documents, start=1):
        try:
            records.extend(_records_of(document))
        except DocumentError as exc:
            raise DocumentError(f"JSON value {number} of {len(documents)}: {exc}") from None
    return {"Records": records}


def _is_event(document: dict[str, Any]) -> bool:
    return "eventVersion" in document and "eventTime" in document


def _records_of(document: dict[str, Any]) -> list[Any]:
    """The records a document holds: a log file's Records; one event as delivered by EventBridge
    (`detail`) or exported from CloudTrail Lake (the event itself)."""
    records = document.get("Records")
    if isinstance(records, list):
        return records
    if "Records" not in document:
        detail = document.get("detail")
        if "detail-type" in document and isinstance(detail, dict) and _is_event(detail):
            return [detail]
        if _is_event(document):
            return [document]
    raise DocumentError("JSON object has no Records list: not a CloudTrail log file")


def is_digest(document: dict[str, Any]) -> bool:
    return "Records" not in document and bool(DIGEST_KEYS & document.keys())


def split_records(document: dict[str, Any]) -> tuple[list[dict[str, Any]], list[datetime], list[RecordError]]:
    """(valid records, their event times as naive UTC, per-record errors)."""
    records = _records_of(document)
    good, times, errors = [], [], []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            errors.append(RecordError(index, f"record is a {type(record).__name__}, expected an object",
                                      json.dumps(record)))
            continue
        try:
            times.append(parse_event_time(record.get("eventTime")))
        except ValueError as exc:
            errors.append(RecordError(index, str(exc), json.dumps(record)))
            continue
        good.append(record)
    return good, times, errors


def parse_event_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("eventTime missing or not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"eventTime is not an ISO 8601 time: {value[:60]!r}") from None
    if parsed.tzinfo is not None:
        parsed = (parsed - parsed.utcoffset()).replace(tzinfo=None)
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
