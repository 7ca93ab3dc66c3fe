"""Run the `Tests:` of every item in Panther's analysis format: rules, scheduled rules,
correlation rules, policies; and check scheduled queries and data models.

Two sources of items:
- our own (built-in, or the directories given);
- a Panther pack (`--panther-pack DIR`): its specs' tests are run against OUR implementation of
  the same id (rule and scheduled rule -> RuleID, policy -> PolicyID / our PantherID). Ids we do
  not implement are listed as not implemented, never counted as failures. Items that are pure
  YAML are their own implementation: a pack's correlation rule (unless we ship one with its id)
  runs its tests through our correlation evaluator, a pack's scheduled query is checked like ours.

- A rule test passes when (pre-filter accepts the event AND rule(event)) equals ExpectedResult,
  and, for matches, title/dedup/severity/alert_context/unique run without raising. `Mocks:`
  entries replace a module-level name with a function returning `returnValue`, as in Panther.
  A Bucketwatch test may also give `Organization:` (the config file's `organization:` section,
  e.g. `{accounts: [...]}`): the rule then runs knowing those accounts are inside.
  A scheduled rule's test `Log` is one result row of its query.
- A correlation rule test turns its `RuleOutputs` (per step ID, field, value: match times) into
  signals and asks the real evaluator (detectors.correlation) whether the rule matches, in the
  window ending at the newest of them.
- A scheduled query is checked (one outcome): it transpiles to DuckDB and runs over an empty lake,
  and its Athena translation parses as Trino (syntax only: no Athena here).
- A data model's `Path` mappings are checked against our data model: `event.udm(Name)` must read
  the field at `Path`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from detectors.common.errors import UserError
from detectors.common.organization import parse_organization
from detectors.common.words import plural
from detectors.config import DetectionSettings, activated
from detectors.correlation.evaluate import evaluate, signals_from_rule_outputs
from detectors.correlation.spec import CorrelationRule, correlation_from_spec, load_correlation_rules
from detectors.engine.rules import Rule, iter_specs, load_rules
from detectors.event import DATA_MODELS, PantherEvent, guess_log_type
from detectors.scheduled.queries import ScheduledQuery, load_queries, query_from_spec
from detectors.scheduled.run import load_scheduled_rules

OPTIONAL_FUNCTIONS = ("title", "dedup", "severity", "alert_context", "unique", "runbook", "description",
                      "reference", "destinations")


@dataclass
class Outcome:
    kind: str  # "rule" | "scheduled_rule" | "correlation_rule" | "scheduled_query" | "datamodel" | "policy"
    id: str
    name: str
    source: str  # "own" | "panther"
    passed: bool
    detail: str = ""


@dataclass
class TestReport:
    outcomes: list[Outcome] = field(default_factory=list)
    not_implemented: list[tuple[str, str, int]] = field(default_factory=list)  # kind, id, tests
    skipped: list[tuple[str, str]] = field(default_factory=list)  # id, why (kinds we do not run)
    untested: list[tuple[str, str]] = field(default_factory=list)  # kind, id: no true+false tests

    @property
    def passed(self) -> int:
        return sum(o.passed for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(not o.passed for o in self.outcomes)


def run_rule_test(rule: Rule, test: Mapping[str, Any]) -> tuple[bool, str]:
    """(passed, why-not) for one Panther-format rule test against `rule`."""
    expected = bool(test.get("ExpectedResult"))
    log = test.get("Log")
    if not isinstance(log, Mapping):
        return False, "test has no Log mapping"
    log_type = test.get("LogType") or log.get("p_log_type") or guess_log_type(log)
    if log_type not in rule.log_types:
        log_type = rule.log_types[0]
    event = PantherEvent(log, log_type)
    try:
        # A rule's own tests describe it with its default settings, never a config a previous
        # `detect` in the same process left active.
        settings = DetectionSettings(organization=parse_organization(test.get("Organization"), "Organization"))
        with activated(settings), _mocks(rule, test.get("Mocks") or ()):
            actual = rule.prefilter.accepts(log_type, event) and bool(rule.module.rule(event))
            if actual:
                for function in OPTIONAL_FUNCTIONS:
                    if rule.has(function):
                        rule.call(function, event)
    except Exception as exc:
        return False, f"raised {type(exc).__name__}: {exc}"
    if actual != expected:
        return False, f"expected {expected}, got {actual}"
    return True, ""


class _mocks:
    def __init__(self, rule: Rule, mocks: Iterable[Mapping[str, Any]]) -> None:
        self.patches = [
            mock.patch.object(rule.module, str(m["objectName"]), mock.MagicMock(return_value=m.get("returnValue")))
            for m in mocks
        ]

    def __enter__(self) -> None:
        for patch in self.patches:
            patch.start()

    def __exit__(self, *exc: object) -> None:
        for patch in reversed(self.patches):
            patch.stop()


def _policy_test(policy: Any, test: Mapping[str, Any]) -> tuple[bool, str]:
    expected = bool(test.get("ExpectedResult"))
    try:
        actual = bool(policy.run_test_resource(test.get("Resource") or {}, test.get("Config")))
    except Exception as exc:
        return False, f"raised {type(exc).__name__}: {exc}"
    return _verdict(expected, actual)


def run_correlation_test(rule: CorrelationRule, test: Mapping[str, Any]) -> tuple[bool, str]:
    """(passed, why-not) for one correlation rule test, through the real evaluator."""
    expected = bool(test.get("ExpectedResult"))
    try:
        signals = signals_from_rule_outputs(rule, test.get("RuleOutputs") or [], f"test {test.get('Name')!r}")
    except UserError as exc:
        return False, str(exc)
    end = max((s.time for s in signals), default=0.0)
    try:
        actual = bool(evaluate(rule, signals, end))
    except Exception as exc:
        return False, f"raised {type(exc).__name__}: {exc}"
    return _verdict(expected, actual)


def _verdict(expected: bool, actual: bool) -> tuple[bool, str]:
    return (True, "") if actual == expected else (False, f"expected {expected}, got {actual}")


class QueryChecker:
    """Scheduled queries: DuckDB runs the translation over an empty lake; Athena's parses."""

    NOW = datetime(2024, 1, 1, tzinfo=UTC)

    def __init__(self) -> None:
        self._executor: Any = None
        self._folder = tempfile.TemporaryDirectory(prefix="bucketwatch-empty-lake-")  # removed with the checker

    def check(self, query: ScheduledQuery) -> tuple[bool, str]:
        from detectors.sql.executors import DuckDBLakeExecutor
        from detectors.sql.transpile import check_athena

        try:
            if self._executor is None:
                self._executor = DuckDBLakeExecutor(Path(self._folder.name))
            self._executor.run(query.sql_for("duckdb", self.NOW), timeout_s=60)
            check_athena(query.sql_for("athena", None))
        except UserError as exc:
            return False, str(exc)
        return True, ""


