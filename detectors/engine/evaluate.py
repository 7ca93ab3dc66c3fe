"""The detection engine: pre-filter, run rules, group matches into alerts, report changes.

Usage per batch of events (one parsed log object or part of one):

    engine.process_batch(batch)          # or engine.process_events(dicts)
    result = engine.flush()              # alert changes + which rows matched which alert
    write_rule_matches(writer, batch, result)

State between batches and runs lives in the dedup store; `flush` touches each (rule, dedup)
group once per batch, so the store sees one read and one write per group, not per event.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.common.severity import parse_severity
from detectors.engine.alerts import AlertChange, AlertState, Details, Match, apply_matches, iso
from detectors.engine.rows import LazyRows
from detectors.engine.rules import Rule
from detectors.engine.stores import MARKER_TTL_S, DedupStore, MemoryStore, Put, applied_marker
from detectors.event import PantherEvent

MAX_CONFLICT_RETRIES = 8
EXPIRY_GRACE_S = 24 * 3600


@dataclass
class RuleError:
    rule_id: str
    error: str
    count: int = 0


@dataclass
class FlushResult:
    changes: list[tuple[Rule, AlertChange]] = field(default_factory=list)

    @property
    def created(self) -> list[tuple[Rule, AlertChange]]:
        return [(r, c) for r, c in self.changes if c.created]


@dataclass
class EngineStats:
    events: int = 0
    candidates: int = 0  # events that passed at least one rule's pre-filter
    evaluations: int = 0  # rule() calls
    matches: int = 0


class MatchBlock:
    """All matches of one rule and dedup string found by a `match_table` hook in one batch:
    row numbers and event times as numpy arrays. Grouping folds the block at once; it is
    expanded into single matches only when its events span more than one dedup window."""

    def __init__(self, engine: Engine, rule: Rule, log_type: str, rows: LazyRows, refs: np.ndarray,
                 times: np.ndarray) -> None:
        order = np.argsort(times, kind="stable")  # kept sorted by event time
        self.engine, self.rule, self.log_type, self.rows = engine, rule, log_type, rows
        self.refs, self.times = refs[order], times[order]

    def part(self, lo: int, hi: int) -> MatchBlock:
        block = MatchBlock.__new__(MatchBlock)
        block.engine, block.rule, block.log_type, block.rows = self.engine, self.rule, self.log_type, self.rows
        block.refs, block.times = self.refs[lo:hi], self.times[lo:hi]
        return block

    def __len__(self) -> int:
        return len(self.refs)

    def expand(self) -> list[_LazyMatch]:
        return [_LazyMatch(self.engine, self.rule, self.log_type, self.rows, ref, ref, when)
                for ref, when in zip(self.refs.tolist(), self.times.tolist(), strict=True)]

    def _single(self, i: int) -> _LazyMatch:
        ref = int(self.refs[i])
        return _LazyMatch(self.engine, self.rule, self.log_type, self.rows, ref, ref, float(self.times[i]))

    def earliest(self, count: int) -> list[_LazyMatch]:
        return [self._single(i) for i in range(min(count, len(self.refs)))]

    def newest(self) -> _LazyMatch:
        # The first of the latest events, as max() over time-sorted single matches picks.
        return self._single(int(np.searchsorted(self.times, self.times[-1], side="left")))


class _LazyMatch:
    """A match found by a `match_table` hook: its event (and title/severity/context) is built
    only if the alert needs it. Duck-types `alerts.Match`."""

    __slots__ = ("_details", "_engine", "_event", "_log_type", "_position", "_rows", "_rule", "ref", "time")
    unique = None

    def __init__(self, engine: Engine, rule: Rule, log_type: str, rows: LazyRows, position: int, ref: int,
                 when: float) -> None:
        self._engine, self._rule, self._log_type = engine, rule, log_type
        self._rows, self._position, self.ref, self.time = rows, position, ref, when
        self._event: PantherEvent | None = None
        self._details: Details | None = None

    def sample(self) -> PantherEvent:
        if self._event is None:
            self._event = PantherEvent(self._rows.view(self._position), self._log_type)
        return self._event

    def details(self) -> Details:
        if self._details is None:
            engine, rule, event = self._engine, self._rule, self.sample()
            try:
                self._details = Details(title=engine._title(rule, event), severity=engine._severity(rule, event),
                                        context=_jsonable(rule.call("alert_context", event) or {}),
                                        destinations=engine._destinations(rule, event))
            except Exception as exc:
                engine._record_error(rule, exc)
                self._details = Details(title=rule.display_name, severity=rule.severity, context={})
        return self._details


@dataclass
class _Plan:
    rule: Rule
    dedup: str
    matches: list[Match]
    key: str
    version: int
    latest: AlertState
    changes: list[AlertChange]

    def windows(self) -> list[AlertState]:
        return [self.latest, *(c.state for c in self.changes if c.state is not self.latest)]


def materialize_samples(windows: Iterable[AlertState]) -> None:
    """Replace sample events (kept as events while grouping) by plain dicts, batching lazy rows."""
    wanted: dict[int, tuple[Any, list[tuple[list[Any], int, int]]]] = {}
    for window in windows:
        for index, sample in enumerate(window.samples):
            if isinstance(sample, dict):
                continue
            view = getattr(sample, "_data", None)
            locate = getattr(view, "location", None)
            if locate is None:
                window.samples[index] = _jsonable(sample.to_dict())
                continue
            rows, position = locate()
            wanted.setdefault(id(rows), (rows, []))[1].append((window.samples, index, position))
    for rows, slots in wanted.values():
        plain = rows.plain_rows(sorted({position for _, _, position in slots}))
        for samples, index, position in slots:
            samples[index] = plain[position]


class Engine:
    def __init__(self, rules: Iterable[Rule], store: DedupStore | None = None, clock: Any = time.time,
                 on_created: Callable[[Rule, AlertState], None] | None = None,
                 group_thresholds: Mapping[str, Mapping[str, int]] | None = None) -> None:
        """`on_created(rule, state)` runs for each new alert BEFORE its state is stored: if it
        raises (e.g. SNS unavailable), the state is not saved and a retry raises the alert again
        (at-least-once delivery instead of a lost alert). `group_thresholds[rule id][dedup]`
        replaces the rule's Threshold for one group (a baseline, e.g. detectors.baseline)."""
        self.rules = [r for r in rules if r.enabled]
        self.group_thresholds = group_thresholds or {}
        self.on_created = on_created
        self.store = store if store is not None else MemoryStore()
        self.clock = clock
        self.by_log_type: dict[str, list[Rule]] = defaultdict(list)
        for rule in self.rules:
            for log_type in rule.log_types:
                self.by_log_type[log_type].append(rule)
        self.stats = EngineStats()
        self.errors: dict[tuple[str, str], RuleError] = {}
        self.alerts: dict[str, tuple[Rule, AlertState, bool]] = {}  # alert id -> latest, created this run
        self._pending: dict[tuple[str, str], list[Match]] = defaultdict(list)
        self._rules_by_id = {r.id: r for r in self.rules}

    # -- evaluation -----------------------------------------------------------------------
    def process_events(self, records: Iterable[Mapping[str, Any]], log_type: str | None = None) -> None:
        """Evaluate plain records (each may carry its own p_log_type); refs are positions."""
        for position, record in enumerate(records):
            event = record if isinstance(record, PantherEvent) else PantherEvent(record, log_type)
            rules = [r for r in self.by_log_type.get(event.log_type or "", ()) if r.prefilter.accepts(event.log_type, event)]
            self.stats.events += 1
            if rules:
                self.stats.candidates += 1
                self._evaluate(event, rules, position)

    def process_table(self, log_type: str, table: pa.Table, row_events: Any) -> None:
        """Vectorized pre-filters on the Arrow table; only candidate rows become events.

        `row_events(indices)` returns the events (dicts) for those row indices, in order.
        """
        rules = self.by_log_type.get(log_type, [])
        self.stats.events += table.num_rows
        if not rules or not table.num_rows:
            return
        whole = LazyRows(table, None, sparse=True)  # shared by the vectorized rules: rows built only on demand
        rules = [rule for rule in rules if not self._match_vectorized(rule, log_type, table, whole)]
        if not rules:
            return
        masks = [_table_mask(rule, log_type, table) for rule in rules]
        if any(m is None for m in masks):
            candidate = np.arange(table.num_rows)
            per_rule = [None if m is None else np.asarray(m.to_numpy(zero_copy_only=False), dtype=bool) for m in masks]
        else:
            combined = masks[0]
            for mask in masks[1:]:
                combined = pc.or_(combined, mask)
            candidate = np.flatnonzero(np.asarray(combined.to_numpy(zero_copy_only=False), dtype=bool))
            per_rule = [np.asarray(m.to_numpy(zero_copy_only=False), dtype=bool) for m in masks]
        if not len(candidate):
            return
        self.stats.candidates += len(candidate)
        events = row_events(candidate.tolist())
        for index, record in zip(candidate.tolist(), events, strict=True):
            applicable = [rule for rule, mask in zip(rules, per_rule, strict=True) if mask is None or mask[index]]
            self._evaluate(PantherEvent(record, log_type), applicable, index)

    def _match_vectorized(self, rule: Rule, log_type: str, table: pa.Table, whole: LazyRows) -> bool:
        """Rules with an exact `match_table(table, log_type)` hook (a Bucketwatch extension) match
        a whole batch at once: it returns (row indices, dedup strings) equal to what rule() and
        dedup() give row by row, or None for log types it does not cover. Rows only become
        events for the alert's newest match and samples."""
        hook = getattr(rule.module, "match_table", None)
        if not callable(hook) or rule.has("unique"):
            return False
        try:
            found = hook(table, log_type)
        except Exception as exc:  # fall back to the per-event path, which reports rule errors
            self._record_error(rule, exc)
            return False
        if found is None:
            return False
        indices, dedups = found
        self.stats.matches += len(indices)
        if not len(indices):
            return True
        times = whole.epoch_array()[np.asarray(indices)]
        times = np.where(times >= 0, times, self.clock())
        # One block per dedup string: grouping folds whole blocks (count, first/last time).
        keys, inverse = _dedup_codes(dedups)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
        rows = np.asarray(indices)[order]
        times = times[order]
        for number, key in enumerate(keys.tolist()):
            lo, hi = bounds[number], bounds[number + 1]
            self._pending[(rule.id, key)].append(
                MatchBlock(self, rule, log_type, whole, rows[lo:hi], times[lo:hi]))
        return True

    def _evaluate(self, event: PantherEvent, rules: list[Rule], ref: Any) -> None:
        for rule in rules:
            self.stats.evaluations += 1
            try:
                if not rule.module.rule(event):
                    continue
                match, dedup = self._describe(rule, event, ref)
            except Exception as exc:  # one broken rule must not stop the others
                self._record_error(rule, exc)
                continue
            self.stats.matches += 1
            self._pending[(rule.id, dedup)].append(match)

    def _describe(self, rule: Rule, event: PantherEvent, ref: Any) -> tuple[Match, str]:
        title = None
        dedup = rule.call("dedup", event) if rule.has("dedup") else None
        if not dedup:
            title = self._title(rule, event)
            dedup = title if rule.has("title") else f"defaultDedupString:{rule.id}"
        unique = rule.call("unique", event) if rule.has("unique") else None

        def describe() -> Details:
            try:
                return Details(title=title or self._title(rule, event), severity=self._severity(rule, event),
                               context=_jsonable(rule.call("alert_context", event) or {}),
                               destinations=self._destinations(rule, event))
            except Exception as exc:  # a broken title() still leaves a usable alert
                self._record_error(rule, exc)
                return Details(title=title or rule.display_name, severity=rule.severity, context={})

        match = Match(time=event_time(event, self.clock), unique=None if unique is None else str(unique),
                      ref=ref, describe=describe, sample=lambda: event)
        return match, str(dedup)[:1000]

    @staticmethod
    def _title(rule: Rule, event: PantherEvent) -> str:
        return str(rule.call("title", event) or rule.display_name)

    @staticmethod
    def _severity(rule: Rule, event: PantherEvent) -> str:
        dynamic = rule.call("severity", event) if rule.has("severity") else None
        if dynamic and str(dynamic).upper() != "DEFAULT":
            return parse_severity(dynamic, f"rule {rule.id} severity()")
        return rule.severity

    @staticmethod
    def _destinations(rule: Rule, event: PantherEvent) -> list[str] | None:
        """The destination names the rule's `destinations(event)` asks for (None: it does not
        say; the routing then goes by severity)."""
        if not rule.has("destinations"):
            return None
        names = rule.call("destinations", event)
        if names is None:
            return None
        if isinstance(names, str) or not isinstance(names, list | tuple):
            raise TypeError(f"destinations() must return a list of names, got {names!r}")
        return [str(name) for name in names]

    def _record_error(self, rule: Rule, exc: Exception) -> None:
        key = (rule.id, type(exc).__name__)
        entry = self.errors.setdefault(key, RuleError(rule.id, f"{type(exc).__name__}: {exc}"))
        entry.count += 1

    # -- grouping -------------------------------------------------------------------------
    def flush(self, contribution: str | None = None) -> FlushResult:
        """Fold this batch's matches into the dedup store; report created/updated alerts.

        `contribution`: an id of the rows evaluated (a digest of their row ids). The store
        remembers it per group, so the same rows folded in again (a retried delivery, a re-read
        file) change no count and publish nothing (detectors.engine.stores)."""
        result = FlushResult()
        pending, self._pending = self._pending, defaultdict(list)
        now = self.clock()
        planned = [self._plan(self._rules_by_id[rule_id], dedup, matches, now)
                   for (rule_id, dedup), matches in pending.items()]
        # Sample events become plain dicts in one Arrow pass per batch, not one row at a time.
        materialize_samples([w for plan in planned for w in plan.windows()])
        for plan in planned:
            for change in self._commit(plan, now, contribution):
                result.changes.append((plan.rule, change))
                previous = self.alerts.get(change.state.alert_id)
                created_this_run = change.created or (previous is not None and previous[2])
                self.alerts[change.state.alert_id] = (plan.rule, change.state, created_this_run)
        return result

    def _plan(self, rule: Rule, dedup: str, matches: list[Match], now: float) -> _Plan:
        key = f"{rule.id}#{dedup}"
        stored, version = self.store.get(key)
        threshold = self.group_thresholds.get(rule.id, {}).get(dedup, rule.threshold)
        latest, changes = apply_matches(stored, rule.id, dedup, rule.dedup_minutes * 60, threshold,
                                        rule.has("unique"), matches, now, describe=rule.create_alert)
        return _Plan(rule, dedup, matches, key, version, latest, changes)

    def _commit(self, plan: _Plan, now: float, contribution: str | None = None) -> list[AlertChange]:
        for _ in range(MAX_CONFLICT_RETRIES):
            expires = int(max(plan.latest.window_start + plan.rule.dedup_minutes * 60, now) + EXPIRY_GRACE_S)
            created = [change for change in plan.changes if change.created]
            if created and contribution and self.store.has_marker(applied_marker(plan.key, contribution)):
                return []  # these rows were counted before: a re-delivery raises nothing again
            if plan.rule.create_alert:
                for change in created:
                    self._publish_once(plan.rule, change.state, expires)
            stored = self.store.put(plan.key, plan.latest, plan.version, expires, contribution)
            if stored == Put.APPLIED:
                return []
            if stored:
                return plan.changes
            # Another writer changed the group meanwhile: start again from its state.
            plan = self._plan(plan.rule, plan.dedup, plan.matches, now)
            materialize_samples(plan.windows())
        raise RuntimeError(f"dedup store: could not update {plan.key} after {MAX_CONFLICT_RETRIES} concurrent changes")

    def _publish_once(self, rule: Rule, state: AlertState, expires: int) -> None:
        """`on_created` once per alert id: a marker written right after publishing stops a retry
        (after a failed state write) from publishing it again."""
        if self.on_created is None:
            return
        marker = f"published#{state.alert_id}"
        if self.store.has_marker(marker):
            return
        self.on_created(rule, state)
        self.store.put_marker(marker, max(expires, int(self.clock()) + MARKER_TTL_S))

    def alert_messages(self) -> list[dict[str, Any]]:
        """Every alert raised or updated during this engine's life, latest state (not those of
        rules with `CreateAlert: false`: their matches go to the lake only, as signals)."""
        return [alert_message(rule, state, created) for rule, state, created in self.alerts.values()
                if rule.create_alert]


