"""Write S3 server access log lines: the inverse of the parser.

The one formatter of the project: the benchmark's generator, the tests and the demo's traffic
generator all build lines with `format_access_log_line`, so no twin formatter drifts from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from detectors.schema import S3_ACCESS_FIELDS, S3_ACCESS_QUOTED_FIELDS

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_access_time(value: datetime) -> str:
    """`[06/Feb/2019:00:00:38 +0000]`; a naive datetime is taken as UTC, an aware one keeps its offset."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    offset = value.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return (f"[{value.day:02d}/{_MONTHS[value.month - 1]}/{value.year:04d}:"
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} {sign}{hours:02d}{mins:02d}]")


def _token(name: str, value: Any) -> str:
    if name == "time":
        return format_access_time(value) if isinstance(value, datetime) else str(value)
    if value is None or value == "":
        return '"-"' if name in S3_ACCESS_QUOTED_FIELDS else "-"
    text = str(value)
    return f'"{text}"' if name in S3_ACCESS_QUOTED_FIELDS else text


def format_access_log_line(fields: Mapping[str, Any], field_count: int = len(S3_ACCESS_FIELDS)) -> str:
    """One log line (no newline) from a record with the schema's field names.

    `field_count` picks the format generation (18..27 fields); missing fields are written as
    `-` and `additionalFields` (a list) is appended after the known fields. Values are written
    as given: quoted fields are wrapped in quotes without escaping, exactly as S3 does.
    """
    if not 18 <= field_count <= len(S3_ACCESS_FIELDS):
        raise ValueError(f"field_count must be 18..{len(S3_ACCESS_FIELDS)}, got {field_count}")
    tokens = [_token(name, fields.get(name)) for name in S3_ACCESS_FIELDS[:field_count]]
    tokens.extend(str(extra) for extra in fields.get("additionalFields") or ())
    return " ".join(tokens)
