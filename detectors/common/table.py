"""The one plain-text table printer: `bucketwatch query`, the demo report and the posture text
report (`check`/`scan`) all print their tables with it.

    ACCOUNT       BUCKETS  FAIL
    ------------  -------  ----
    111111111111       12     3
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any


def cell_text(value: Any, null: str = "") -> str:
    """How a value reads in a cell: lists and mappings as JSON, None as `null`."""
    if value is None:
        return null
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def format_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, indent: str = "",
                 cell: Callable[[Any], str] = cell_text, right: Collection[int] = ()) -> str:
    """Columns padded to their widest cell under a dashed rule; `right` lists the column
    indexes aligned right (counts). Lines carry no trailing blanks."""
    cells = [[cell(value) for value in row] for row in rows]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True)))
        return (indent + "  ".join(padded)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(row) for row in cells)])
