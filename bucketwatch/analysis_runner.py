"""Run the `Tests:` of rules and policies in Panther's analysis format.

Two sources of test cases:
- each rule's/policy's own spec (built-in, or the directories given);
- a Panther pack (`--panther-pack DIR`): its specs' tests are run against OUR implementation of
  the same id (rule -> RuleID, policy -> PolicyID / our PantherID). Ids we do not implement are
  listed as not implemented, never counted as failures.

A rule test passes when (pre-filter accepts the event AND rule(event)) equals ExpectedResult,
and, for matches, title/dedup/severity/alert_context/unique run without raising. `Mocks:`
entries replace a module-level name with a function returning `returnValue`, as in Panther.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from detectors.config import DetectionSettings, activated
from detectors.engine.rules import Rule, iter_specs, load_rules
from detectors.event import PantherEvent, guess_log_type

OPTIONAL_FUNCTIONS = ("title", "dedup", "severity", "alert_context", "unique", "runbook", "description",
                      "reference", "destinations")


@dataclass
class Outcome:
    kind: str  # "rule" | "policy"
    id: str
    name: str
    source: str  # "own" | "panther"
    passed: bool
    detail: str = ""


@dataclass
class TestReport:
    outcomes: list[Outcome] = field(default_factory=list)
    not_implemented: list[tuple[str, str, int]] = field(default_factory=list)  # kind, id, tests
    skipped: list[tuple[str, str]] = field(default_factory=list)  # id, why
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
        with activated(DetectionSettings()), _mocks(rule, test.get("Mocks") or ()):
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
    return (True, "") if actual == expected else (False, f"expected {expected}, got {actual}")


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

    def broken(path: Path, error: Exception) -> None:
        # A rule that does not even load fails its tests: reported, and the others still run.
        report.outcomes.append(Outcome("rule", path.name, "<load>", "own", False, str(error)))

    rules = load_rules(dirs, include_builtin=builtin, on_error=broken)
    policies = load_policy_defs(dirs, include_builtin=builtin)
    for rule in sorted(rules, key=lambda r: r.id):
        _run_own(report, "rule", rule.id, rule.tests, lambda t, r=rule: run_rule_test(r, t))
    for policy in policies:
        _run_own(report, "policy", policy.id, policy.tests, lambda t, p=policy: _policy_test(p, t))
    if panther_pack is not None:
        _run_pack(report, Path(panther_pack), rules, policies)
    return report


def _run_own(report: TestReport, kind: str, item_id: str, tests: list[dict[str, Any]], run: Any) -> None:
    results = {bool(t.get("ExpectedResult")) for t in tests}
    if results != {True, False}:
        report.untested.append((kind, item_id))
    for test in tests:
        ok, why = run(test)
        report.outcomes.append(Outcome(kind, item_id, str(test.get("Name", "?")), "own", ok, why))


def _run_pack(report: TestReport, pack: Path, rules: list[Rule], policies: list[Any]) -> None:
    if not pack.is_dir():
        from detectors.common.errors import UserError

        raise UserError(f"Panther pack not found: {pack}")
    rules_by_id = {r.id: r for r in rules}
    policies_by_id: dict[str, Any] = {}
    for policy in policies:
        policies_by_id.setdefault(policy.id, policy)
        if policy.panther_id:
            policies_by_id[policy.panther_id] = policy
    for path, spec in iter_specs(pack):
        kind = spec.get("AnalysisType")
        tests = list(spec.get("Tests") or ())
        if kind == "rule":
            item_id, target = spec.get("RuleID"), rules_by_id.get(spec.get("RuleID"))
            run: Any = run_rule_test
        elif kind == "policy":
            item_id, target = spec.get("PolicyID"), policies_by_id.get(spec.get("PolicyID"))
            run = _policy_test
        else:
            report.skipped.append((str(spec.get("RuleID") or spec.get("DataModelID") or path.name),
                                   f"{kind}: not a rule or policy"))
            continue
        if target is None:
            report.not_implemented.append((kind, str(item_id), len(tests)))
            continue
        for test in tests:
            ok, why = run(target, test)
            report.outcomes.append(Outcome(kind, str(item_id), str(test.get("Name", "?")), "panther", ok, why))


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
        lines += [f"  - {kind} {item_id} ({n} tests)" for kind, item_id, n in sorted(report.not_implemented)]
    if report.skipped:
        lines.append("Skipped (not rules or policies):")
        lines += [f"  - {item_id}: {why}" for item_id, why in sorted(report.skipped)]
    if report.untested:
        lines.append("Warning: without both a true and a false test case:")
        lines += [f"  - {kind} {item_id}" for kind, item_id in report.untested]
    lines.append(f"{report.passed} passed, {report.failed} failed")
    return lines
