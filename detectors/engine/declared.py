"""A rule's logic declared once, as conditions over named fields; both of its forms are derived.

    MATCH = Declared(
        where("internal").is_(False),
        where("error").blank(),
        where("operation").one_of("GetObject"),
        dedup=("bucket", "principal_label"),
        view=s3_access, columns={"AWS.S3ServerAccess": ACCESS_LOG_FIELDS},
    )

    def rule(event):
        return MATCH.rule(event)

    def match_table(table, log_type):
        return MATCH.match_table(table, log_type)

`rule(event)` asks the event's view (e.g. `s3_access(event)`: one object whichever log recorded
the request) for each condition's fields. `match_table(table, log_type)` (the engine's vectorized
hook, detectors.engine.evaluate) needs, for the log type, how each field is derived from the
table's columns: `(source columns, function of their values)`, the very functions the view uses
for a row of that log type. It evaluates every condition once per distinct combination of its
source columns' values in the batch (dictionary codes, so Python sees a few dozen values, not
100,000 rows) and broadcasts the answers to the rows with numpy; the dedup string is built the
same way for the matched rows. There is no second spelling of the logic to drift from the first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from detectors.engine.vector import column_ci, column_codes, dictionary_codes, take_sorted

# How a field is derived from a table's columns: (source column names, function of their values).
Derivation = tuple[tuple[str, ...], Callable[..., Any]]


@dataclass(frozen=True)
class Condition:
    """`test(*values of fields)` must hold; `text` says it in words (docs, errors)."""

    fields: tuple[str, ...]
    test: Callable[..., Any]
    text: str

    def holds(self, view: Any) -> bool:
        return bool(self.test(*(getattr(view, name) for name in self.fields)))


class Field:
    """Conditions on one field. None reads as "" for the string tests, as rules write
    `(access.user_agent or "").startswith(...)`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _condition(self, test: Callable[[Any], Any], text: str) -> Condition:
        return Condition((self.name,), test, f"{self.name} {text}")

    def is_(self, value: bool | None) -> Condition:
        """Identity with True, False or None (`access.tls is False`: None, unknown, is not False)."""
        if not (value is None or isinstance(value, bool)):
            raise TypeError(f"is_() takes True, False or None, got {value!r}; use one_of() for values")
        return self._condition(lambda v: v is value, f"is {value!r}")

    def one_of(self, *values: Any) -> Condition:
        allowed = frozenset(values)
        return self._condition(lambda v: v in allowed, f"in {sorted(map(repr, allowed))}")

    def blank(self) -> Condition:
        return self._condition(lambda v: not v, "is null or empty")

    def present(self) -> Condition:
        return self._condition(lambda v: bool(v), "is set")

    def starts_with(self, prefix: str) -> Condition:
        return self._condition(lambda v: (v or "").startswith(prefix), f"starts with {prefix!r}")

    def not_starts_with(self, prefix: str) -> Condition:
        return self._condition(lambda v: not (v or "").startswith(prefix), f"does not start with {prefix!r}")


def where(name: str) -> Field:
    return Field(name)


def holds(fields: Sequence[str], test: Callable[..., Any], text: str) -> Condition:
    """A condition of its own over several fields (e.g. a configured allowlist per bucket)."""
    return Condition(tuple(fields), test, text)


class Declared:
    def __init__(self, *conditions: Condition, dedup: Sequence[str], view: Callable[[Any], Any],
                 columns: Mapping[str, Mapping[str, Derivation]], sep: str = ":") -> None:
        """`view(event)`: the object whose attributes are the fields (None: the rule does not
        apply). `columns[log_type][field]`: the field's derivation from that log type's table."""
        self.conditions, self.dedup_fields, self.view, self.sep = conditions, tuple(dedup), view, sep
        self.columns = columns
        for log_type, derivations in columns.items():
            missing = {f for c in conditions for f in c.fields} | set(self.dedup_fields)
            missing -= set(derivations)
            if missing:
                raise ValueError(f"{log_type}: no column derivation for field(s) {sorted(missing)}")

    def rule(self, event: Any) -> bool:
        view = self.view(event)
        return view is not None and all(condition.holds(view) for condition in self.conditions)

    def dedup(self, event: Any) -> str:
        view = self.view(event)
        return self.sep.join(str(getattr(view, name)) for name in self.dedup_fields)

    def match_table(self, table: pa.Table, log_type: str) -> tuple[np.ndarray, pa.Array | list[str]] | None:
        """(row indices where every condition holds, their dedup strings), as `rule()` and
        `dedup()` give them row by row; None for a log type without column derivations."""
        found = self.rows(table, log_type)
        if found is None:
            return None
        if not len(found):
            return found, []
        return found, _encoded(table).texts(found, self.dedup_fields, self.columns[log_type], self.sep)

    def rows(self, table: pa.Table, log_type: str) -> np.ndarray | None:
        """Row indices (ascending) where every condition holds; None for a log type without
        column derivations."""
        derivations = self.columns.get(log_type)
        if derivations is None:
            return None
        encoded = _encoded(table)
        rows = np.arange(table.num_rows)
        for condition in self.conditions:
            # Once few rows are left, the next conditions are decided on those rows only: the
            # conditions are and-ed, so the other rows' answers do not matter (a column that
            # only one rule reads, e.g. the user agent after `error present`, is then encoded
            # for 2% of the rows instead of all of them).
            subset = None if len(rows) == table.num_rows else rows
            rows = rows[encoded.decide(condition.fields, derivations, condition.test, subset)]
            if not len(rows):
                break
        return rows