def _dedup_codes(dedups: Any) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct dedup strings, each match's position among them), as
    `np.unique([str(d)[:1000] for d in dedups], return_inverse=True)` gives them. An Arrow array
    (what `vector.matched` returns) is dictionary-encoded in Arrow: Python sees only the distinct
    strings, not one per match."""
    if isinstance(dedups, pa.DictionaryArray) and not dedups.null_count:
        # Already encoded (declared rules): rank the distinct strings that occur.
        values = [str(v)[:1000] for v in dedups.dictionary.to_pylist()]
        codes = np.asarray(dedups.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        present = np.flatnonzero(np.bincount(codes, minlength=len(values))) if len(codes) else codes
        keys = sorted({values[code] for code in present.tolist()})
        rank = {key: number for number, key in enumerate(keys)}
        ranks = np.asarray([rank.get(value, -1) for value in values], dtype=np.int64)
        return np.asarray(keys, dtype=object), ranks[codes]
    if isinstance(dedups, pa.Array | pa.ChunkedArray):
        texts = pc.fill_null(dedups.cast(pa.string()), "None")  # str(None), as the list path
        if len(texts) and pc.max(pc.utf8_length(texts)).as_py() <= 1000:
            encoded = pc.dictionary_encode(texts)
            if isinstance(encoded, pa.ChunkedArray):
                encoded = encoded.unify_dictionaries().combine_chunks() if encoded.num_chunks else encoded
            values = encoded.dictionary.to_pylist()
            order = sorted(range(len(values)), key=values.__getitem__)
            rank = np.empty(len(values), dtype=np.int64)
            rank[order] = np.arange(len(values))
            codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
            return np.asarray([values[i] for i in order], dtype=object), rank[codes]
        dedups = texts.to_pylist()
    return np.unique(np.asarray([str(d)[:1000] for d in dedups], dtype=object), return_inverse=True)


def _table_mask(rule: Rule, log_type: str, table: pa.Table) -> pa.ChunkedArray | None:
    """The spec's pre-filter AND the rule module's optional `prefilter_table(table, log_type)`
    (a Bucketwatch extension: a vectorized, configuration-aware pre-filter; None = all rows)."""
    mask = rule.prefilter.mask(log_type, table)
    hook = getattr(rule.module, "prefilter_table", None)
    if callable(hook):
        extra = hook(table, log_type)
        if extra is not None:
            mask = extra if mask is None else pc.and_(mask, extra)
    return mask


def alert_message(rule: Rule, state: AlertState, created: bool) -> dict[str, Any]:
    """The alert as sinks publish it (one JSON object)."""
    return {
        "kind": "detection",
        "status": "created" if created else "updated",
        "rule_id": rule.id,
        "alert_id": state.alert_id,
        "severity": state.severity,
        "title": state.title,
        "dedup": state.dedup,
        "first_seen": iso(state.first_seen),
        "last_seen": iso(state.last_seen),
        "event_count": state.count,
        "threshold": rule.threshold,
        "unique_values": state.uniques or None,
        "dedup_period_minutes": rule.dedup_minutes,
        "alert_created": iso(state.alert_created),
        "alert_updated": iso(state.alert_updated),
        "display_name": rule.display_name,
        "description": rule.description,
        "runbook": rule.runbook,
        "reference": rule.reference,
        "tags": list(rule.tags),
        "log_types": list(rule.log_types),
        "context": state.context,
        "samples": state.samples,
        "rule_destinations": state.destinations,
    }


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ",
                 "%Y-%m-%dT%H:%M:%S%z", "%d/%b/%Y:%H:%M:%S %z")


def event_time(event: Mapping[str, Any], clock: Any = time.time) -> float:
    """Event time in epoch seconds (UTC): p_event_time, else the log's own time field, else now."""
    hint = event.epoch_hint() if isinstance(event, PantherEvent) else None
    if hint is not None:
        return hint
    for name in ("p_event_time", "eventTime", "time"):
        value = event.get(name)
        if value is None:
            continue
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        parsed = parse_time(str(value))
        if parsed is not None:
            return parsed
    return clock()


def parse_time(text: str) -> float | None:
    text = text.strip()
    if "." in text and text.count(".") == 1 and len(text.split(".")[1].rstrip("Z")) > 6:
        head, frac = text.split(".")
        text = f"{head}.{frac.rstrip('Z')[:6]}" + ("Z" if frac.endswith("Z") else "")
    for fmt in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def rule_error_lines(engine: Engine) -> list[str]:
    return [f"rule {e.rule_id} raised {e.error} on {e.count} event(s)" for e in engine.errors.values()]