def _datamodel_test(spec: Mapping[str, Any], mapping: Mapping[str, Any]) -> tuple[bool, str]:
    """Our data model reads Panther's mapping: udm(Name) is the value at Path."""
    path = mapping.get("Path")
    if not isinstance(path, str):
        return False, "only Path mappings can be checked (a Method needs Panther's Python)"
    keys = path.removeprefix("$.").split(".")
    for log_type in spec.get("LogTypes") or ():
        if mapping.get("Name") not in DATA_MODELS.get(log_type, {}):
            return False, f"no '{mapping.get('Name')}' in our {log_type} data model"
        record: dict[str, Any] = {}
        inner = record
        for key in keys[:-1]:
            inner = inner.setdefault(key, {})
        inner[keys[-1]] = "sentinel-value"
        got = PantherEvent(record, log_type).udm(str(mapping.get("Name")))
        if got != "sentinel-value":
            return False, f"{log_type}: udm({mapping.get('Name')!r}) reads {got!r}, not {path}"
    return True, ""


def load_policy_defs(dirs: list[Path], include_builtin: bool) -> list[Any]:
    """Policies via the posture registry; imported lazily so rules work without it."""
    try:
        from policies.registry import load_policies
    except ImportError:
        return []
    return list(load_policies(dirs, include_builtin=include_builtin))


def run_all(dirs: Iterable[str | Path] = (), panther_pack: str | Path | None = None) -> TestReport:
    dirs = [Path(d) for d in dirs]
    builtin = not dirs
    report = TestReport()
    checker = QueryChecker()

    def broken(kind: str) -> Any:
        def record(path: Path, error: Exception) -> None:
            # An item that does not even load fails its tests: reported, and the others still run.
            report.outcomes.append(Outcome(kind, path.name, "<load>", "own", False, str(error)))
        return record

    rules = load_rules(dirs, include_builtin=builtin, on_error=broken("rule"))
    scheduled = load_scheduled_rules(dirs, include_builtin=builtin, on_error=broken("scheduled_rule"))
    queries = load_queries(dirs, include_builtin=builtin, on_error=broken("scheduled_query"))
    correlations = load_correlation_rules(dirs, include_builtin=builtin, on_error=broken("correlation_rule"))
    policies = load_policy_defs(dirs, include_builtin=builtin)
    for rule in sorted(rules, key=lambda r: r.id):
        _run_own(report, "rule", rule.id, rule.tests, lambda t, r=rule: run_rule_test(r, t))
    known_queries = {q.name for q in queries} | {q.name for q in load_queries()}
    for rule in sorted(scheduled, key=lambda r: r.id):
        _run_own(report, "scheduled_rule", rule.id, rule.tests, lambda t, r=rule: run_rule_test(r, t))
        for name in rule.log_types:
            ok = name in known_queries
            report.outcomes.append(Outcome("scheduled_rule", rule.id, f"reads scheduled query '{name}'", "own", ok,
                                           "" if ok else "no scheduled query with that QueryName"))
    for query in sorted(queries, key=lambda q: q.name):
        ok, why = checker.check(query)
        report.outcomes.append(Outcome("scheduled_query", query.name, "runs on DuckDB, parses as Athena SQL",
                                       "own", ok, why))
    for corr in sorted(correlations, key=lambda c: c.id):
        _run_own(report, "correlation_rule", corr.id, list(corr.tests), lambda t, c=corr: run_correlation_test(c, t))
    for policy in policies:
        _run_own(report, "policy", policy.id, policy.tests, lambda t, p=policy: _policy_test(p, t))
    if panther_pack is not None:
        ours = {"rule": {r.id: r for r in rules}, "scheduled_rule": {r.id: r for r in scheduled},
                "correlation_rule": {c.id: c for c in correlations}}
        _run_pack(report, Path(panther_pack), ours, policies, checker)
    return report


