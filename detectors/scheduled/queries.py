"""Scheduled queries in Panther's format (`AnalysisType: scheduled_query`).

    AnalysisType: scheduled_query
    QueryName: AWS S3 Large Download          # scheduled rules name it in ScheduledQueries
    Enabled: true
    Query: SELECT ... p_occurs_since('1 hour')  # Snowflake SQL (or SnowflakeQuery / AthenaQuery)
    Schedule: {RateMinutes: 10, TimeoutMinutes: 3}   # or CronExpression: "0 6 * * *"
    Lookback: true                            # optional: the query sees only the last
    LookbackWindowSeconds: 3600               #   LookbackWindowSeconds of each lake table
    ResultTable: bucketwatch.access_error_baseline   # Bucketwatch: keep the latest result in the lake

`Query` and `SnowflakeQuery` are Snowflake SQL, `AthenaQuery` Athena (Trino) SQL; an engine runs
the text written in its own dialect when there is one, else transpiles (detectors.sql).
Unknown keys are errors, so a typo never silently changes what runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from detectors.common.errors import UserError
from detectors.engine.rules import load_items
from detectors.scheduled.schedule import Schedule
from detectors.sql.transpile import transpile

BUILTIN_QUERIES_DIR = Path(__file__).resolve().parent.parent / "queries"
QUERY_KEYS = {"AnalysisType", "QueryName", "Enabled", "Query", "SnowflakeQuery", "AthenaQuery", "Schedule",
              "Description", "Tags", "Lookback", "LookbackWindowSeconds", "ResultTable"}
SQL_KEYS = (("Query", "snowflake"), ("SnowflakeQuery", "snowflake"), ("AthenaQuery", "athena"))
RESULT_DATABASES = ("bucketwatch",)  # lake databases a ResultTable may be written to


@dataclass(frozen=True)
class ScheduledQuery:
    name: str
    spec_path: Path
    texts: Mapping[str, str]  # dialect ("snowflake" | "athena") -> SQL
    schedule: Schedule
    enabled: bool = True
    description: str = ""
    tags: tuple[str, ...] = ()
    lookback_seconds: int | None = None
    result_table: tuple[str, str] | None = None  # (database, table)
    spec: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        return self.name

    def sql_for(self, dialect: str, now: datetime | None) -> str:
        """The query for an engine speaking `dialect` ("duckdb" | "athena"), as of `now`."""
        read = dialect if dialect in self.texts else next(iter(self.texts))
        return transpile(self.texts[read], read=read, write=dialect, now=now, lookback_seconds=self.lookback_seconds)


def query_from_spec(path: Path, spec: Mapping[str, Any]) -> ScheduledQuery:
    name = spec.get("QueryName")
    where = f"{path}"
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{where}: a scheduled query needs a QueryName")
    unknown = sorted(set(map(str, spec)) - QUERY_KEYS)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)} in scheduled query '{name}'")
    texts = {dialect: spec[key] for key, dialect in SQL_KEYS if spec.get(key)}
    if not texts or not all(isinstance(t, str) for t in texts.values()):
        raise UserError(f"{where}: scheduled query '{name}' has no Query (or SnowflakeQuery / AthenaQuery) text")
    lookback = None
    if spec.get("Lookback"):
        lookback = spec.get("LookbackWindowSeconds")
        if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1:
            raise UserError(f"{where}: Lookback needs LookbackWindowSeconds, a whole number of seconds, got {lookback!r}")
    return ScheduledQuery(
        name=name.strip(), spec_path=path, texts=texts,
        schedule=Schedule.parse(spec.get("Schedule"), f"{where}: Schedule"),
        enabled=bool(spec.get("Enabled", True)), description=str(spec.get("Description") or "").strip(),
        tags=tuple(spec.get("Tags") or ()), lookback_seconds=lookback,
        result_table=_result_table(spec.get("ResultTable"), where), spec=spec,
    )


def _result_table(value: Any, where: str) -> tuple[str, str] | None:
    if value is None:
        return None
    parts = str(value).split(".")
    if len(parts) != 2 or parts[0] not in RESULT_DATABASES or not parts[1].isidentifier():
        raise UserError(f"{where}: ResultTable must be {' or '.join(RESULT_DATABASES)}.<table name>, got {value!r}")
    return parts[0], parts[1]


def load_queries(dirs: Iterable[str | Path] = (), include_builtin: bool = True,
                 on_error: Any = None) -> list[ScheduledQuery]:
    """Scheduled queries of the built-in directory and `dirs`; a later one replaces a same-named one."""
    directories = ([BUILTIN_QUERIES_DIR] if include_builtin else []) + [Path(d) for d in dirs]
    return load_items(directories, {"scheduled_query"}, query_from_spec, on_error)
