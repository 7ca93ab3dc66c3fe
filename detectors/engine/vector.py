"""Vectorized helpers for rule pre-filters: decide once per distinct value, not once per row.

Access logs repeat the same buckets, principals and client addresses all day. A rule that
must look at every row (an IP allowlist, a known-good principal list) can evaluate its
predicate over the distinct combinations of the columns it reads and broadcast the answer to
the rows with numpy, so only rows that may match become Python events.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def column_ci(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    """A column by case-insensitive name, or None."""
    for candidate in table.column_names:
        if candidate.lower() == name.lower():
            return table.column(candidate)
    return None


def take_sorted(column: pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """column[rows] for ascending `rows`, taken chunk by chunk: a take from a column of many
    chunks (one per delivered object) first joins every chunk of a string column, the cost of
    the whole column for a few rows."""
    if column.num_chunks == 1:
        return column.chunk(0).take(pa.array(rows))
    bounds = np.cumsum([0, *(len(chunk) for chunk in column.chunks)])
    cuts = np.searchsorted(rows, bounds).tolist()
    pieces = [column.chunk(number).take(pa.array(rows[lo:hi] - bounds[number]))
              for number, (lo, hi) in enumerate(itertools.pairwise(cuts)) if hi > lo]
    return pa.concat_arrays(pieces) if pieces else pa.array([], column.type)


_COLUMN_CODES: list[Any] = [None, {}]  # (the last table asked about, {column name: its codes})


def column_codes(table: pa.Table, name: str) -> tuple[np.ndarray, list[Any]] | None:
    """(dictionary code per row, -1 for null; the distinct values) of a column (case-insensitive
    name; None when absent), encoded once per table: the declared rules and the pre-filters of a
    batch read the same few columns (bucket, requester, operation)."""
    if _COLUMN_CODES[0] is not table:
        _COLUMN_CODES[:] = [table, {}]
    cache = _COLUMN_CODES[1]
    if name not in cache:
        column = column_ci(table, name)
        cache[name] = None if column is None else dictionary_codes(column)
    return cache[name]


def dictionary_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    encoded = pc.dictionary_encode(column.combine_chunks() if column.num_chunks != 1 else column.chunk(0))
    indices = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return indices, encoded.dictionary.to_pylist()  # index -1 (null) is decoded as None below


def rows_where(table: pa.Table, columns: Sequence[str], predicate: Callable[..., bool]) -> pa.ChunkedArray | None:
    """Boolean mask: predicate(*values) per row, computed once per distinct combination.

    None when a column is missing (the caller then filters nothing).
    """
    arrays = [column_ci(table, name) for name in columns]
    if any(a is None for a in arrays):
        return None
    if table.num_rows == 0:
        return pa.chunked_array([pa.array([], pa.bool_())])
    encoded = [dictionary_codes(a) for a in arrays]  # type: ignore[arg-type]
    combined = np.zeros(table.num_rows, dtype=np.int64)
    for indices, values in encoded:
        combined = combined * (len(values) + 1) + (indices + 1)
    unique, inverse = np.unique(combined, return_inverse=True)
    answers = np.empty(len(unique), dtype=bool)
    for position, code in enumerate(unique.tolist()):
        args = []
        for _, values in reversed(encoded):
            code, part = divmod(code, len(values) + 1)
            args.append(values[part - 1] if part else None)
        answers[position] = bool(predicate(*reversed(args)))
    return pa.chunked_array([pa.array(answers[inverse])])


_IPV4 = r"^(?P<a>\d{1,3})\.(?P<b>\d{1,3})\.(?P<c>\d{1,3})\.(?P<d>\d{1,3})$"


def ipv4_ints(column: pa.ChunkedArray) -> np.ndarray:
    """IPv4 text -> integer per row (int64); -1 where the value is not a dotted-quad IPv4."""
    parts = pc.extract_regex(column.combine_chunks().cast(pa.string()), _IPV4)
    result = np.zeros(len(parts), dtype=np.int64)
    valid = np.asarray(parts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    for name in ("a", "b", "c", "d"):
        text = pc.fill_null(parts.field(name), "0")  # rows that did not match: null or ""
        octet = pc.cast(pc.if_else(pc.equal(text, ""), "0", text), pa.int64())
        values = np.asarray(octet.to_numpy(zero_copy_only=False), dtype=np.int64)
        valid &= values <= 255
        result = result * 256 + values
    result[~valid] = -1
    return result


def outside_networks(table: pa.Table, bucket_column: str, ip_column: str,
                     networks_for: Callable[[str | None], Any]) -> pa.ChunkedArray | None:
    """Rows whose address is outside the networks configured for their bucket.

    `networks_for(bucket)` gives a NetworkSet-like object (`.networks`, `in`) or None (bucket not
    covered: never outside). IPv4 is checked with integer masks over the whole column, IPv6 with
    masks over the two 64-bit halves of each distinct address (parsed once per batch); anything
    that is neither (junk) is outside, as `ip not in networks` says.
    """
    buckets, ips = column_ci(table, bucket_column), column_ci(table, ip_column)
    if buckets is None or ips is None:
        return None
    bucket_codes, bucket_values = column_codes(table, bucket_column)  # type: ignore[misc]
    # Addresses repeat (NAT gateways, endpoints): parse each distinct one, broadcast by code.
    encoded = pc.dictionary_encode(ips.combine_chunks().cast(pa.string()))
    ip_codes = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    distinct = encoded.dictionary
    distinct_v4 = np.append(ipv4_ints(pa.chunked_array([distinct], pa.string())), -1)  # code -1 (null) -> -1
    distinct_has = np.append(np.asarray(pc.not_equal(distinct, "").to_numpy(zero_copy_only=False), dtype=bool), False)
    # Decided per bucket and distinct address (the last slot of each axis: null), then looked up
    # per row: a batch has a few buckets and a few thousand addresses, but 100,000 rows.
    outside = np.zeros((len(bucket_values) + 1, len(distinct_v4)), dtype=bool)
    v6: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    for code, bucket in [*enumerate(bucket_values), (-1, None)]:
        allowed = networks_for(bucket)
        if allowed is None:
            continue
        inside = np.zeros(len(distinct_v4), dtype=bool)
        for net in allowed.networks:
            if net.version == 4:
                inside |= (distinct_v4 & int(net.netmask)) == int(net.network_address)
        outside[code] = distinct_has & (distinct_v4 >= 0) & ~inside
        others = distinct_has & (distinct_v4 < 0)
        if others.any():
            v6 = v6 if v6 is not None else _ipv6_halves(distinct, distinct_v4 < 0)
            outside[code] |= others & ~_inside_v6(v6, allowed.networks)
    return pa.chunked_array([pa.array(outside[bucket_codes, ip_codes])])


def _ipv6_halves(distinct: pa.Array, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(high 64 bits, low 64 bits, parsed) of each distinct address that is not IPv4, plus one
    slot at the end for code -1 (null); what cannot be parsed as IPv6 is left unparsed."""
    texts = distinct.to_pylist()
    packed = bytearray(16 * (len(texts) + 1))
    parsed = np.zeros(len(texts) + 1, dtype=bool)
    for position in np.flatnonzero(candidates[:-1]).tolist():
        text = texts[position]
        try:
            packed[16 * position: 16 * position + 16] = socket.inet_pton(socket.AF_INET6, text)
        except (OSError, ValueError, TypeError):
            continue
        parsed[position] = True
    halves = np.frombuffer(bytes(packed), dtype=">u8").astype(np.uint64).reshape(-1, 2)
    return halves[:, 0], halves[:, 1], parsed