def _run_own(report: TestReport, kind: str, item_id: str, tests: list[dict[str, Any]], run: Any) -> None:
    results = {bool(t.get("ExpectedResult")) for t in tests}
    if results != {True, False}:
        report.untested.append((kind, item_id))
    for test in tests:
        ok, why = run(test)
        report.outcomes.append(Outcome(kind, item_id, str(test.get("Name", "?")), "own", ok, why))


def _run_pack(report: TestReport, pack: Path, ours: Mapping[str, Mapping[str, Any]], policies: list[Any],
              checker: QueryChecker) -> None:
    if not pack.is_dir():
        raise UserError(f"Panther pack not found: {pack}")
    policies_by_id: dict[str, Any] = {}
    for policy in policies:
        policies_by_id.setdefault(policy.id, policy)
        if policy.panther_id:
            policies_by_id[policy.panther_id] = policy

    def add(kind: str, item_id: str, name: str, result: tuple[bool, str]) -> None:
        report.outcomes.append(Outcome(kind, item_id, name, "panther", *result))

    for path, spec in iter_specs(pack):
        kind = str(spec.get("AnalysisType"))
        tests = list(spec.get("Tests") or ())
        if kind in ("rule", "scheduled_rule"):
            item_id, target = spec.get("RuleID"), ours[kind].get(spec.get("RuleID"))
            run: Any = run_rule_test
        elif kind == "policy":
            item_id, target = spec.get("PolicyID"), policies_by_id.get(spec.get("PolicyID"))
            run = _policy_test
        elif kind == "correlation_rule":
            item_id = str(spec.get("RuleID"))
            try:  # pure YAML: ours if we ship the id, else the pack's own spec is the implementation
                target = ours[kind].get(item_id) or correlation_from_spec(path, spec)
            except UserError as exc:
                add(kind, item_id, "<load>", (False, str(exc)))
                continue
            run = run_correlation_test
        elif kind == "scheduled_query":
            try:
                query = query_from_spec(path, spec)
            except UserError as exc:
                add(kind, str(spec.get("QueryName") or path.name), "<load>", (False, str(exc)))
                continue
            add(kind, query.name, "runs on DuckDB, parses as Athena SQL", checker.check(query))
            continue
        elif kind == "datamodel":
            for mapping in spec.get("Mappings") or ():
                add(kind, str(spec.get("DataModelID")), f"{mapping.get('Name')} -> {mapping.get('Path')}",
                    _datamodel_test(spec, mapping))
            continue
        else:
            report.skipped.append((str(spec.get("RuleID") or spec.get("DataModelID") or path.name),
                                   f"{kind}: not a kind Bucketwatch runs"))
            continue
        if target is None:
            report.not_implemented.append((kind, str(item_id), len(tests)))
            continue
        for test in tests:
            add(kind, str(item_id), str(test.get("Name", "?")), run(target, test))


def format_report(report: TestReport, verbose: bool = False) -> list[str]:
    lines: list[str] = []
    for source, heading in (("own", "Own tests"), ("panther", "Panther pack tests")):
        outcomes = [o for o in report.outcomes if o.source == source]
        if not outcomes:
            continue
        lines.append(f"{heading}:")
        by_item: dict[tuple[str, str], list[Outcome]] = {}
        for outcome in outcomes:
            by_item.setdefault((outcome.kind, outcome.id), []).append(outcome)
        for (kind, item_id), items in by_item.items():
            failed = [o for o in items if not o.passed]
            mark = "FAIL" if failed else "ok  "
            lines.append(f"  {mark} {kind} {item_id}: {len(items) - len(failed)}/{len(items)} passed")
            for o in failed if not verbose else items:
                lines.append(f"         {'PASS' if o.passed else 'FAIL'} {o.name}{': ' + o.detail if o.detail else ''}")
    if report.not_implemented:
        lines.append("Not implemented (Panther ids without a Bucketwatch implementation; not failures):")
        lines += [f"  - {kind} {item_id} ({plural(n, 'test')})" for kind, item_id, n in sorted(report.not_implemented)]
    if report.skipped:
        lines.append("Skipped (kinds Bucketwatch does not run):")
        lines += [f"  - {item_id}: {why}" for item_id, why in sorted(report.skipped)]
    if report.untested:
        lines.append("Warning: without both a true and a false test case:")
        lines += [f"  - {kind} {item_id}" for kind, item_id in report.untested]
    lines.append(f"{report.passed} passed, {report.failed} failed")
    return lines
