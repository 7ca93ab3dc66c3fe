"""Panther's time-filter macros, expanded into plain SQL expressions (Snowflake syntax trees).

    p_occurs_since(offset [, tableAlias [, column]])      column BETWEEN now - offset AND now
    p_occurs_between(start, end [, tableAlias [, column]]) column BETWEEN start AND end
    p_occurs_around(time, offset [, tableAlias [, column]]) column BETWEEN time - offset AND time + offset
    p_occurs_after(time [, tableAlias [, column]])         column >= time
    p_occurs_before(time [, tableAlias [, column]])        column <= time

The column defaults to `p_event_time`. An offset is a number of seconds (`3600`) or a number and
a unit (`'6 h'`, `'2 weeks'`, `'1 day'`; units s/sec/second(s), m/min/minute(s), h/hr/hrs/hour(s),
d/day(s), w/wk/week(s)), as Panther's Data Explorer documents them. `now` is the scheduled run
time for a scheduled query (Panther does the same), else the current time. Times given as
strings are read as UTC (`'2024-01-01'`, `'2024-03-20T23:59:59Z'`, `'2024-01-01 10:00:00'`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from sqlglot import exp

from detectors.common.errors import UserError

UNIT_SECONDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7 * 86400),
}
_OFFSET = re.compile(r"^\s*(\d+)\s*([a-zA-Z]*)\s*$")
DEFAULT_COLUMN = "p_event_time"


def offset_seconds(value: exp.Expression, macro: str) -> int:
    """`'6 h'` -> 21600; a bare number is seconds."""
    if not isinstance(value, exp.Literal):
        raise UserError(f"{macro}: the time offset must be a literal like '1 day' or 3600, got {value.sql('snowflake')}")
    match = _OFFSET.match(str(value.this))
    unit = (match.group(2) or "s").lower() if match else ""
    if not match or unit not in UNIT_SECONDS:
        raise UserError(f"{macro}: cannot read the time offset {value.sql('snowflake')}; "
                        "use seconds (3600) or a number and a unit ('30 m', '6 h', '2 d', '1 w')")
    return int(match.group(1)) * UNIT_SECONDS[unit]


def timestamp_literal(moment: datetime) -> exp.Expression:
    """A naive UTC TIMESTAMP constant (the lake stores naive UTC timestamps)."""
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return exp.cast(exp.Literal.string(text), exp.DataType.build("TIMESTAMP"))


def parse_utc(text: str, where: str) -> datetime:
    value = text.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"{where}: cannot read the time '{text}'; use e.g. '2024-01-01' or "
                        "'2024-03-20T23:59:59Z'") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time(value: exp.Expression, macro: str) -> exp.Expression:
    """A string literal becomes a UTC timestamp constant; any other expression is kept."""
    if isinstance(value, exp.Literal) and value.is_string:
        return timestamp_literal(parse_utc(str(value.this), macro))
    return value


def _column(args: list[exp.Expression], first_optional: int, macro: str) -> exp.Expression:
    """The filtered column: `[tableAlias [, column]]` after the time arguments."""
    extra = args[first_optional:]
    if len(extra) > 2:
        raise UserError(f"{macro}: too many arguments ({len(args)})")
    table = _name(extra[0], macro) if extra else None
    column = _name(extra[1], macro) if len(extra) > 1 else DEFAULT_COLUMN
    return exp.column(column, table=table)


def _name(value: exp.Expression, macro: str) -> str:
    if isinstance(value, exp.Column) and not value.table:
        return value.name
    if isinstance(value, exp.Literal) and value.is_string:
        return str(value.this)
    raise UserError(f"{macro}: expected a table alias or column name, got {value.sql('snowflake')}")


def shift(moment: exp.Expression, seconds: int) -> exp.Expression:
    return exp.DateAdd(this=moment, expression=exp.Literal.number(seconds), unit=exp.var("SECOND"))


def _since(args: list[exp.Expression], now: exp.Expression) -> exp.Expression:
    # Bounded by `now` too: a scheduled run replaying older logs sees what was there at its tick.
    seconds = offset_seconds(args[0], "p_occurs_since")
    return exp.Between(this=_column(args, 1, "p_occurs_since"), low=shift(now, -seconds), high=now.copy())


def _between(args: list[exp.Expression], now: exp.Expression) -> exp.Expression:
    _need(args, 2, "p_occurs_between")
    return exp.Between(this=_column(args, 2, "p_occurs_between"), low=_time(args[0], "p_occurs_between"),
                       high=_time(args[1], "p_occurs_between"))


def _around(args: list[exp.Expression], now: exp.Expression) -> exp.Expression:
    _need(args, 2, "p_occurs_around")
    center = _time(args[0], "p_occurs_around")
    seconds = offset_seconds(args[1], "p_occurs_around")
    return exp.Between(this=_column(args, 2, "p_occurs_around"), low=shift(center, -seconds),
                       high=shift(center.copy(), seconds))


def _after(args: list[exp.Expression], now: exp.Expression) -> exp.Expression:
    _need(args, 1, "p_occurs_after")
    return exp.GTE(this=_column(args, 1, "p_occurs_after"), expression=_time(args[0], "p_occurs_after"))


def _before(args: list[exp.Expression], now: exp.Expression) -> exp.Expression:
    _need(args, 1, "p_occurs_before")
    return exp.LTE(this=_column(args, 1, "p_occurs_before"), expression=_time(args[0], "p_occurs_before"))


def _need(args: list[exp.Expression], count: int, macro: str) -> None:
    if len(args) < count:
        raise UserError(f"{macro}: expects at least {count} argument(s), got {len(args)}")


MACROS: dict[str, Callable[[list[exp.Expression], exp.Expression], exp.Expression]] = {
    "p_occurs_since": _since,
    "p_occurs_between": _between,
    "p_occurs_around": _around,
    "p_occurs_after": _after,
    "p_occurs_before": _before,
}


def expand(node: exp.Expression, now: exp.Expression) -> exp.Expression:
    """The expansion of `node` when it is a macro call, else `node` itself."""
    if not isinstance(node, exp.Anonymous):
        return node
    macro = MACROS.get(str(node.this).lower())
    if macro is None:
        return node
    args = list(node.expressions)
    if not args:
        raise UserError(f"{str(node.this).lower()}: expects a time argument")
    return exp.paren(macro(args, now.copy()), copy=False)
