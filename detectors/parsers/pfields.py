"""Panther's p_ fields, added to parsed rows (vectorized for access logs, per record for CloudTrail)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.schema import STRING_LIST, TIMESTAMP

_ARN_ACCOUNT = r"^arn:[^:]*:[^:]*:[^:]*:(?P<account>[0-9]{12}):"
_ARN_ACCOUNT_RE = re.compile(_ARN_ACCOUNT)
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


ROW_NUMBER_DIGITS = 7


def row_ids(digest: str, positions: pa.Array | np.ndarray) -> pa.Array:
    """Deterministic ids: digest of the chunk's bytes + the line's position in it (7 digits).

    Built as one fixed-width byte matrix in numpy: no per-row string work."""
    numbers = np.asarray(positions, dtype=np.int64)
    prefix = np.frombuffer(digest.encode("ascii"), dtype=np.uint8)
    width = len(prefix) + ROW_NUMBER_DIGITS
    matrix = np.empty((len(numbers), width), dtype=np.uint8)
    matrix[:, : len(prefix)] = prefix
    rest = numbers.copy()
    for column in range(width - 1, len(prefix) - 1, -1):
        matrix[:, column] = 48 + rest % 10
        rest //= 10
    offsets = np.arange(len(numbers) + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.string(), len(numbers), [None, pa.py_buffer(offsets), pa.py_buffer(matrix)])


def _lists(columns: list[pa.Array], dedup: bool = True) -> pa.Array:
    """Per row, the non-null values of `columns` (in column order, duplicates dropped) as a list."""
    n = len(columns[0])
    valid = np.stack([c.is_valid().to_numpy(zero_copy_only=False) for c in columns], axis=1)
    if dedup and len(columns) == 2:
        same = pc.fill_null(pc.equal(columns[0], columns[1]), False).to_numpy(zero_copy_only=False)
        valid[:, 1] &= ~same
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(valid.sum(axis=1), out=offsets[1:])
    # Row-major interleave of the columns, then keep the valid cells.
    order = (np.arange(len(columns))[None, :] * n + np.arange(n)[:, None]).ravel()
    stacked = pa.concat_arrays([c.cast(pa.string()) for c in columns])
    values = pc.filter(pc.take(stacked, pa.array(order)), pa.array(valid.ravel()))
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=STRING_LIST)


def _constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    return pa.repeat(pa.scalar(value, type_), n) if n else pa.array([], type_)


def add_s3_access_p_fields(table: pa.Table, log_type: str, source: str, parse_time: datetime,
                           ids: pa.Array) -> pa.Table:
    n = table.num_rows
    requester = table["requester"].combine_chunks()
    arn_requester = pc.if_else(pc.fill_null(pc.starts_with(requester, "arn:"), False), requester,
                               pa.scalar(None, pa.string()))
    accesspoint = table["accesspointarn"].combine_chunks()
    accounts = [pc.struct_field(pc.extract_regex(pc.fill_null(col, ""), _ARN_ACCOUNT), "account")
                for col in (arn_requester, accesspoint)]
    accounts = [pc.if_else(pc.equal(a, ""), pa.scalar(None, pa.string()), a) for a in accounts]
    extra = {
        "p_log_type": _constant(log_type, n, pa.string()),
        "p_row_id": ids,
        "p_event_time": table["time"].combine_chunks(),
        "p_parse_time": _constant(parse_time, n, TIMESTAMP),
        "p_source": _constant(source, n, pa.string()),
        "p_any_ip_addresses": _lists([table["remoteip"].combine_chunks()]),
        "p_any_aws_arns": _lists([arn_requester, accesspoint]),
        "p_any_aws_account_ids": _lists(accounts),
    }
    for name, column in extra.items():
        table = table.append_column(name, column)
    return table


def _walk_strings(value: Any) -> Iterable[tuple[str | None, str]]:
    """(key, string) for every string anywhere inside a JSON value."""
    stack: list[tuple[str | None, Any]] = [(None, value)]
    while stack:
        key, item = stack.pop()
        if isinstance(item, str):
            yield key, item
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((key, v) for v in reversed(item))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def cloudtrail_indicators(record: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(ip addresses, ARNs, account ids) found in a CloudTrail record, first-seen order."""
    ips: dict[str, None] = {}
    arns: dict[str, None] = {}
    accounts: dict[str, None] = {}
    for key, text in _walk_strings(record):
        if text.startswith("arn:"):
            arns[text] = None
            match = _ARN_ACCOUNT_RE.match(text)
            if match:
                accounts[match.group("account")] = None
        elif key in ("accountId", "recipientAccountId", "vpcEndpointAccountId") and _ACCOUNT_ID.match(text):
            accounts[text] = None
        elif key == "sourceIPAddress" and _is_ip(text):
            ips[text] = None
    return list(ips), list(arns), list(accounts)
