"""Loading rules in Panther's analysis format: a `.yml` spec beside a `.py` module.

The spec keys are Panther's (RuleID, LogTypes, Severity, DedupPeriodMinutes, Threshold,
Enabled, Tags, Reports, Tests, ...). Bucketwatch adds one optional key, `Prefilter`: per log
type, fields whose value must match one of a list (exact strings or globs), checked before the
rule runs - vectorized on Arrow tables - so rules that cannot match cost nothing.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from detectors.common.errors import UserError
from detectors.common.severity import parse_severity
from detectors.config import DetectionSettings
from detectors.engine.prefilter import Prefilter

BUILTIN_RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
GLOBAL_HELPERS_DIR = Path(__file__).resolve().parent.parent / "global_helpers"
DEFAULT_DEDUP_MINUTES = 60
RULE_TYPES = {"rule"}
SPEC_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: specs load ~10x faster


def ensure_helpers_importable(extra: Iterable[Path] = ()) -> None:
    """Our helpers first (the built-in rules are tested with them), then a pack's own."""
    for path in (GLOBAL_HELPERS_DIR, *extra):
        text = str(path)
        if text not in sys.path:
            sys.path.insert(0 if path == GLOBAL_HELPERS_DIR else len(sys.path), text)


@dataclass
class Rule:
    id: str
    spec_path: Path
    module: ModuleType
    log_types: tuple[str, ...]
    severity: str
    dedup_minutes: int
    threshold: int
    enabled: bool
    display_name: str
    description: str = ""
    runbook: str = ""
    reference: str = ""
    tags: tuple[str, ...] = ()
    reports: Mapping[str, Any] = field(default_factory=dict)
    tests: list[dict[str, Any]] = field(default_factory=list)
    prefilter: Prefilter = field(default_factory=Prefilter)
    create_alert: bool = True  # Panther's CreateAlert: false = matches (lake rows, signals) but no alert

    def has(self, function: str) -> bool:
        return callable(getattr(self.module, function, None))

    def call(self, function: str, event: Any, default: Any = None) -> Any:
        fn = getattr(self.module, function, None)
        return fn(event) if callable(fn) else default



def read_spec(path: Path) -> dict[str, Any]:
    try:
        spec = yaml.load(path.read_text(encoding="utf-8"), Loader=SPEC_LOADER)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(spec, dict):
        raise UserError(f"{path}: expected a mapping (a Panther analysis spec)")
    return spec


def _module_name(rule_id: str, path: Path) -> str:
    return "bucketwatch_rule_" + re.sub(r"\W", "_", f"{rule_id}_{abs(hash(str(path)))}")


