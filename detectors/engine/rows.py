"""Lazy, read-only rows over an Arrow table: a rule only pays for the columns it reads.

Turning every candidate row into a dict would convert every column of every row to Python
objects; most rules read three or four fields. `LazyRows` converts a column (for the candidate
rows only) the first time any row asks for it. Rows look exactly like `ParsedBatch.events()`:
S3 access rows hide null fields, times are Panther text; CloudTrail rows are the original
record plus the p_ fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.pipeline import panther_time

TIME_FIELDS = frozenset({"time", "p_event_time", "p_parse_time"})


_FRACTION_PAD = {"s": ".000000000", "ms": "000000", "us": "000", "ns": ""}


def panther_times(column: pa.ChunkedArray | pa.Array) -> list[str | None]:
    """`panther_time` of every value, formatted by Arrow (no datetime object per row)."""
    kind = column.type
    if not pa.types.is_timestamp(kind) or kind.tz is not None:
        return [panther_time(v) for v in column.to_pylist()]
    text = pc.strftime(column, format="%Y-%m-%d %H:%M:%S")  # seconds carry the unit's fraction
    pad = _FRACTION_PAD[kind.unit]
    return (pc.binary_join_element_wise(text, pad, "") if pad else text).to_pylist()


class LazyRows:
    def __init__(self, table: pa.Table, indices: list[int] | None, records: list[dict[str, Any]] | None = None,
                 sparse: bool = False) -> None:
        """`indices=None`: every row, position = row index, nothing copied. `sparse`: only a few
        rows will be read (alert details of vectorized rules): values are converted one by one
        instead of a whole column at the first read."""
        self.sparse = sparse
        if indices is None:
            indices = range(table.num_rows)  # type: ignore[assignment]
        self.table = table.take(indices) if len(indices) != table.num_rows else table  # type: ignore[arg-type]
        self.indices = indices
        self.records = records
        self.names = [n for n in self.table.column_names if records is None or n.startswith("p_")]
        self._columns: dict[str, list[Any]] = {}
        self._epochs: np.ndarray | None = None
        self._epoch_array: np.ndarray | None = None
        self._epoch_list: list[float] | None = None
        self.lower_names = {name.lower(): name for name in reversed(self.names)}
        self.name_set = frozenset(self.names)

    def column(self, name: str) -> list[Any]:
        values = self._columns.get(name)
        if values is None:
            column = self.table.column(name)
            values = panther_times(column) if name in TIME_FIELDS else column.to_pylist()
            self._columns[name] = values
        return values

    def value_of(self, name: str, position: int) -> Mapping[int, Any]:
        """One value as {position: value} (what `column(name)[position]` would give)."""
        value = self.table.column(name)[position].as_py()
        return {position: panther_time(value) if name in TIME_FIELDS else value}

    def epoch_array(self) -> np.ndarray:
        """Event times (epoch seconds, float) of all rows as numpy; -1 where unknown. Computed
        once (every vectorized rule of a batch asks)."""
        if self._epoch_array is None:
            if not len(self.indices) or (self.epoch(0) is None and self._epochs is None):
                self._epoch_array = np.full(len(self.indices), -1.0)
            else:
                self._epoch_array = np.where(self._epochs >= 0, self._epochs / 1000.0, -1.0)
        return self._epoch_array

    def epochs(self) -> list[float]:
        """Event times (epoch seconds) of all rows; -1 where unknown. Computed once."""
        if self._epoch_list is None:
            if len(self.indices) and self.epoch(0) is None and self._epochs is None:
                self._epoch_list = [-1.0] * len(self.indices)
            elif self._epochs is None:
                self._epoch_list = []
            else:
                self._epoch_list = (self._epochs / 1000.0).tolist()
        return self._epoch_list

    def epoch(self, position: int) -> float | None:
        if self._epochs is None:
            if "p_event_time" not in self.table.column_names:
                return None
            times = pc.cast(self.table.column("p_event_time"), pa.timestamp("ms"))
            self._epochs = np.asarray(pc.fill_null(pc.cast(times, pa.int64()), -1).to_numpy(zero_copy_only=False))
        value = int(self._epochs[position])
        return None if value < 0 else value / 1000.0

    def plain_rows(self, positions: list[int]) -> dict[int, dict[str, Any]]:
        """Plain dicts (as `ParsedBatch.events()` gives them) for some rows, in one Arrow pass."""
        taken = self.table.select(self.names).take(positions)
        # Column by column (times formatted in Arrow), then one dict per row without the nulls.
        columns = [panther_times(taken.column(name)) if name in TIME_FIELDS else taken.column(name).to_pylist()
                   for name in self.names]
        out = {}
        for position, values in zip(positions, zip(*columns, strict=True), strict=True):
            plain = dict(self.records[self.indices[position]]) if self.records is not None else {}
            plain.update({name: value for name, value in zip(self.names, values, strict=True) if value is not None})
            out[position] = plain
        return out

    def rows(self) -> list[RowView]:
        return [RowView(self, position) for position in range(len(self.indices))]

    def view(self, position: int) -> RowView:
        return RowView(self, position)


class RowView(Mapping[str, Any]):
    read_only_view = True
    __slots__ = ("_position", "_rows")

    def __init__(self, rows: LazyRows, position: int) -> None:
        self._rows = rows
        self._position = position

    def _record(self) -> dict[str, Any] | None:
        records = self._rows.records
        return None if records is None else records[self._rows.indices[self._position]]

    def __getitem__(self, key: str) -> Any:
        rows = self._rows
        values = rows._columns.get(key)
        if values is None and key in rows.name_set:
            values = rows.value_of(key, self._position) if rows.sparse else rows.column(key)
        if values is not None:
            value = values[self._position]
            if value is not None:
                return value
            if rows.records is None:
                raise KeyError(key)  # S3 access rows: null means absent
        record = self._record()
        if record is not None and key in record:
            return record[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except (KeyError, TypeError):
            return False
        return True

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def resolve_key(self, key: str) -> str | None:
        """The stored spelling of `key` (exact first, then case-insensitive), or None if absent."""
        if key in self:
            return key
        name = self._rows.lower_names.get(key.lower())
        if name is not None and name in self:
            return name
        record = self._record()
        if record is not None:
            wanted = key.lower()
            for candidate in record:
                if candidate.lower() == wanted:
                    return candidate
        return None

    def __iter__(self) -> Iterator[str]:
        record = self._record()
        seen = set()
        if record is not None:
            seen.update(record)
            yield from record
        for name in self._rows.names:
            if name not in seen and self.get(name) is not None:
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def epoch(self) -> float | None:
        return self._rows.epoch(self._position)

    def location(self) -> tuple[LazyRows, int]:
        return self._rows, self._position

    def to_plain(self) -> dict[str, Any]:
        """A plain dict of the row (for alert samples), without per-key lookups."""
        # One row through Arrow: cheaper than materializing every column for a handful of samples.
        rows = self._rows
        (row,) = rows.table.select(rows.names).slice(self._position, 1).to_pylist()
        out = dict(self._record() or {})
        for name, value in row.items():
            if value is not None:
                out[name] = panther_time(value) if name in TIME_FIELDS else value
        return out
