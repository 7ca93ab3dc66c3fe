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

from detectors.parsers.origin import access_log_origin
from detectors.schema import STRING_LIST, TIMESTAMP

_ARN_ACCOUNT_RE = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:(?P<account>[0-9]{12}):")
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


def _single_value_lists(column: pa.Array) -> pa.Array:
    """Per row, [value] or [] when null (zero-copy when the column has no nulls)."""
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(column) + 1, dtype=np.int32)
    np.cumsum(valid, out=offsets[1:])
    values = column if column.null_count == 0 else column.drop_null()
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=STRING_LIST)


def _codes(column: pa.Array) -> tuple[np.ndarray, list[Any]]:
    encoded = pc.dictionary_encode(column).combine_chunks() if isinstance(column, pa.ChunkedArray) \
        else pc.dictionary_encode(column)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _dense_unique(values: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(values, return_inverse=True)` for integers in [0, bound): a lookup table instead
    of a sort when the bound is small (few distinct requesters and access points per chunk)."""
    if bound > 4 * len(values) + 1024:
        return np.unique(values, return_inverse=True)
    present = np.zeros(bound, dtype=bool)
    present[values] = True
    unique = np.flatnonzero(present)
    lookup = np.zeros(bound, dtype=np.int64)
    lookup[unique] = np.arange(len(unique))
    return unique, lookup[values]


def _arn_lists(requester: pa.Array, accesspoint: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(p_any_aws_arns, p_any_aws_account_ids) of access log rows.

    Requesters and access points repeat heavily, so the lists are computed once per distinct
    pair in Python and spread to the rows with one take."""
    r_codes, r_values = _codes(requester)
    a_codes, a_values = _codes(accesspoint)
    pairs, inverse = _dense_unique((r_codes + 1) * (len(a_values) + 1) + (a_codes + 1),
                                   (len(r_values) + 1) * (len(a_values) + 1))
    arns, accounts = [], []
    for pair in pairs.tolist():
        r_index, a_index = divmod(pair, len(a_values) + 1)
        found = [v for v in (r_values[r_index - 1] if r_index else None, a_values[a_index - 1] if a_index else None)
                 if v and v.startswith("arn:")]
        arns.append(list(dict.fromkeys(found)))
        ids = [m.group("account") for m in map(_ARN_ACCOUNT_RE.match, found) if m]
        accounts.append(list(dict.fromkeys(ids)))
    index = pa.array(inverse.astype(np.int32).ravel())
    return (pa.array(arns, STRING_LIST).take(index), pa.array(accounts, STRING_LIST).take(index))


def _constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    return pa.repeat(pa.scalar(value, type_), n) if n else pa.array([], type_)


def add_s3_access_p_fields(table: pa.Table, log_type: str, source: str, parse_time: datetime,
                           ids: pa.Array) -> pa.Table:
    n = table.num_rows
    origin = access_log_origin(source)  # one object holds one bucket's logs: the same for every row
    arns, accounts = _arn_lists(table["requester"].combine_chunks(), table["accesspointarn"].combine_chunks())
    extra = {
        "p_log_type": _constant(log_type, n, pa.string()),
        "p_row_id": ids,
        "p_event_time": table["time"].combine_chunks(),
        "p_parse_time": _constant(parse_time, n, TIMESTAMP),
        "p_source": _constant(source, n, pa.string()),
        "p_account_id": _constant(origin.account_id, n, pa.string()),
        "p_region": _constant(origin.region, n, pa.string()),
        "p_any_ip_addresses": _single_value_lists(table["remoteip"].combine_chunks()),
        "p_any_aws_arns": arns,
        "p_any_aws_account_ids": accounts,
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


def is_ip_address(text: str) -> bool:
    """IPv4 or IPv6 address (the one check every parser uses)."""
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
        elif key == "sourceIPAddress" and is_ip_address(text):
            ips[text] = None
    return list(ips), list(arns), list(accounts)
