"""The log-type registry: every log Bucketwatch reads is one `LogType`, declared by one module.

Everything that used to name log types reads this registry instead: format sniffing
(`detectors/parsers/detect.py`), the parsing pipeline's dispatch (`detectors/pipeline.py`), the
lake tables and schemas (`detectors/schema.py`'s `LOG_TYPES`, `TABLE_OF_LOG_TYPE` and
`SCHEMA_OF_LOG_TYPE` are live views of it), the DuckDB views (`detectors/lake/reader.py`),
Panther's data models (`detectors/event.py`) and the Glue tables (`infra/lake.py`).

The built-in types are the modules in `BUILTIN_MODULES`, in that order (the order of the lake's
tables, its views' UNION ALL and the Glue template). Each module declares `LOG_TYPE`; they are
imported on the first look-up, so this module imports nothing of the parsers and every module
(schema.py included) may import it. `register()` adds a type at run time (a plug-in, a test).

Sniffing: asked in order, each type's `sniff_key` and then each type's `sniff_content` may
claim an input; the `catch_all` type (access logs: lines of any other kind are quarantined one
by one) takes whatever no other type claims, and is asked about keys last.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

BUILTIN_MODULES = ("detectors.logtypes.s3_access", "detectors.logtypes.cloudtrail")

# A data model field: a path of keys into the event, or a function of the event.
ModelField = tuple[str, ...] | Callable[[Any], Any]


@dataclass(frozen=True)
class LogType:
    """One log type: its name, its lake table, how to recognise, parse and read its records."""

    name: str                # Panther's log type name, e.g. "AWS.CloudTrail" (the rows' p_log_type)
    table: str               # table name in panther_logs and panther_rule_matches
    schema: pa.Schema        # the table's columns, P_FIELDS included (Glue and DuckDB read it)
    # parse(stream, reader, sniffed) -> Iterator[ParsedBatch]: one input's records, as batches
    # carrying the p_ fields; bad records go to `reader.reject` (detectors/pipeline.py). `sniffed`:
    # the type was recognised rather than forced with --log-type.
    parse: Callable[..., Iterator[Any]]
    # The object key / file path alone names the type (AWS's delivery layouts): a type name
    # (this type's or one of its `skipped` names), or None.
    sniff_key: Callable[[str], str | None] | None = None
    # The first bytes (up to 64 KiB, decompressed) name the type, or None.
    sniff_content: Callable[[bytes], str | None] | None = None
    catch_all: bool = False  # read whatever no other type claims (one type at most)
    # Inputs this type recognises but that hold no records (CloudTrail digest files): counted
    # apart and skipped when the key says so, handed to `parse` (which skips them) otherwise.
    skipped: tuple[str, ...] = ()
    # Panther data model: standard field name -> path or function (event.udm("source_ip")).
    data_model: Mapping[str, ModelField] = field(default_factory=dict)
    # A Panther test event without p_log_type: does its shape say it is one of these?
    looks_like: Callable[[Mapping[str, Any]], bool] | None = None
    # A lake row back into the event its rule saw (None: the row without its null fields).
    event_from_row: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def has_any_key(*keys: str) -> Callable[[Mapping[str, Any]], bool]:
    """A `looks_like` for types whose events are recognised by any one of their own keys."""
    return lambda data: any(key in data for key in keys)


_types: dict[str, LogType] = {}   # every type, in order (filled on the first look-up)
_builtin_names: frozenset[str] = frozenset()
_sniffing: tuple[LogType, ...] = ()   # sniffing_order(), kept (every untyped Panther test event asks)
_loading = False


def _registry() -> dict[str, LogType]:
    global _builtin_names, _loading
    if not _builtin_names:
        if _loading:  # a built-in module (or one it imports) looked a type up while being imported
            raise RuntimeError("the log-type registry was used while its built-in modules were being imported")
        _loading = True
        try:
            loaded = [importlib.import_module(name).LOG_TYPE for name in BUILTIN_MODULES]
        finally:
            _loading = False
        _types.update((log_type.name, log_type) for log_type in loaded)
        _builtin_names = frozenset(t.name for t in loaded)
    return _types


def _changed() -> None:
    global _sniffing
    _sniffing = ()


def register(log_type: LogType) -> LogType:
    """Add a log type after the built-in ones; its name and table must be new."""
    known = _registry()
    if log_type.name in known or log_type.table in {t.table for t in known.values()}:
        raise ValueError(f"log type {log_type.name!r} (table {log_type.table!r}) is already registered")
    if log_type.catch_all and any(t.catch_all for t in known.values()):
        raise ValueError(f"log type {log_type.name!r}: only one log type can be the catch-all")
    known[log_type.name] = log_type
    _changed()
    return log_type


def unregister(name: str) -> None:
    """Remove a type added with `register` (built-in types stay)."""
    if name not in _registry() or name in _builtin_names:
        return
    del _types[name]
    _changed()


def all_types() -> list[LogType]:
    """Every log type, built-in ones first, in registration order."""
    return list(_registry().values())


def get(name: str) -> LogType:
    """The log type called `name`, or the one that owns `name` as a skipped pseudo type."""
    found = find(name)
    if found is None:
        raise KeyError(name)
    return found


def find(name: str | None) -> LogType | None:
    if not name:
        return None
    known = _registry()
    if name in known:
        return known[name]
    return next((t for t in known.values() if name in t.skipped), None)


def sniffing_order() -> tuple[LogType, ...]:
    """The types in the order they are asked: registration order, the catch-all last."""
    global _sniffing
    if not _sniffing:
        types = all_types()
        _sniffing = (*(t for t in types if not t.catch_all), *(t for t in types if t.catch_all))
    return _sniffing


def catch_all() -> LogType | None:
    return next((t for t in all_types() if t.catch_all), None)


class _Names(Sequence[str]):
    """Live tuple of the registered names (schema.LOG_TYPES)."""

    def __getitem__(self, index: Any) -> Any:
        return tuple(_registry())[index]

    def __len__(self) -> int:
        return len(_registry())

    def __contains__(self, name: object) -> bool:
        return name in _registry()

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_registry()))

    def __repr__(self) -> str:
        return repr(tuple(self))


class _Attribute(Mapping[str, Any]):
    """Live {log type name: one attribute of it} (schema.TABLE_OF_LOG_TYPE, SCHEMA_OF_LOG_TYPE)."""

    def __init__(self, attribute: str) -> None:
        self._attribute = attribute

    def __getitem__(self, name: str) -> Any:
        return getattr(_registry()[name], self._attribute)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        # Without Mapping.get's KeyError round trip: event.udm() asks once per call.
        found = (_types if _builtin_names else _registry()).get(name)
        return default if found is None else getattr(found, self._attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_registry()))

    def __len__(self) -> int:
        return len(_registry())

    def __repr__(self) -> str:
        return repr(dict(self))


NAMES: Sequence[str] = _Names()
TABLES: Mapping[str, str] = _Attribute("table")
SCHEMAS: Mapping[str, pa.Schema] = _Attribute("schema")
DATA_MODELS: Mapping[str, Mapping[str, ModelField]] = _Attribute("data_model")
