"""One query, three engines: Panther's Snowflake SQL (or Athena's, or DuckDB's) for the lake.

`transpile(sql, read, write)` parses with sqlglot and rewrites what differs between Panther's
Snowflake lake and ours before sqlglot writes the target dialect:

- **Table names**: Snowflake's `panther_logs.public.aws_cloudtrail` is `panther_logs.aws_cloudtrail`
  here (DuckDB schemas and Glue databases carry Panther's database names; no `public` level).
- **VARIANT paths**: Panther stores CloudTrail's nested objects as VARIANT (`userIdentity:arn`);
  our lake keeps them as JSON text (detectors/schema.py). A path becomes a JSON extraction of a
  scalar as text (`json_extract_string` on DuckDB, `json_extract_scalar` on Athena); a path
  cast to a number or boolean (`additionalEventData:bytesTransferredOut::int`) casts the JSON
  value itself, so `1061.0` and `"1061"` both read as 1061, as Snowflake reads them. Snowflake's
  INT is 38 digits wide: integer casts become BIGINT (DuckDB's and Athena's INT are 32 bits).
- **Macros**: `p_occurs_since('1 day')` and the other time filters (detectors/sql/macros.py).
- **Now**: CURRENT_TIMESTAMP/SYSDATE/CURRENT_DATE become the constant `now` (UTC) when one is
  given (a scheduled run's time), and always for DuckDB, whose CURRENT_TIMESTAMP is zoned and
  would be compared with the lake's UTC timestamps in the machine's time zone.

Dialect names are Bucketwatch's: `snowflake`, `duckdb`, `athena` (sqlglot's `trino`). Reading
`duckdb` SQL only expands the macros and table names. What sqlglot cannot translate raises
UserError with sqlglot's message; Athena output is checked for syntax (parsed back as Trino),
never run here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from detectors.common.errors import UserError
from detectors.sql.macros import MACROS, expand, shift, timestamp_literal

DIALECTS = {"snowflake": "snowflake", "duckdb": "duckdb", "athena": "trino"}
_INTEGER_TYPES = {exp.DataType.Type.INT, exp.DataType.Type.SMALLINT, exp.DataType.Type.TINYINT,
                  exp.DataType.Type.MEDIUMINT}
_TEXT_TYPES = {exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.CHAR,
               exp.DataType.Type.NVARCHAR, exp.DataType.Type.NCHAR}
_JSON_CAST_TYPES = {exp.DataType.Type.BIGINT, exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT,
                    exp.DataType.Type.DECIMAL, exp.DataType.Type.BOOLEAN, *_INTEGER_TYPES}
LAKE_DATABASES = ("panther_logs", "panther_rule_matches", "panther_views")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SCALAR_FUNCTION = {"duckdb": "json_extract_string", "trino": "json_extract_scalar"}


def sqlglot_dialect(name: str) -> str:
    try:
        return DIALECTS[name]
    except KeyError:
        raise UserError(f"unknown SQL dialect '{name}'; expected one of {', '.join(DIALECTS)}") from None


def parse(sql: str, read: str = "snowflake") -> exp.Expression:
    """One statement of `read` SQL, as a sqlglot tree; a one-line UserError when it does not parse."""
    dialect = sqlglot_dialect(read)
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except SqlglotError as exc:
        raise UserError(f"the {read} SQL does not parse: {_one_line(exc)}") from None
    if len(statements) != 1:
        raise UserError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


def transpile(sql: str, read: str = "snowflake", write: str = "duckdb", now: datetime | None = None,
              pretty: bool = False, lookback_seconds: int | None = None) -> str:
    """`sql` written for `read`, rewritten for `write` (see the module docstring). With
    `lookback_seconds`, every lake table is read as its rows of the last `lookback_seconds`
    before `now` (a scheduled query's `Lookback`)."""
    target = sqlglot_dialect(write)
    tree = parse(sql, read)
    if now is None and target == "duckdb":
        now = datetime.now(UTC)
    tree = rewrite(tree, read=sqlglot_dialect(read), write=target, now=now, lookback_seconds=lookback_seconds)
    try:
        return tree.sql(dialect=target, pretty=pretty, unsupported_level=sqlglot.ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise UserError(f"the query cannot be written as {write} SQL: {_one_line(exc)}") from None


def rewrite(tree: exp.Expression, read: str, write: str, now: datetime | None,
            lookback_seconds: int | None = None) -> exp.Expression:
    """The syntax tree with Panther's table names, macros, VARIANT paths and `now` made portable."""
    now_expr: exp.Expression = timestamp_literal(now) if now is not None else exp.CurrentTimestamp()

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table):
            table = _table(node)
            return _windowed(table, now_expr, lookback_seconds) if lookback_seconds else table
        if now is not None and isinstance(node, exp.CurrentTimestamp | exp.CurrentDatetime | exp.Localtime
                                          | exp.Localtimestamp):
            return now_expr.copy()
        if now is not None and isinstance(node, exp.CurrentDate):
            return exp.cast(exp.Literal.string(now.astimezone(UTC).date().isoformat()), exp.DataType.build("DATE"))
        if read == "snowflake" and write != "snowflake":
            return _snowflake_node(node, write)
        return node

    def macros(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and str(node.this).lower() in MACROS:
            return expand(node, now_expr)
        return node

    # Macros last: their arguments (e.g. `current_date - 1`) are rewritten by the first pass,
    # and the expressions they expand to are already in the target's terms.
    return tree.transform(visit, copy=True).transform(macros, copy=False)


def _table(node: exp.Table) -> exp.Table:
    """`db.public.table` -> `db.table` (Snowflake's schema level; ours has none)."""
    if node.args.get("catalog") is not None and node.db.lower() == "public":
        node = node.copy()
        node.set("db", node.args["catalog"])
        node.set("catalog", None)
    return node


def _windowed(table: exp.Table, now: exp.Expression, seconds: int) -> exp.Expression:
    """A lake table as the subquery of its rows in (now - seconds, now]."""
    if table.db.lower() not in LAKE_DATABASES:
        return table
    alias = table.alias or table.name
    bare = table.copy()
    bare.set("alias", None)
    window = exp.and_(exp.GT(this=exp.column("p_event_time"), expression=shift(now.copy(), -seconds)),
                      exp.LTE(this=exp.column("p_event_time"), expression=now.copy()))
    return exp.select("*").from_(bare).where(window).subquery(alias)


def _snowflake_node(node: exp.Expression, write: str) -> exp.Expression:
    if isinstance(node, exp.Cast | exp.TryCast):
        return _cast(node, write)
    if isinstance(node, exp.JSONExtract) and node.args.get("variant_extract"):
        return _scalar(node, write)
    if isinstance(node, exp.DataType) and node.this in _INTEGER_TYPES:
        return exp.DataType.build("BIGINT")
    return node


def _cast(node: exp.Cast, write: str) -> exp.Expression:
    target: exp.DataType = node.to
    kind = exp.DataType.Type.BIGINT if target.this in _INTEGER_TYPES else target.this
    if kind == exp.DataType.Type.VARIANT:
        return node.this  # `'x'::VARIANT`: a value compared with VARIANT columns; ours are plain
    inner = node.this
    if not (isinstance(inner, exp.JSONExtract) and inner.args.get("variant_extract")):
        return node
    if kind in _TEXT_TYPES:
        return _scalar(inner, write)  # `path::varchar` is the unquoted text, as in Snowflake
    if kind in _JSON_CAST_TYPES:
        value = exp.Anonymous(this="json_extract", expressions=[inner.this, exp.Literal.string(_path(inner, write))])
        return node.__class__(this=value, to=exp.DataType.build(kind))
    return node.__class__(this=_scalar(inner, write), to=target)


def _scalar(node: exp.JSONExtract, write: str) -> exp.Expression:
    function = _SCALAR_FUNCTION.get(write)
    if function is None:
        return exp.JSONExtractScalar(this=node.this, expression=node.expression)
    return exp.Anonymous(this=function, expressions=[node.this, exp.Literal.string(_path(node, write))])


def _path(node: exp.JSONExtract, write: str) -> str:
    """The JSONPath text ('$.sessionContext.sessionIssuer.userName') of a VARIANT path; keys that
    are not plain names are quoted the way each engine reads them."""
    path = node.expression
    if not isinstance(path, exp.JSONPath):
        raise UserError(f"unsupported VARIANT path {node.sql('snowflake')}")
    text = "$"
    for part in path.expressions:
        if isinstance(part, exp.JSONPathRoot):
            continue
        if isinstance(part, exp.JSONPathKey):
            key = str(part.this)
            if key.replace("_", "a").isalnum():
                text += f".{key}"
            elif write == "duckdb":
                text += '."' + key.replace('"', '\\"') + '"'
            else:
                text += '["' + key.replace('"', '\\"') + '"]'
        elif isinstance(part, exp.JSONPathSubscript):
            text += f"[{part.this}]"
        else:
            raise UserError(f"unsupported VARIANT path element in {node.sql('snowflake')}")
    return text


def _one_line(exc: Exception) -> str:
    """sqlglot's message on one line, without the terminal underline codes it adds."""
    return " ".join(_ANSI.sub("", str(exc)).split())


def check_athena(sql: str) -> exp.Expression:
    """The Athena (Trino) SQL parsed back: syntax only, no engine here to run it."""
    try:
        return sqlglot.parse_one(sql, read="trino")
    except SqlglotError as exc:
        raise UserError(f"the Athena SQL does not parse as Trino: {_one_line(exc)}") from None
