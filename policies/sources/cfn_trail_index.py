"""Which trails of the templates may record a bucket's data events, found by the bucket's name.

A trail's basic event selectors name buckets one ARN at a time (up to 250 of them); trying every
value of every trail on every bucket makes `check` quadratic in an assembly whose trails list
its buckets. `TrailIndex` reads each trail's values once: a value that records every bucket
("arn:aws:s3:::") is tried on every bucket, a value naming one bucket only on that bucket. What
a bucket gets is the trail as it concerns that bucket (a *view*: the trail with only those
selector values), so `selectors_coverage` and `trail_coverage` judge it as they would the whole
trail, without reading the values that name other buckets.

A trail that cannot be read this way is handed over whole, to every bucket: its selectors are
not known (Unknown), it has advanced selectors (their conditions are per selector, not per
value), or its basic selectors have a shape other than lists of mappings and strings.
"""

from __future__ import annotations

from typing import Any

from policies.model import UNKNOWN
from policies.sources.live_trails import S3_OBJECT, basic_coverage

_NO_BUCKET = "\x00"  # a name no selector value names: a value covering it covers every bucket


class _Selectors:
    """A trail's basic selectors, value by value: per selector, the values recording every
    bucket, and the values naming a bucket, by that name."""

    def __init__(self, selectors: list[dict[str, Any]]) -> None:
        self.parts: list[tuple[dict[str, Any], list[str], dict[str, list[str]]]] = []
        for selector in selectors:
            every, named = [], {}
            for resource in selector.get("DataResources") or []:
                if resource.get("Type") != S3_OBJECT:
                    continue  # only S3 objects are a bucket's data events
                for value in resource.get("Values") or []:
                    if _covers(value, _NO_BUCKET):
                        every.append(value)
                        continue
                    # A value covers the bucket whose name is after ":::", with or without a
                    # trailing slash (`_basic_value_covers`): only that name can find it.
                    name = value.split(":::", 1)[1] if ":::" in value else ""
                    for key in dict.fromkeys((name, name[:-1] if name.endswith("/") else name)):
                        named.setdefault(key, []).append(value)
            self.parts.append((selector, every, named))
        self.anywhere = any(every for _, every, _ in self.parts)
        self.names = {name for _, _, named in self.parts for name in named}

    def view(self, trail: dict[str, Any], bucket: str) -> dict[str, Any]:
        selectors = []
        for selector, every, named in self.parts:
            values = [*every, *named.get(bucket, ())]
            if values:
                selectors.append({**selector, "DataResources": [{"Type": S3_OBJECT, "Values": values}]})
        return {**trail, "EventSelectors": selectors}


def _covers(value: str, bucket: str) -> bool:
    return basic_coverage([{"DataResources": [{"Type": S3_OBJECT, "Values": [value]}]}], bucket)[0]


def _readable(trail: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The trail's basic selectors when it can be indexed (see the module's doc), else None."""
    if any(field in trail.get(UNKNOWN, {}) for field in ("EventSelectors", "AdvancedEventSelectors")):
        return None
    if trail.get("AdvancedEventSelectors"):
        return None
    selectors = trail.get("EventSelectors")
    if selectors is None:
        return []
    if not isinstance(selectors, list) or not all(isinstance(s, dict) for s in selectors):
        return None
    for selector in selectors:
        resources = selector.get("DataResources")
        if resources is None:
            continue
        if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
            return None
        for resource in resources:
            values = resource.get("Values")
            if values is not None and not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                return None
    return selectors


class TrailIndex:
    """The trails of the templates, in their order, as `candidates(name)` hands them to one bucket."""

    def __init__(self, trails: list[dict[str, Any]]) -> None:
        self.trails = trails
        self._selectors: list[_Selectors | None] = []
        self._always: list[int] = []  # trails every bucket is tried against
        self._by_name: dict[str, list[int]] = {}
        for order, trail in enumerate(trails):
            readable = _readable(trail)
            selectors = _Selectors(readable) if readable is not None else None
            self._selectors.append(selectors)
            if selectors is None or selectors.anywhere:
                self._always.append(order)
            else:
                for name in selectors.names:
                    self._by_name.setdefault(name, []).append(order)

    def candidates(self, bucket: Any) -> list[dict[str, Any]]:
        """The trails (or their views for this bucket) that may record `bucket`'s data events; a
        trail left out records none of them. A name that is not a string gets every trail whole."""
        if not isinstance(bucket, str):
            return list(self.trails)
        found = []
        for order in sorted({*self._always, *self._by_name.get(bucket, ())}):
            selectors = self._selectors[order]
            found.append(self.trails[order] if selectors is None else selectors.view(self.trails[order], bucket))
        return found