def load_module(path: Path, rule_id: str) -> ModuleType:
    if not path.is_file():
        raise UserError(f"rule {rule_id}: its Filename {path.name} does not exist next to the spec ({path.parent})")
    spec = importlib.util.spec_from_file_location(_module_name(rule_id, path), path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as exc:
        raise UserError(f"rule {rule_id}: {path} failed to import: {type(exc).__name__}: {exc}") from exc
    if not callable(getattr(module, "rule", None)):
        raise UserError(f"rule {rule_id}: {path} has no rule(event) function")
    return module


def rule_from_spec(spec_path: Path, spec: Mapping[str, Any]) -> Rule:
    rule_id = spec.get("RuleID")
    if not rule_id or not spec.get("Filename"):
        raise UserError(f"{spec_path}: a rule spec needs RuleID and Filename")
    # A scheduled rule reads the result rows of the queries it names: their names are its log types.
    log_types = tuple(spec.get("LogTypes") or spec.get("ScheduledQueries") or ())
    if not log_types:
        raise UserError(f"{spec_path}: rule {rule_id} lists no LogTypes (or ScheduledQueries)")
    module = load_module(spec_path.parent / spec["Filename"], rule_id)
    threshold = int(spec.get("Threshold") or 1)
    dedup = int(spec.get("DedupPeriodMinutes") or DEFAULT_DEDUP_MINUTES)
    return Rule(
        id=rule_id,
        spec_path=spec_path,
        module=module,
        log_types=log_types,
        severity=parse_severity(spec.get("Severity", "Info"), str(spec_path)),
        dedup_minutes=dedup,
        threshold=threshold,
        enabled=bool(spec.get("Enabled", True)),
        display_name=spec.get("DisplayName") or rule_id,
        description=(spec.get("Description") or "").strip(),
        runbook=(spec.get("Runbook") or "").strip(),
        reference=(spec.get("Reference") or "").strip(),
        tags=tuple(spec.get("Tags") or ()),
        reports=spec.get("Reports") or {},
        tests=list(spec.get("Tests") or ()),
        prefilter=Prefilter.from_spec(spec.get("Prefilter"), log_types, f"{spec_path}: Prefilter"),
        create_alert=bool(spec.get("CreateAlert", True)),
    )


def iter_specs(directory: Path) -> Iterable[tuple[Path, dict[str, Any]]]:
    for path in sorted([*directory.rglob("*.yml"), *directory.rglob("*.yaml")]):
        if "global_helpers" in path.parts:
            continue
        yield path, read_spec(path)


def load_rules(dirs: Iterable[str | Path] = (), include_builtin: bool = True,
               settings: DetectionSettings | None = None, only_enabled: bool = False,
               on_error: Callable[[Path, UserError], None] | None = None,
               analysis_types: frozenset[str] | set[str] = RULE_TYPES,
               builtin_dir: Path = BUILTIN_RULES_DIR) -> list[Rule]:
    """Rules from the built-in directory and `dirs`, with config overrides applied.
    `analysis_types={"scheduled_rule"}` loads scheduled rules instead (from `builtin_dir`).

    A later directory's rule replaces an earlier one with the same id, so a user pack can
    override a built-in rule. A rule that cannot be loaded raises UserError, unless `on_error`
    is given (then it is reported there and skipped: `bucketwatch test` counts it as failed).
    """
    directories = ([builtin_dir] if include_builtin else []) + [Path(d) for d in dirs]
    ensure_helpers_importable([d / "global_helpers" for d in directories if (d / "global_helpers").is_dir()])
    rules = load_items(directories, analysis_types, rule_from_spec, on_error)
    result = [apply_overrides(rule, settings) for rule in rules]
    return [r for r in result if r.enabled] if only_enabled else result


def load_items(directories: Iterable[Path], analysis_types: Iterable[str], build: Callable[[Path, Any], Any],
               on_error: Callable[[Path, UserError], None] | None = None) -> list[Any]:
    """Every spec of `analysis_types` under `directories`, built by `build(path, spec)` (which
    returns an item with an `id`); a later directory's item replaces an earlier one with the same
    id. A spec that cannot be built raises, or goes to `on_error(path, error)` when given."""
    wanted = set(analysis_types)
    items: dict[str, Any] = {}
    for directory in directories:
        if not directory.is_dir():
            raise UserError(f"rules directory not found: {directory}")
        for path, spec in iter_specs(directory):
            if spec.get("AnalysisType") not in wanted:
                continue
            try:
                item = build(path, spec)
            except UserError as exc:
                if on_error is None:
                    raise
                on_error(path, exc)
                continue
            items[item.id] = item
    return list(items.values())


def apply_overrides(rule: Rule, settings: DetectionSettings | None) -> Rule:
    return replace(rule, **override_changes(rule.id, settings))


def override_changes(item_id: str, settings: DetectionSettings | None,
                     fields: Iterable[str] = ("enabled", "severity", "threshold", "dedup_minutes")) -> dict[str, Any]:
    """The `detections.rules.<id>` overrides of the config file, as dataclass field changes."""
    override = (settings.rules if settings else {}).get(item_id)
    if override is None:
        return {}
    values = {"enabled": override.enabled, "severity": override.severity or None,
              "threshold": override.threshold or None, "dedup_minutes": override.dedup_period_minutes or None}
    return {name: values[name] for name in fields if values[name] is not None}


# What `detections.rules.<id>` may name: an override applies to each of these kinds.
OVERRIDABLE_TYPES = frozenset({"rule", "scheduled_rule", "correlation_rule"})


def analysis_ids(dirs: Iterable[str | Path] = (), include_builtin: bool = True) -> set[str]:
    """The ids of every rule, scheduled rule and correlation rule of the built-in directories and
    `dirs` (from their specs: no rule module is imported)."""
    from detectors.correlation.spec import BUILTIN_CORRELATION_DIR
    from detectors.scheduled.queries import BUILTIN_QUERIES_DIR

    builtin = [BUILTIN_RULES_DIR, BUILTIN_QUERIES_DIR, BUILTIN_CORRELATION_DIR] if include_builtin else []
    ids: set[str] = set()
    for directory in [*builtin, *(Path(d) for d in dirs)]:
        if not directory.is_dir():
            continue  # loading the rules reports a missing directory
        for _, spec in iter_specs(directory):
            if spec.get("AnalysisType") in OVERRIDABLE_TYPES and spec.get("RuleID"):
                ids.add(str(spec["RuleID"]))
    return ids


def check_rule_overrides(settings: DetectionSettings | None, dirs: Iterable[str | Path] = (),
                         include_builtin: bool = True) -> None:
    """A `detections.rules.<id>` that names no rule (a typo would otherwise leave the rule as it
    was, silently) is a UserError suggesting the closest id. Rule ids are known only once the
    packs are known, so this runs where rules are loaded (detect, schedule, the Lambdas)."""
    names = list(settings.rules) if settings else []
    if not names:
        return
    known = analysis_ids(dirs, include_builtin)
    for name in names:
        if name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise UserError(f"detections.rules.{name}: no rule, scheduled rule or correlation rule has this id{hint}")
