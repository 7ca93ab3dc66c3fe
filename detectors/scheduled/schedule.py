"""When a scheduled query or correlation rule runs: `RateMinutes` or a 5-field `CronExpression`.

Run times ("ticks") are fixed points in UTC, the same on every machine: a rate of 10 minutes
ticks at :00, :10, :20...; a cron expression ticks at the minutes it matches (minute, hour, day
of month, month, day of week; `*`, `a-b`, lists, `/step`, month and day names; when both day
fields are restricted either may match, as in cron). A run acts as of its tick (its time macros
and CURRENT_TIMESTAMP use the tick), whatever the wall-clock time it really ran at.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from detectors.common.errors import UserError

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day of week", 0, 7, _DAYS))
MAX_TICKS = 2000  # a catch-up longer than this runs the newest ticks only (and says so)


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str, where: str) -> Cron:
        parts = str(text).split()
        if len(parts) != 5:
            raise UserError(f"{where}: a CronExpression has 5 fields (minute hour day-of-month month "
                            f"day-of-week), got {len(parts)} in '{text}'")
        sets = [_cron_field(part, *spec, where) for part, spec in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(str(text), *map(frozenset, sets[:4]), weekdays,
                   any_day=parts[2] == "*", any_weekday=parts[4] == "*")

    def matches_day(self, moment: datetime) -> bool:
        in_month = moment.day in self.days
        in_week = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after `moment` (UTC)."""
        t = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 5)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self.matches_day(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
            elif t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise UserError(f"CronExpression '{self.text}' never matches")


def _cron_field(text: str, name: str, low: int, high: int, names: Mapping[str, int], where: str) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if body == "*":
                start, end = low, high
            elif "-" in body:
                first, last = body.split("-", 1)
                start, end = _cron_value(first, names), _cron_value(last, names)
            else:
                start = _cron_value(body, names)
                end = high if step_text else start
        except ValueError:
            raise UserError(f"{where}: cannot read the {name} field '{text}' of the CronExpression") from None
        if step < 1 or not (low <= start <= end <= high):
            raise UserError(f"{where}: the {name} field '{text}' must stay within {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def _cron_value(text: str, names: Mapping[str, int]) -> int:
    return names[text.lower()] if text.lower() in names else int(text)


@dataclass(frozen=True)
class Schedule:
    """Panther's `Schedule:` block: RateMinutes or CronExpression, and TimeoutMinutes."""

    rate_minutes: int | None = None
    cron: Cron | None = None
    timeout_minutes: int = 5

    @classmethod
    def parse(cls, raw: Any, where: str) -> Schedule:
        if not isinstance(raw, Mapping):
            raise UserError(f"{where}: expected a mapping with RateMinutes or CronExpression, and TimeoutMinutes")
        unknown = sorted(set(map(str, raw)) - {"RateMinutes", "CronExpression", "TimeoutMinutes", "Disabled"})
        if unknown:
            raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; expected RateMinutes or "
                            "CronExpression, and TimeoutMinutes")
        has_rate, has_cron = raw.get("RateMinutes") is not None, raw.get("CronExpression") is not None
        if has_rate == has_cron:
            raise UserError(f"{where}: give exactly one of RateMinutes and CronExpression")
        timeout = _whole(raw.get("TimeoutMinutes", 5), f"{where}.TimeoutMinutes")
        if has_rate:
            rate = _whole(raw["RateMinutes"], f"{where}.RateMinutes")
            if rate < timeout:
                raise UserError(f"{where}: RateMinutes ({rate}) must be at least TimeoutMinutes ({timeout})")
            return cls(rate_minutes=rate, timeout_minutes=timeout)
        return cls(cron=Cron.parse(raw["CronExpression"], f"{where}.CronExpression"), timeout_minutes=timeout)

    def describe(self) -> str:
        return f"every {self.rate_minutes} min" if self.rate_minutes else f"cron '{self.cron.text}'"  # type: ignore[union-attr]

    def latest_tick(self, now: datetime) -> datetime:
        """The newest tick at or before `now`."""
        if self.rate_minutes:
            step = self.rate_minutes * 60
            return datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)
        cron = self.cron
        probe = now.astimezone(UTC).replace(second=0, microsecond=0)
        day = probe.replace(hour=0, minute=0)
        for _ in range(366 * 5):  # day by day backwards, the latest matching minute of the day
            if day.month in cron.months and cron.matches_day(day):  # type: ignore[union-attr]
                times = (day.replace(hour=h, minute=m) for h in sorted(cron.hours, reverse=True)  # type: ignore[union-attr]
                         for m in sorted(cron.minutes, reverse=True))  # type: ignore[union-attr]
                latest = next((t for t in times if t <= probe), None)
                if latest is not None:
                    return latest
            day -= timedelta(days=1)
        raise UserError(f"CronExpression '{cron.text}' never matches")  # type: ignore[union-attr]

    def ticks_after(self, last: datetime, now: datetime) -> list[datetime]:
        """Ticks in (last, now], oldest first."""
        ticks: list[datetime] = []
        if self.rate_minutes:
            step = timedelta(minutes=self.rate_minutes)
            tick = self.latest_tick(last) + step
            while tick <= now:
                ticks.append(tick)
                tick += step
            return ticks
        tick = self.cron.next_after(last)  # type: ignore[union-attr]
        while tick <= now:
            ticks.append(tick)
            tick = self.cron.next_after(tick)  # type: ignore[union-attr]
        return ticks


def due_ticks(schedule: Schedule, last_run: datetime | None, now: datetime) -> tuple[list[datetime], int]:
    """(ticks to run now, ticks skipped): every tick since the last run; the newest tick only on
    a first run (no backfill); at most MAX_TICKS, the newest ones."""
    if last_run is None:
        return [schedule.latest_tick(now)], 0
    ticks = schedule.ticks_after(last_run, now)
    skipped = max(0, len(ticks) - MAX_TICKS)
    return ticks[skipped:], skipped


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{where}: expected a whole number of minutes of at least 1, got {value!r}")
    return value
