"""PantherEvent-compatible event: immutable, case-insensitive keys, `.deep_get`, `.udm`.

Rules written for Panther read fields as `event.get("tlsVersion")` while the normalized S3
record spells it `tlsversion`; both must work. Nested mappings are wrapped on access so the
same holds at every depth. Lists come back as tuples so a rule cannot mutate shared state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from detectors import logtypes
from detectors.global_helpers.panther_base_helpers import deep_get

_SCALARS = (str, int, float, bool, type(None))


def _wrap(value: Any) -> Any:
    if value.__class__ in _SCALARS:
        return value
    if isinstance(value, Mapping) and not isinstance(value, ImmutableCaseInsensitiveDict):
        return ImmutableCaseInsensitiveDict(value)
    if isinstance(value, list | tuple):
        return tuple(_wrap(item) for item in value)
    return value


class ImmutableCaseInsensitiveDict(Mapping[str, Any]):
    """Read-only mapping whose keys match exactly first, then case-insensitively."""

    __slots__ = ("_data", "_lower")

    def __init__(self, data: Mapping[str, Any]) -> None:
        # Read-only views (the engine's lazy Arrow rows) are kept as they are: copying one would
        # materialize every column. Plain dicts are copied so the caller's later edits do not leak in.
        self._data = data if getattr(data, "read_only_view", False) else dict(data)
        self._lower: dict[str, str] | None = None

    def _resolve(self, key: str) -> str | None:
        if key in self._data:
            return key
        if not isinstance(key, str):
            return None
        resolver = getattr(self._data, "resolve_key", None)
        if resolver is not None:
            return resolver(key)  # lazy rows know their column names without iterating values
        if self._lower is None:
            # Built on the first miss only: most lookups use the exact spelling.
            self._lower = {}
            for name in self._data:
                self._lower.setdefault(str(name).lower(), name)
        return self._lower.get(key.lower())

    def __getitem__(self, key: str) -> Any:
        real = self._resolve(key)
        if real is None:
            raise KeyError(key)
        return _wrap(self._data[real])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._resolve(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def get(self, key: str, default: Any = None) -> Any:
        try:  # fast path: the exact spelling, one lookup
            return _wrap(self._data[key])
        except (KeyError, TypeError):
            pass
        real = self._resolve(key)
        return default if real is None else _wrap(self._data[real])

    def deep_get(self, *keys: str, default: Any = None) -> Any:
        """Walk nested mappings; `default` when a level is missing or the value is None."""
        return deep_get(self, *keys, default=default)

    def to_dict(self) -> dict[str, Any]:
        """A plain (mutable) copy, e.g. for JSON output."""
        return _plain(self._data)

    def epoch_hint(self) -> float | None:
        """Event time in epoch seconds when the underlying row already knows it (no parsing)."""
        hint = getattr(self._data, "epoch", None)
        return hint() if callable(hint) else None


def _plain(value: Any) -> Any:
    if isinstance(value, ImmutableCaseInsensitiveDict):
        return _plain(value._data)
    if getattr(value, "read_only_view", False):
        return value.to_plain()
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


# Standard data model fields per log type (each log type's `data_model`, detectors/logtypes):
# a path (tuple of keys) or a function of the event.
DATA_MODELS = logtypes.DATA_MODELS


class PantherEvent(ImmutableCaseInsensitiveDict):
    """The event a rule sees. `log_type` defaults to the record's own `p_log_type`."""

    __slots__ = ("log_type", "memo")

    def __init__(self, data: Mapping[str, Any], log_type: str | None = None) -> None:
        super().__init__(data)
        self.memo: dict[str, Any] = {}  # per-event cache for helpers shared by several rules
        self.log_type = log_type or self._data.get("p_log_type") or guess_log_type(self._data)

    def udm(self, *names: str, default: Any = None) -> Any:
        """A standard field by data-model name (e.g. `actor_user`), or a plain key as fallback."""
        model = DATA_MODELS.get(self.log_type or "", {})
        mapping = model.get(names[0])
        if mapping is None:
            return self.deep_get(*names, default=default)
        value = mapping(self) if callable(mapping) else self.deep_get(*mapping)
        if len(names) > 1 and isinstance(value, Mapping):
            value = ImmutableCaseInsensitiveDict(value).deep_get(*names[1:])
        return default if value is None else value


def guess_log_type(data: Mapping[str, Any]) -> str | None:
    """Panther test logs often omit p_log_type; their shape tells the log types apart (asked in
    the registry's sniffing order: the catch-all, access logs, last)."""
    for log_type in logtypes.sniffing_order():
        if log_type.looks_like is not None and log_type.looks_like(data):
            return log_type.name
    return None
