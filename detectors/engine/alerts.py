"""Alert state per (rule, dedup string) and the event-time window logic that updates it.

A window opens at the first matching event and lasts the rule's dedup period (event time, so
replaying old logs behaves like live). Matches inside the window add to it; the alert is raised
when the count (or, for rules with `unique()`, the number of distinct values) reaches the
threshold; later matches update that alert. A match past the window opens a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np

MAX_SAMPLES = 5
MAX_UNIQUES = 100


@dataclass
class AlertState:
    rule_id: str
    dedup: str
    alert_id: str
    window_start: float  # epoch seconds, event time
    first_seen: float
    last_seen: float
    count: int = 0
    uniques: list[str] = field(default_factory=list)
    alerted: bool = False
    alert_created: float | None = None  # processing time the alert was raised
    alert_updated: float | None = None
    title: str = ""
    severity: str = "Info"
    context: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    destinations: list[str] | None = None  # what the rule's destinations() asked for (None: nothing)

    def to_json(self) -> dict[str, Any]:
        # Shallow per field (asdict's deep recursion is slow on samples); lists are copied.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["uniques"], data["samples"] = list(self.uniques), list(self.samples)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertState:
        return cls(**data)

    def metric(self, uses_unique: bool) -> int:
        return len(self.uniques) if uses_unique else self.count


def alert_id_for(rule_id: str, dedup: str, window_start: float) -> str:
    """Deterministic: reprocessing the same logs finds the same alert instead of a new one."""
    return hashlib.sha256(f"{rule_id}\x00{dedup}\x00{window_start:.3f}".encode()).hexdigest()[:32]


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Details:
    title: str
    severity: str
    context: dict[str, Any]
    destinations: list[str] | None = None


def describe_window(window: AlertState, details: Details) -> None:
    """The newest event's title, severity, context and requested destinations describe the alert."""
    window.title, window.severity, window.context = details.title, details.severity, details.context
    window.destinations = details.destinations


@dataclass
class Match:
    """One event that a rule matched.

    Title, severity and context are computed on demand (`details()`), only for the newest
    match of each alert: a mass-download alert can have thousands of matches per batch.
    """

    time: float
    unique: str | None
    ref: Any  # where the event lives (row index in its batch), for the rule-matches lake
    describe: Callable[[], Details]
    sample: Callable[[], dict[str, Any]]
    _details: Details | None = None

    def details(self) -> Details:
        if self._details is None:
            self._details = self.describe()
        return self._details


@dataclass
class AlertChange:
    state: AlertState
    created: bool  # False: an existing alert gained events
    matches: list[Match]


def apply_matches(state: AlertState | None, rule_id: str, dedup: str, period_s: float, threshold: int,
                  uses_unique: bool, matches: list[Match], now: float,
                  describe: bool = True) -> tuple[AlertState, list[AlertChange]]:
    """Fold time-sorted `matches` into `state`; returns the latest window and the alert changes.

    Matches older than the stored window by more than a period form their own historical
    windows: they can raise alerts, but only the latest window is kept. `describe=False` (rules
    with CreateAlert: false, whose windows are never sent) keeps no samples and no title/context.
    """
    blocks = [m for m in matches if hasattr(m, "expand")]
    if blocks and len(blocks) == len(matches) == 1 and not uses_unique:
        return _block_windows(state, rule_id, dedup, period_s, threshold, blocks[0], now, describe)
    if blocks:
        matches = [single for m in matches for single in (m.expand() if hasattr(m, "expand") else [m])]
    if not uses_unique and matches:
        fast = _single_window(state, rule_id, dedup, period_s, threshold, matches, now, describe)
        if fast is not None:
            return fast
    changes: list[AlertChange] = []
    windows: list[AlertState] = [state] if state is not None else []
    pending: dict[int, list[Match]] = {}
    was_alerted: dict[int, bool] = {}
    for match in sorted(matches, key=lambda m: m.time):
        window = _window_for(match.time, windows, state, period_s)
        if window is None:
            window = AlertState(rule_id=rule_id, dedup=dedup, alert_id=alert_id_for(rule_id, dedup, match.time),
                                window_start=match.time, first_seen=match.time, last_seen=match.time)
            windows.append(window)
        key = id(window)
        was_alerted.setdefault(key, window.alerted)
        _add(window, match, uses_unique)
        pending.setdefault(key, []).append(match)
        if not window.alerted and window.metric(uses_unique) >= threshold:
            window.alerted = True
            window.alert_created = now
    for window in windows:
        key = id(window)
        # Samples: one while below threshold (kept for a later alert), up to MAX once alerted.
        limit = (MAX_SAMPLES if window.alerted else 1) if describe else 0
        for match in pending.get(key, ())[: max(0, limit - len(window.samples))]:
            window.samples.append(match.sample())
        newest = max(pending.get(key, ()), key=lambda m: m.time, default=None)
        if newest is not None and describe and window.alerted and (newest.time >= window.last_seen or not window.title):
            # The newest event's title/severity/context describe the alert, as Panther does
            # (computed only once the window is an alert: most windows never become one).
            details = newest.details()
            describe_window(window, details)
        if key in pending and window.alerted:
            window.alert_updated = now
            changes.append(AlertChange(state=window, created=not was_alerted[key], matches=pending[key]))
    return max(windows, key=lambda w: w.window_start), changes


