"""Correlation rules in Panther's format (`AnalysisType: correlation_rule`), validated.

    Detection:
      - Group:                       # every step within the lookback window (any order)
          - {ID: Bulk Exfiltration, RuleID: AWS.S3.CopyObjectToExternalAccountBucket, MinMatchCount: 10}
          - {ID: Bulk Deletion, RuleID: AWS.S3.DeleteObject}
          - {ID: Archived, RuleID: Github.Repo.Archived, Absence: true}   # and none of these
        MatchCriteria:               # the steps' matches share these values
          bucket:
            - {GroupID: Bulk Exfiltration, Match: p_alert_context.bucketName}
            - {GroupID: Bulk Deletion, Match: p_alert_context.bucketName}
        LookbackWindowMinutes: 1800
        Schedule: {RateMinutes: 1440, TimeoutMinutes: 10}
      # or
      - Sequence:                    # the steps in this order
          - {ID: Deletion, RuleID: AWS.S3.DeleteObjects}
          - {ID: Upload, RuleID: Bucketwatch.S3.ObjectUpload}
        Transitions:                 # one per consecutive pair of steps
          - ID: Deletion FOLLOWED BY Upload
            From: Deletion
            To: Upload
            WithinTimeFrameMinutes: 60          # default: LookbackWindowMinutes
            Match:
              - On: p_alert_context.bucketName  # the same field on both sides
              - {From: p_alert_context.principal, To: p_alert_context.principal}

What is not supported is an error naming the key, never silently ignored: more than one
Detection item, `EventEvaluationOrder`, `MaxMatchCount`, a Group step missing from a MatchCriteria
entry, transitions that do not join consecutive steps, a Sequence that starts with an absent
step or has two absent steps in a row.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.common.errors import UserError
from detectors.common.severity import parse_severity
from detectors.scheduled.schedule import Schedule

DEFAULT_LOOKBACK_MINUTES = 15
TOP_KEYS = {"AnalysisType", "RuleID", "DisplayName", "Enabled", "Status", "Severity", "Description", "Runbook",
            "Reference", "Tags", "Reports", "Detection", "Tests", "CreateAlert", "OutputIds", "SummaryAttributes",
            "OnlyUseBaseRiskScore", "DedupPeriodMinutes"}
ITEM_KEYS = {"Group", "Sequence", "MatchCriteria", "Transitions", "LookbackWindowMinutes", "Schedule"}
STEP_KEYS = {"ID", "RuleID", "MinMatchCount", "Absence"}
TRANSITION_KEYS = {"ID", "From", "To", "Match", "WithinTimeFrameMinutes"}
NOT_SUPPORTED = {
    "EventEvaluationOrder": "EventEvaluationOrder is not supported (Group steps are unordered; use a Sequence)",
    "MaxMatchCount": "MaxMatchCount is not supported",
}


@dataclass(frozen=True)
class Step:
    id: str
    rule_id: str
    min_count: int = 1
    absent: bool = False
    # fields[c]: the match fields whose values must all contain component c of the key
    fields: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Transition:
    id: str
    source: int  # step index
    target: int
    within_s: float


@dataclass(frozen=True)
class CorrelationRule:
    id: str
    spec_path: Path
    kind: str  # "group" | "sequence"
    steps: tuple[Step, ...]
    transitions: tuple[Transition, ...]
    components: tuple[str, ...]  # names of the key's parts (MatchCriteria names / first match field)
    lookback_s: float
    schedule: Schedule
    severity: str = "Info"
    display_name: str = ""
    description: str = ""
    runbook: str = ""
    reference: str = ""
    tags: tuple[str, ...] = ()
    reports: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True
    create_alert: bool = True
    dedup_minutes: int = 60
    tests: tuple[Mapping[str, Any], ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(step.rule_id for step in self.steps))

    def match_fields(self) -> dict[str, tuple[str, ...]]:
        """Per referenced rule id, every field a signal of it must carry."""
        out: dict[str, list[str]] = {}
        for step in self.steps:
            names = out.setdefault(step.rule_id, [])
            names.extend(f for group in step.fields for f in group if f not in names)
        return {rule_id: tuple(names) for rule_id, names in out.items()}


def correlation_from_spec(path: Path, spec: Mapping[str, Any]) -> CorrelationRule:
    rule_id = spec.get("RuleID")
    if not isinstance(rule_id, str) or not rule_id:
        raise UserError(f"{path}: a correlation rule needs a RuleID")
    where = f"{path}: {rule_id}"
    _keys(spec, TOP_KEYS, where)
    detection = spec.get("Detection")
    if not isinstance(detection, list) or not detection:
        raise UserError(f"{where}: Detection must be a list with one Group or Sequence item")
    if len(detection) > 1:
        raise UserError(f"{where}: Detection has {len(detection)} items; only one is supported")
    item = detection[0]
    if not isinstance(item, Mapping):
        raise UserError(f"{where}: Detection[0] must be a mapping")
    _keys(item, ITEM_KEYS, f"{where}: Detection[0]")
    lookback = _whole(item.get("LookbackWindowMinutes", DEFAULT_LOOKBACK_MINUTES),
                      f"{where}: LookbackWindowMinutes")
    if ("Group" in item) == ("Sequence" in item):
        raise UserError(f"{where}: Detection[0] needs exactly one of Group and Sequence")
    kind = "group" if "Group" in item else "sequence"
    steps = _steps(item.get("Group") or item.get("Sequence"), f"{where}: {kind.title()}")
    if kind == "group":
        if "Transitions" in item:
            raise UserError(f"{where}: Transitions belong to a Sequence; a Group uses MatchCriteria")
        components, steps = _criteria(item.get("MatchCriteria"), steps, f"{where}: MatchCriteria")
        transitions: tuple[Transition, ...] = ()
    else:
        if "MatchCriteria" in item:
            raise UserError(f"{where}: MatchCriteria belongs to a Group; a Sequence uses Transitions")
        components, steps, transitions = _transitions(item.get("Transitions"), steps, lookback * 60.0,
                                                      f"{where}: Transitions")
    if all(step.absent for step in steps):
        raise UserError(f"{where}: at least one step must be present (not Absence)")
    return CorrelationRule(
        id=rule_id, spec_path=path, kind=kind, steps=steps, transitions=transitions, components=components,
        lookback_s=lookback * 60.0, schedule=Schedule.parse(item.get("Schedule"), f"{where}: Schedule"),
        severity=parse_severity(spec.get("Severity", "Info"), f"{where}: Severity"),
        display_name=spec.get("DisplayName") or rule_id, description=str(spec.get("Description") or "").strip(),
        runbook=str(spec.get("Runbook") or "").strip(), reference=str(spec.get("Reference") or "").strip(),
        tags=tuple(spec.get("Tags") or ()), reports=spec.get("Reports") or {},
        enabled=bool(spec.get("Enabled", True)), create_alert=bool(spec.get("CreateAlert", True)),
        dedup_minutes=_whole(spec.get("DedupPeriodMinutes", 60), f"{where}: DedupPeriodMinutes"),
        tests=tuple(spec.get("Tests") or ()),
    )


def _keys(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in mapping:
        if key in NOT_SUPPORTED:
            raise UserError(f"{where}: {NOT_SUPPORTED[key]}")
    unknown = sorted(set(map(str, mapping)) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}")


def _steps(raw: Any, where: str) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{where}: expected a list of steps (ID, RuleID, MinMatchCount, Absence)")
    steps = []
    for i, entry in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            raise UserError(f"{at}: expected a mapping with ID and RuleID")
        _keys(entry, STEP_KEYS, at)
        step_id, rule_id = entry.get("ID"), entry.get("RuleID")
        if not isinstance(step_id, str) or not isinstance(rule_id, str) or not step_id or not rule_id:
            raise UserError(f"{at}: ID and RuleID are required strings")
        absent = entry.get("Absence", False)
        if not isinstance(absent, bool):
            raise UserError(f"{at}.Absence: expected true or false, got {absent!r}")
        steps.append(Step(step_id, rule_id, _whole(entry.get("MinMatchCount", 1), f"{at}.MinMatchCount"), absent))
    ids = [s.id for s in steps]
    if len(set(ids)) != len(ids):
        raise UserError(f"{where}: step IDs must be unique, got {ids}")
    return tuple(steps)


def _criteria(raw: Any, steps: tuple[Step, ...], where: str) -> tuple[tuple[str, ...], tuple[Step, ...]]:
    if raw is None:
        return (), steps  # no criteria: one key for everything
    if not isinstance(raw, Mapping) or not raw:
        raise UserError(f"{where}: expected a mapping of criterion name -> list of {{GroupID, Match}}")
    by_id = {s.id: s for s in steps}
    fields: dict[str, list[tuple[str, ...]]] = {s.id: [] for s in steps}
    for name, entries in raw.items():
        at = f"{where}.{name}"
        if not isinstance(entries, list) or not entries:
            raise UserError(f"{at}: expected a list of {{GroupID, Match}}")
        seen: dict[str, str] = {}
        for j, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or set(entry) != {"GroupID", "Match"}:
                raise UserError(f"{at}[{j}]: expected exactly GroupID and Match")
            group, match = entry["GroupID"], entry["Match"]
            if group not in by_id:
                raise UserError(f"{at}[{j}]: GroupID '{group}' is not a step of the Group ({', '.join(by_id)})")
            if not isinstance(match, str) or not match:
                raise UserError(f"{at}[{j}].Match: expected a field path such as p_alert_context.bucketName")
            seen[group] = match
        missing = [s for s in by_id if s not in seen]
        if missing:
            raise UserError(f"{at}: every step must be listed (missing {', '.join(missing)}); "
                            "criteria over some of the steps only are not supported")
        for group, match in seen.items():
            fields[group].append((match,))
    return tuple(map(str, raw)), tuple(_with_fields(s, fields[s.id]) for s in steps)


def _transitions(raw: Any, steps: tuple[Step, ...], lookback_s: float,
                 where: str) -> tuple[tuple[str, ...], tuple[Step, ...], tuple[Transition, ...]]:
    if steps[0].absent:
        raise UserError(f"{where}: a Sequence cannot start with an absent step")
    if any(a.absent and b.absent for a, b in itertools.pairwise(steps)):
        raise UserError(f"{where}: two absent steps in a row are not supported")
    if len(steps) == 1:
        if raw:
            raise UserError(f"{where}: a one-step Sequence has no transitions")
        return (), steps, ()
    if not isinstance(raw, list) or len(raw) != len(steps) - 1:
        raise UserError(f"{where}: expected {len(steps) - 1} transition(s), one per consecutive pair of steps")
    index = {s.id: i for i, s in enumerate(steps)}
    per_step: list[list[set[str]]] = [[] for _ in steps]
    transitions, components = [], None
    for j, entry in enumerate(raw):
        at = f"{where}[{j}]"
        if not isinstance(entry, Mapping):
            raise UserError(f"{at}: expected a mapping with ID, From, To and Match")
        _keys(entry, TRANSITION_KEYS, at)
        source, target = index.get(entry.get("From")), index.get(entry.get("To"))
        if source is None or target is None:
            raise UserError(f"{at}: From and To must be step IDs ({', '.join(index)})")
        if target != source + 1 or source != j:
            raise UserError(f"{at}: transitions must join consecutive steps in order "
                            f"({steps[j].id} -> {steps[j + 1].id})")
        pairs = _match_pairs(entry.get("Match"), f"{at}.Match")
        if components is None:
            components = tuple(p[0] for p in pairs)
        elif len(pairs) != len(components):
            raise UserError(f"{at}.Match: every transition must match the same number of fields "
                            f"({len(components)})")
        for c, (left, right) in enumerate(pairs):
            _grow(per_step[source], c).add(left)
            _grow(per_step[target], c).add(right)
        within = entry.get("WithinTimeFrameMinutes")
        within_s = lookback_s if within is None else _whole(within, f"{at}.WithinTimeFrameMinutes") * 60.0
        transitions.append(Transition(str(entry.get("ID") or f"{steps[j].id} -> {steps[j + 1].id}"),
                                      source, target, within_s))
    steps = tuple(_with_fields(s, [tuple(sorted(f)) for f in per_step[i]]) for i, s in enumerate(steps))
    return components or (), steps, tuple(transitions)


def _match_pairs(raw: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{where}: expected a list of {{On: field}} or {{From: field, To: field}}")
    pairs = []
    for k, entry in enumerate(raw):
        if isinstance(entry, Mapping) and set(entry) == {True}:
            entry = {"On": entry[True]}  # YAML 1.1 (PyYAML) reads the key `On` as the boolean true
        if isinstance(entry, Mapping) and set(entry) == {"On"} and isinstance(entry["On"], str):
            pairs.append((entry["On"], entry["On"]))
        elif isinstance(entry, Mapping) and set(entry) == {"From", "To"} \
                and all(isinstance(entry[k2], str) for k2 in ("From", "To")):
            pairs.append((entry["From"], entry["To"]))
        else:
            raise UserError(f"{where}[{k}]: expected {{On: field}} or {{From: field, To: field}}")
    return pairs


def _grow(items: list[set[str]], index: int) -> set[str]:
    while len(items) <= index:
        items.append(set())
    return items[index]


def _with_fields(step: Step, fields: list[tuple[str, ...]]) -> Step:
    return Step(step.id, step.rule_id, step.min_count, step.absent, tuple(fields))


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{where}: expected a whole number of at least 1, got {value!r}")
    return value


BUILTIN_CORRELATION_DIR = Path(__file__).resolve().parent.parent / "correlation_rules"


def load_correlation_rules(dirs: Iterable[str | Path] = (), include_builtin: bool = True, on_error: Any = None,
                           only_enabled: bool = False) -> list[CorrelationRule]:
    """Correlation rules of the built-in directory and `dirs`; a later one replaces the same id.
    A spec that cannot be used raises UserError, or goes to `on_error(path, error)` when given."""
    from detectors.engine.rules import load_items

    directories = ([BUILTIN_CORRELATION_DIR] if include_builtin else []) + [Path(d) for d in dirs]
    rules = load_items(directories, {"correlation_rule"}, correlation_from_spec, on_error)
    return [r for r in rules if r.enabled] if only_enabled else rules
