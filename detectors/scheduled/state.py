"""State kept between scheduled runs: small JSON documents by key, behind one interface.

What is kept: the last run of each scheduled query and correlation rule
(`schedule#<name>`), and how far each correlation rule has already alerted per match key
(`correlation#<rule id>#<key>`). SQLite on one machine (the same file as `detect --state`, its
own table), in memory for one-shot runs, DynamoDB for the AWS scheduled Lambda (its own table:
`pk` string, TTL `expires_at`). Like the dedup stores, `put` is conditional on the version that was read, so
two schedulers sharing the state cannot overwrite each other silently.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Protocol

from detectors.engine.stores import DynamoDBStore, connect_sqlite, versioned_put


class StateStore(Protocol):
    def get(self, key: str) -> tuple[dict[str, Any] | None, int]:
        """The stored document and its version (0 when absent)."""

    def put(self, key: str, value: dict[str, Any], version: int, expires_at: int | None = None) -> bool:
        """Store `value` if the item is still at `version`; False on a concurrent change."""


class MemoryStateStore:
    def __init__(self) -> None:
        self._items: dict[str, tuple[str, int]] = {}

    def get(self, key: str) -> tuple[dict[str, Any] | None, int]:
        item = self._items.get(key)
        return (json.loads(item[0]), item[1]) if item else (None, 0)

    def put(self, key: str, value: dict[str, Any], version: int, expires_at: int | None = None) -> bool:
        if self._items.get(key, ("", 0))[1] != version:
            return False
        self._items[key] = (json.dumps(value), version + 1)
        return True


class SQLiteStateStore:
    """Table `scheduler_state` in a local SQLite file (shared with the dedup table of `--state`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = connect_sqlite(self.path, "CREATE TABLE IF NOT EXISTS scheduler_state (pk TEXT PRIMARY KEY, "
                                  "value TEXT NOT NULL, version INTEGER NOT NULL, expires_at INTEGER)")

    def get(self, key: str) -> tuple[dict[str, Any] | None, int]:
        with self._lock:
            row = self._db.execute("SELECT value, version FROM scheduler_state WHERE pk = ?", (key,)).fetchone()
        return (json.loads(row[0]), row[1]) if row else (None, 0)

    def put(self, key: str, value: dict[str, Any], version: int, expires_at: int | None = None) -> bool:
        payload = json.dumps(value, sort_keys=True)
        with self._lock, self._db:
            if version == 0:
                cursor = self._db.execute("INSERT OR IGNORE INTO scheduler_state (pk, value, version, expires_at) "
                                          "VALUES (?, ?, 1, ?)", (key, payload, expires_at))
            else:
                cursor = self._db.execute("UPDATE scheduler_state SET value = ?, version = version + 1, "
                                          "expires_at = ? WHERE pk = ? AND version = ?",
                                          (payload, expires_at, key, version))
            return cursor.rowcount == 1

    def close(self) -> None:
        self._db.close()


class DynamoDBStateStore(DynamoDBStore):
    """Table with partition key `pk` (S) and TTL attribute `expires_at` (N), as infra/scheduler.py
    deploys it; items hold the JSON document (`value`) and its `version`. The dedup store's
    DynamoDB plumbing (retries with backoff while DynamoDB is busy, conditional puts)."""

    def get(self, key: str) -> tuple[dict[str, Any] | None, int]:  # type: ignore[override]
        item = self._call(self.client.get_item, TableName=self.table_name, Key={"pk": {"S": key}},
                          ConsistentRead=True).get("Item")
        if not item:
            return None, 0
        return json.loads(item["value"]["S"]), int(item["version"]["N"])

    def put(self, key: str, value: dict[str, Any], version: int,  # type: ignore[override]
            expires_at: int | None = None) -> bool:
        item = {"pk": {"S": key}, "value": {"S": json.dumps(value, sort_keys=True)}, "version": {"N": str(version + 1)}}
        if expires_at is not None:
            item["expires_at"] = {"N": str(expires_at)}
        return bool(self._put_alone(versioned_put(self.table_name, item, version)))


def update(store: StateStore, key: str, change: Any, expires_at: int | None = None, attempts: int = 8) -> dict:
    """Read-modify-write with retries: `change(current or {}) -> new document`."""
    for _ in range(attempts):
        current, version = store.get(key)
        new = change(dict(current or {}))
        if store.put(key, new, version, expires_at):
            return new
    raise RuntimeError(f"scheduler state: could not update {key} after {attempts} concurrent changes")