def _block_windows(state: AlertState | None, rule_id: str, dedup: str, period_s: float, threshold: int,
                   block: Any, now: float, describe: bool = True) -> tuple[AlertState, list[AlertChange]]:
    """The general fold for a time-sorted MatchBlock, by contiguous segments instead of single
    matches; the same windows as `apply_matches` on the expanded matches:
    - times in [start, start + period) of the stored window, or slightly older than it
      (last_seen - t < period), join the stored window;
    - other times open windows greedily (a window at t takes everything before t + period)."""
    times = block.times
    first_t, last_t = float(times[0]), float(times[-1])
    everything = np.arange(len(times))
    if state is None and last_t - first_t < period_s:
        older, newer, joined_at = everything[:0], everything, everything[:0]  # one new window
    elif state is not None and state.window_start <= first_t and last_t < state.window_start + period_s:
        older, newer, joined_at = everything[:0], everything[:0], everything  # all join the stored one
    elif state is not None:
        joins = ((times >= state.window_start) & (times < state.window_start + period_s)) | \
                ((times < state.window_start) & (state.last_seen - times < period_s))
        older = np.flatnonzero(~joins & (times < state.window_start))
        newer = np.flatnonzero(~joins & (times >= state.window_start))
        joined_at = np.flatnonzero(joins)
    else:
        older, newer, joined_at = np.arange(0), np.arange(len(times)), np.arange(0)
    spans: list[tuple[float, np.ndarray]] = []  # (start, positions) of each new window
    for positions in (older, newer):
        chosen = times[positions]  # ascending, as times are
        i = 0
        while i < len(positions):
            first = float(chosen[i])
            j = int(np.searchsorted(chosen, first + period_s, side="left"))
            spans.append((first, positions[i:j]))
            i = j
    latest_start = max([start for start, _ in spans] + ([state.window_start] if state is not None else []))
    groups: list[tuple[AlertState, np.ndarray]] = []
    if len(joined_at):
        groups.append((state, joined_at))  # type: ignore[arg-type]
    for first, positions in spans:
        if len(positions) < threshold and first != latest_start:
            continue  # a past window that never alerts: no change, and only the latest is kept
        window = AlertState(rule_id=rule_id, dedup=dedup, alert_id=alert_id_for(rule_id, dedup, first),
                            window_start=first, first_seen=first, last_seen=first)
        groups.append((window, positions))
    changes = []
    for window, positions in groups:
        part = block.part(0, 0)
        part.refs, part.times = block.refs[positions], times[positions]
        was_alerted = window.alerted
        window.count += len(positions)
        window.first_seen = min(window.first_seen, float(part.times[0]))
        window.last_seen = max(window.last_seen, float(part.times[-1]))
        if not window.alerted and window.count >= threshold:
            window.alerted, window.alert_created = True, now
        limit = (MAX_SAMPLES if window.alerted else 1) if describe else 0
        if len(window.samples) < limit:
            window.samples.extend(m.sample() for m in part.earliest(limit - len(window.samples)))
        if describe and window.alerted and (float(part.times[-1]) >= window.last_seen or not window.title):
            details = part.newest().details()
            describe_window(window, details)
        if window.alerted:
            window.alert_updated = now
            changes.append(AlertChange(state=window, created=not was_alerted, matches=[part]))
    windows = [w for w, _ in groups] + ([state] if state is not None else [])
    return max(windows, key=lambda w: w.window_start), changes


def _single_window(state: AlertState | None, rule_id: str, dedup: str, period_s: float, threshold: int,
                   matches: list[Match], now: float, describe: bool = True) -> tuple[AlertState, list[AlertChange]] | None:
    """The common case without sorting: every match falls in one window (the stored one, or a
    new one when there is none). None when the general path is needed."""
    times = [m.time for m in matches]
    first, last = min(times), max(times)
    if state is not None:
        if not (state.window_start <= first and last < state.window_start + period_s):
            return None
        window = state
    else:
        if last - first >= period_s:
            return None
        window = AlertState(rule_id=rule_id, dedup=dedup, alert_id=alert_id_for(rule_id, dedup, first),
                            window_start=first, first_seen=first, last_seen=first)
    was_alerted = window.alerted
    window.count += len(matches)
    window.first_seen = min(window.first_seen, first)
    previous_last, window.last_seen = window.last_seen, max(window.last_seen, last)
    if not window.alerted and window.count >= threshold:
        window.alerted, window.alert_created = True, now
    limit = (MAX_SAMPLES if window.alerted else 1) if describe else 0
    if len(window.samples) < limit:
        ordered = sorted(matches, key=lambda m: m.time)[: limit - len(window.samples)]
        window.samples.extend(m.sample() for m in ordered)
    if describe and window.alerted and (last >= previous_last or not window.title):
        newest = matches[times.index(last)]
        details = newest.details()
        describe_window(window, details)
    if not window.alerted:
        return window, []
    window.alert_updated = now
    return window, [AlertChange(state=window, created=not was_alerted, matches=matches)]


def _window_for(t: float, windows: list[AlertState], stored: AlertState | None, period_s: float) -> AlertState | None:
    for window in windows:
        if window.window_start <= t < window.window_start + period_s:
            return window
        # Slightly older than the stored window (logs arrive out of order): same incident.
        if window is stored and t < window.window_start and window.last_seen - t < period_s:
            return window
    return None


def _add(window: AlertState, match: Match, uses_unique: bool) -> None:
    window.count += 1
    window.first_seen = min(window.first_seen, match.time)
    window.last_seen = max(window.last_seen, match.time)
    if uses_unique and match.unique is not None and match.unique not in window.uniques \
            and len(window.uniques) < MAX_UNIQUES:
        window.uniques.append(match.unique)

