"""Vectorized helpers for rule pre-filters: decide once per distinct value, not once per row.

Access logs repeat the same buckets, principals and client addresses all day. A rule that
must look at every row (an IP allowlist, a known-good principal list) can evaluate its
predicate over the distinct combinations of the columns it reads and broadcast the answer to
the rows with numpy, so only rows that may match become Python events.
"""

from __future__ import annotations

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


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    encoded = pc.dictionary_encode(column.combine_chunks())
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
    encoded = [_codes(a) for a in arrays]  # type: ignore[arg-type]
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
