"""The detection engine: rule loading, pre-filters, evaluation, dedup/threshold, stores, sinks."""

from detectors.engine.evaluate import Engine, FlushResult, alert_message
from detectors.engine.rules import BUILTIN_RULES_DIR, Rule, load_rules
from detectors.engine.stores import DynamoDBStore, MemoryStore, SQLiteStore

__all__ = ["BUILTIN_RULES_DIR", "DynamoDBStore", "Engine", "FlushResult", "MemoryStore", "Rule",
           "SQLiteStore", "alert_message", "load_rules"]
