"""The detection engine: rule loading, pre-filters, evaluation, dedup/threshold, stores, sinks.

The names below load on first use: `detectors.engine.routing` is read by every command's config
validation (`bucketwatch check` too), which must not pay for pyarrow."""

from detectors.common.lazy import lazy_getattr

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
__getattr__ = lazy_getattr(__name__, _EXPORTS)
