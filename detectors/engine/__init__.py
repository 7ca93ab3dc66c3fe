"""The detection engine: rule loading, pre-filters, evaluation, dedup/threshold, stores, sinks.

The names below load on first use: `detectors.engine.routing` is read by every command's config
validation (`bucketwatch check` too), which must not pay for pyarrow."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Engine": "detectors.engine.evaluate",
    "FlushResult": "detectors.engine.evaluate",
    "alert_message": "detectors.engine.evaluate",
    "BUILTIN_RULES_DIR": "detectors.engine.rules",
    "Rule": "detectors.engine.rules",
    "load_rules": "detectors.engine.rules",
    "DynamoDBStore": "detectors.engine.stores",
    "MemoryStore": "detectors.engine.stores",
    "SQLiteStore": "detectors.engine.stores",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