def _inside_v6(v6: tuple[np.ndarray, np.ndarray, np.ndarray], networks: Sequence[Any]) -> np.ndarray:
    high, low, parsed = v6
    inside = np.zeros(len(parsed), dtype=bool)
    for net in networks:
        if net.version != 6:
            continue
        mask, address = int(net.netmask), int(net.network_address)
        mask_high, mask_low = np.uint64(mask >> 64), np.uint64(mask & (2**64 - 1))
        net_high, net_low = np.uint64(address >> 64), np.uint64(address & (2**64 - 1))
        inside |= ((high & mask_high) == net_high) & ((low & mask_low) == net_low)
    return inside & parsed


# --- exact vectorized matching (`match_table` hooks) ---------------------------------------------

def text(table: pa.Table, name: str, null: str | None = None) -> pa.ChunkedArray:
    """A column as strings (absent column: all null), nulls replaced by `null` when given."""
    column = column_ci(table, name)
    if column is None:
        column = pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    elif not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return pc.fill_null(column, null) if null is not None else column


def blank(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where the value is null or empty (what `not event.get(name)` sees)."""
    return pc.fill_null(pc.equal(column, ""), True)


def starts(column: pa.ChunkedArray, prefix: str) -> pa.ChunkedArray:
    return pc.fill_null(pc.starts_with(column, prefix), False)


class Joined:
    """Columns joined with `sep` per row, computed only for the rows taken (`matched` takes the
    matching rows first: joining every row of a batch for a few matches is wasted work)."""

    def __init__(self, columns: tuple[pa.ChunkedArray, ...], sep: str) -> None:
        self.columns, self.sep = columns, sep

    def take(self, indices: pa.Array) -> pa.ChunkedArray:
        return pc.binary_join_element_wise(*(c.take(indices) for c in self.columns), self.sep)


def joined(*columns: pa.ChunkedArray, sep: str = ":") -> Joined:
    return Joined(columns, sep)


def matched(mask: pa.ChunkedArray, dedup: pa.ChunkedArray | Joined) -> tuple[np.ndarray, pa.ChunkedArray | list[str]]:
    """(row indices where mask holds, their dedup strings): what a `match_table` hook returns.
    The strings stay an Arrow array: the engine groups them without a Python string per row."""
    rows = np.flatnonzero(np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool))
    return rows, dedup.take(pa.array(rows, pa.int64())) if len(rows) else []
