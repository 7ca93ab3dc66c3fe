"""The correlation evaluator: rule matches ("signals") in a window -> the keys a rule matches.

A signal is one event a rule matched, with its event time and the values of the fields the
correlation rule matches on. For every key (the shared values of the MatchCriteria / transition
fields; a list value matches each of its items, so lists on both sides intersect):

- **Group**: within the window [end - LookbackWindowMinutes, end], every present step has at
  least MinMatchCount signals with the key, in any order, and every `Absence: true` step has none.
- **Sequence**: the steps happen in order: each step's MinMatchCount-th signal (its completion)
  comes at or after the previous step's completion, within the transition's
  WithinTimeFrameMinutes of it (default: the lookback window). An absent step means: none of its
  signals between the previous step's completion and the next step's first signal, or, when it is
  last, within its time frame after the previous completion (up to the window's end).

`after(key)` makes the evaluation incremental: a key matches only if its match uses a signal
newer than `after(key)` (the newest signal of the last match already alerted on), so running
again over the same signals raises nothing new, while a fresh signal raises (the engine's dedup
then folds it into the open alert). This is how the scheduler keeps correlation progress.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detectors.common.errors import UserError
from detectors.correlation.spec import CorrelationRule, Step
from detectors.sql.macros import parse_utc

Key = tuple[str, ...]
# Integer test timestamps are minutes after this (Panther allows relative times in RuleOutputs).
RELATIVE_BASE = datetime(2000, 1, 1, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Signal:
    rule_id: str
    time: float  # epoch seconds (event time)
    values: Mapping[str, frozenset[str]] = field(default_factory=dict)  # match field -> value(s)
    ref: str | None = None  # p_row_id in the lake
    record: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)  # the event, for samples


@dataclass
class StepMatch:
    step: Step
    signals: list[Signal]  # used signals (empty for an absent step)


@dataclass
class CorrelationMatch:
    rule: CorrelationRule
    key: Key
    steps: list[StepMatch]

    @property
    def first_seen(self) -> float:
        return min(s.time for m in self.steps for s in m.signals)

    @property
    def last_seen(self) -> float:
        return max(s.time for m in self.steps for s in m.signals)


def keys_of(step: Step, signal: Signal) -> set[Key]:
    """The keys a signal of `step` stands for (empty when a match field is missing)."""
    parts = []
    for fields in step.fields:
        sets = [signal.values.get(name, frozenset()) for name in fields]
        common = frozenset.intersection(*sets) if sets else frozenset()
        if not common:
            return set()
        parts.append(sorted(common))
    return set(itertools.product(*parts))


def evaluate(rule: CorrelationRule, signals: Iterable[Signal], end: float,
             after: Callable[[Key], float | None] | None = None) -> list[CorrelationMatch]:
    """The keys `rule` matches in the window ending at `end` (epoch seconds), oldest first."""
    start = end - rule.lookback_s
    by_key: dict[Key, list[list[Signal]]] = defaultdict(lambda: [[] for _ in rule.steps])
    for signal in signals:
        if not start <= signal.time <= end:
            continue
        for i, step in enumerate(rule.steps):
            if step.rule_id == signal.rule_id:
                for key in keys_of(step, signal):
                    by_key[key][i].append(signal)
    matches = []
    for key, lists in sorted(by_key.items()):
        if not any(lists[i] for i, step in enumerate(rule.steps) if not step.absent):
            continue
        for items in lists:
            items.sort(key=lambda s: s.time)
        newer_than = after(key) if after is not None else None
        if rule.kind == "group":
            found = _group(rule, lists, newer_than)
        else:
            found = _SequenceSearch(rule, lists, end, newer_than).run()
        if found is not None:
            matches.append(CorrelationMatch(rule, key, found))
    return sorted(matches, key=lambda m: (m.last_seen, m.key))


def _group(rule: CorrelationRule, lists: list[list[Signal]], newer_than: float | None) -> list[StepMatch] | None:
    for step, items in zip(rule.steps, lists, strict=True):
        if step.absent and items:
            return None
        if not step.absent and len(items) < step.min_count:
            return None
    used = [StepMatch(step, [] if step.absent else items) for step, items in zip(rule.steps, lists, strict=True)]
    newest = max(s.time for m in used for s in m.signals)
    return used if newer_than is None or newest > newer_than else None


class _SequenceSearch:
    """Depth-first over each step's possible completions, memoized on (step, previous completion);
    returns the first chain (earliest completions first) that satisfies every transition."""

    def __init__(self, rule: CorrelationRule, lists: list[list[Signal]], end: float, newer_than: float | None):
        self.rule, self.lists, self.end, self.newer_than = rule, lists, end, newer_than
        self.times = [[s.time for s in items] for items in lists]
        self.memo: dict[tuple[int, float | None, int | None], list[StepMatch] | None] = {}

    def run(self) -> list[StepMatch] | None:
        return self.search(0, None, None)

    def search(self, i: int, done: float | None, guard: int | None) -> list[StepMatch] | None:
        memo_key = (i, done, guard)
        if memo_key not in self.memo:
            self.memo[memo_key] = self._search(i, done, guard)
        return self.memo[memo_key]

    def _search(self, i: int, done: float | None, guard: int | None) -> list[StepMatch] | None:
        steps = self.rule.steps
        if i == len(steps):
            fresh = self.newer_than is None or (done is not None and done > self.newer_than)
            return [] if fresh else None
        step = steps[i]
        if step.absent:
            if i < len(steps) - 1:
                rest = self.search(i + 1, done, i)
                return None if rest is None else [StepMatch(step, []), *rest]
            limit = min(done + self.rule.transitions[i - 1].within_s, self.end)  # type: ignore[operator]
            times = self.times[i]
            if bisect_right(times, limit) > bisect_right(times, done):  # one in (done, limit]
                return None
            rest = self.search(i + 1, done, None)
            return None if rest is None else [StepMatch(step, []), *rest]
        times, count = self.times[i], step.min_count
        within = self.rule.transitions[i - 1].within_s if i > 0 else None
        for j in range(0 if done is None else bisect_left(times, done), len(times) - count + 1):
            first, completion = times[j], times[j + count - 1]
            if within is not None and completion - done > within:  # type: ignore[operator]
                break  # later choices complete later still
            if guard is not None and bisect_left(self.times[guard], first) > bisect_right(self.times[guard], done):
                break  # an absent step's signal in (done, first): later choices include it too
            rest = self.search(i + 1, completion, None)
            if rest is not None:
                return [StepMatch(step, self.lists[i][j:j + count]), *rest]
        return None


def signals_from_rule_outputs(rule: CorrelationRule, outputs: Any, where: str) -> list[Signal]:
    """A correlation test's `RuleOutputs` as signals: per step ID, per match field, per value,
    the times of its matches (ISO strings, or integers = minutes after a fixed start). Values
    given for several fields of one step at the same time are one match carrying all of them."""
    by_id = {step.id: step for step in rule.steps}
    if not isinstance(outputs, list):
        raise UserError(f"{where}: RuleOutputs must be a list of {{ID, Matches}}")
    merged: dict[tuple[str, float], dict[str, set[str]]] = {}
    for n, output in enumerate(outputs):
        if not isinstance(output, Mapping) or output.get("ID") not in by_id:
            raise UserError(f"{where}: RuleOutputs[{n}].ID must be one of {', '.join(by_id)}")
        rule_id = by_id[output["ID"]].rule_id
        matches = output.get("Matches") or {}
        if not isinstance(matches, Mapping):
            raise UserError(f"{where}: RuleOutputs[{n}].Matches must map field -> value -> times")
        for field_name, values in matches.items():
            if not isinstance(values, Mapping):
                raise UserError(f"{where}: RuleOutputs[{n}].Matches.{field_name} must map value -> list of times")
            for value, times in values.items():
                for moment in times if isinstance(times, list) else [times]:
                    fields = merged.setdefault((rule_id, _test_time(moment, where)), {})
                    fields.setdefault(str(field_name), set()).add(str(value))
    return [Signal(rule_id, time, {name: frozenset(v) for name, v in fields.items()})
            for (rule_id, time), fields in merged.items()]


def _test_time(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise UserError(f"{where}: a match time must be a timestamp or a number of minutes, got {value!r}")
    if isinstance(value, int | float):
        return RELATIVE_BASE + float(value) * 60.0
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return parse_utc(str(value), where).timestamp()