COUNTING_LIMIT = 1 << 20  # combined codes up to this are counted (bincount), larger ones sorted
# A column not yet encoded for the whole batch is encoded for the rows in question only when they
# are fewer than this fraction of the batch (else the whole column, cached for the other rules).
SUBSET_FRACTION = 0.25
_LAST: list[Any] = [None, None]  # (table, its _Encoded): every declared rule of a batch asks


def _encoded(table: pa.Table) -> _Encoded:
    if _LAST[0] is not table:
        _LAST[:] = [table, _Encoded(table)]
    return _LAST[1]


class _Encoded:
    """Dictionary codes of a table's columns, per set of columns, computed once per batch
    (every declared rule of the batch asks for the same few columns)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.cache: dict[tuple[str, ...], tuple[np.ndarray, list[tuple[Any, ...]]]] = {}

    def codes(self, columns: tuple[str, ...], rows: np.ndarray | None = None, alone: bool = False) -> tuple[
            np.ndarray, list[tuple[Any, ...]]]:
        """(code per row, the distinct value tuples the codes stand for). `rows`: for these rows
        only (ascending). For a few rows, combinations of columns are made for those rows only,
        and with `alone` (a column few rules read) a column not encoded yet is encoded for them
        alone; neither is cached."""
        hit = self.cache.get(columns)
        if hit is not None:
            return hit if rows is None else (hit[0][rows], hit[1])
        if rows is not None and (alone or len(columns) > 1) and len(rows) < SUBSET_FRACTION * self.table.num_rows:
            return self._encode(columns, rows, alone)
        hit = self.cache[columns] = self._encode(columns)
        return hit if rows is None else (hit[0][rows], hit[1])

    def _encode(self, columns: tuple[str, ...], rows: np.ndarray | None = None, alone: bool = False) -> tuple[
            np.ndarray, list[tuple[Any, ...]]]:
        count = self.table.num_rows if rows is None else len(rows)
        if len(columns) == 1:
            column = column_ci(self.table, columns[0])
            if column is None:  # absent: every row reads None, as event.get() does
                return np.zeros(count, dtype=np.int64), [(None,)]
            if rows is None:  # the whole column: encoded once per batch, shared with pre-filters
                codes, values = column_codes(self.table, columns[0])  # type: ignore[misc]
            else:
                codes, values = dictionary_codes(pa.chunked_array([take_sorted(column, rows)]))
            # Null (code -1) is the last value, None.
            return np.where(codes < 0, len(values), codes), [(v,) for v in values] + [(None,)]
        parts = [self.codes((name,), rows, alone) for name in columns]
        combined = np.zeros(count, dtype=np.int64)
        size = 1
        for codes, values in parts:
            combined, size = combined * len(values) + codes, size * len(values)
            if size > COUNTING_LIMIT:  # keep the code space small: renumber the combinations seen
                present, combined = np.unique(combined, return_inverse=True)
                combined, size = combined.reshape(-1), len(present)
        # The combinations present, without sorting the rows: a count per possible code.
        present = np.flatnonzero(np.bincount(combined, minlength=size))
        number = np.zeros(size, dtype=np.int64)
        number[present] = np.arange(len(present))
        first = np.zeros(len(present), dtype=np.int64)
        first[number[combined][::-1]] = np.arange(len(combined))[::-1]  # a row of each combination
        distinct = [tuple(values[codes[row]][0] for codes, values in parts) for row in first.tolist()]
        return number[combined], distinct

    def _values(self, fields: Sequence[str], derivations: Mapping[str, Derivation],
                rows: np.ndarray | None = None, alone: bool = False) -> tuple[np.ndarray, list[list[Any]]]:
        """(code per row (of `rows`), per distinct source combination: the fields' values)."""
        sources = tuple(dict.fromkeys(c for name in fields for c in derivations[name][0]))
        codes, distinct = self.codes(sources, rows, alone)
        where_of = {c: i for i, c in enumerate(sources)}
        picks = [(derivations[name][1], [where_of[c] for c in derivations[name][0]]) for name in fields]
        return codes, [[derive(*(raw[i] for i in at)) for derive, at in picks] for raw in distinct]

    def decide(self, fields: Sequence[str], derivations: Mapping[str, Derivation],
               test: Callable[..., Any], rows: np.ndarray | None = None) -> np.ndarray:
        """Whether `test` holds, per row (of `rows`)."""
        codes, values = self._values(fields, derivations, rows, alone=True)
        answers = np.fromiter((bool(test(*v)) for v in values), dtype=bool, count=len(values))
        return answers[codes]

    def texts(self, rows: np.ndarray, fields: Sequence[str], derivations: Mapping[str, Derivation],
              sep: str) -> pa.Array | list[str]:
        if not len(rows):
            return []
        codes, values = self._values(fields, derivations, rows)
        strings = pa.array([sep.join(str(v) for v in field_values) for field_values in values], pa.string())
        # Dictionary-encoded: the engine groups by the few distinct strings, not one per row.
        return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), strings)
