"""Cheap pre-filters declared in a rule's spec, evaluated before the rule's Python runs.

    Prefilter:
      AWS.S3ServerAccess: {operation: ["REST.*.OBJECT"]}
      AWS.CloudTrail: {eventName: [GetObject]}

Per log type, every listed field must equal one of its values (strings, globs, numbers, or
`null` for "absent"). A log type the
rule handles but the prefilter does not mention passes unfiltered. Fields are top-level and
matched case-insensitively by name. On an Arrow table the check is vectorized (pyarrow.compute);
a field the table lacks lets every row through, so a schema change can cost speed, never alerts.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from detectors.common.errors import UserError

GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class FieldFilter:
    name: str
    exact: frozenset[str]
    globs: tuple[str, ...]
    regex: re.Pattern[str] | None
    match_null: bool = False

    def accepts(self, value: Any) -> bool:
        if value is None or value == "":
            return self.match_null
        text = str(value)
        return text in self.exact or (self.regex is not None and self.regex.match(text) is not None)

    def mask(self, column: pa.ChunkedArray) -> pa.ChunkedArray:
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            column = pc.cast(column, pa.string())
        result = pc.is_in(column, value_set=pa.array(sorted(self.exact), pa.string()))
        if self.regex is not None:
            result = pc.or_(result, pc.match_substring_regex(column, self.regex.pattern))
        result = pc.fill_null(result, False)
        if self.match_null:
            result = pc.or_(result, pc.fill_null(pc.or_(pc.is_null(column), pc.equal(column, "")), True))
        return result


@dataclass(frozen=True)
class Prefilter:
    by_log_type: Mapping[str, tuple[FieldFilter, ...]] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: Any, log_types: tuple[str, ...], where: str) -> Prefilter:
        if not spec:
            return cls()
        if not isinstance(spec, Mapping):
            raise UserError(f"{where}: expected a mapping of log type -> field -> values")
        out: dict[str, tuple[FieldFilter, ...]] = {}
        for log_type, fields in spec.items():
            if log_type not in log_types:
                raise UserError(f"{where}: log type {log_type} is not in the rule's LogTypes")
            if not isinstance(fields, Mapping) or not fields:
                raise UserError(f"{where}.{log_type}: expected a mapping of field -> list of values")
            out[log_type] = tuple(_field_filter(name, values, f"{where}.{log_type}.{name}")
                                  for name, values in fields.items())
        return cls(out)

    def accepts(self, log_type: str | None, event: Mapping[str, Any]) -> bool:
        filters = self.by_log_type.get(log_type or "")
        return filters is None or all(f.accepts(event.get(f.name)) for f in filters)

    def mask(self, log_type: str, table: pa.Table) -> pa.ChunkedArray | None:
        """Rows that may match, or None for "all rows"."""
        filters = self.by_log_type.get(log_type)
        if not filters:
            return None
        columns = {name.lower(): name for name in table.column_names}
        result = None
        for f in filters:
            column = columns.get(f.name.lower())
            if column is None:
                continue  # field not in this schema: do not filter on it
            mask = f.mask(table.column(column))
            result = mask if result is None else pc.and_(result, mask)
        return result


def _field_filter(name: str, values: Any, where: str) -> FieldFilter:
    if not isinstance(values, list):
        values = [values]
    if not values or not all(v is None or (isinstance(v, str | int) and not isinstance(v, bool)) for v in values):
        raise UserError(f"{where}: expected a non-empty list of strings, numbers or null")
    match_null = None in values
    texts = [str(v) for v in values if v is not None]
    globs = tuple(v for v in texts if GLOB_CHARS.search(v))
    exact = frozenset(v for v in texts if v not in globs)
    regex = None
    if globs:
        # fnmatch.translate gives (?s:...)\Z; RE2 (pyarrow) lacks \Z, so anchor with ^...$.
        parts = [fnmatch.translate(g).removeprefix("(?s:").removesuffix(")\\Z") for g in globs]
        regex = re.compile("^(?:" + "|".join(parts) + ")$", re.DOTALL)
    return FieldFilter(name=name, exact=exact, globs=globs, regex=regex, match_null=match_null)
