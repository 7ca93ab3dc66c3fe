"""Dedup state stores: SQLite on one machine, DynamoDB in AWS, one interface.

Both use optimistic concurrency: `put` succeeds only if the stored version is the one that was
read, so two detector Lambdas updating the same alert cannot overwrite each other's counts;
the engine re-reads and re-applies on conflict. Items expire (`expires_at`, epoch seconds)
after their window closes so the table does not grow forever.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from detectors.common.errors import UserError
from detectors.engine.alerts import AlertState


class DedupStore(Protocol):
    def get(self, key: str) -> tuple[AlertState | None, int]:
        """The stored state and its version (0 when absent)."""

    def put(self, key: str, state: AlertState, version: int, expires_at: int) -> bool:
        """Store `state` if the item is still at `version`; False on a concurrent change."""


class MemoryStore:
    """For tests and one-shot runs that keep no state."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[AlertState, int]] = {}

    def get(self, key: str) -> tuple[AlertState | None, int]:
        item = self._items.get(key)
        return (_copy(item[0]), item[1]) if item else (None, 0)

    def put(self, key: str, state: AlertState, version: int, expires_at: int) -> bool:
        if self._items.get(key, (None, 0))[1] != version:
            return False
        self._items[key] = (_copy(state), version + 1)
        return True


def _copy(state: AlertState) -> AlertState:
    # The engine appends to the lists and replaces the other fields; it never edits a sample.
    return replace(state, uniques=list(state.uniques), samples=list(state.samples))


def connect_sqlite(path: Path, create_table: str) -> sqlite3.Connection:
    """A connection shared by threads (callers lock), with its table created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        db.execute(create_table)
        db.commit()
    except sqlite3.Error as exc:
        raise UserError(f"state file {path} cannot be used (it must be a SQLite file): {exc}") from None
    return db


class SQLiteStore:
    """A local file; safe for several processes (SQLite locking) and threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = connect_sqlite(self.path, "CREATE TABLE IF NOT EXISTS dedup (pk TEXT PRIMARY KEY, "
                                  "state TEXT NOT NULL, version INTEGER NOT NULL, expires_at INTEGER NOT NULL)")

    def get(self, key: str) -> tuple[AlertState | None, int]:
        with self._lock:
            row = self._db.execute("SELECT state, version FROM dedup WHERE pk = ?", (key,)).fetchone()
        return (AlertState.from_json(json.loads(row[0])), row[1]) if row else (None, 0)

    def put(self, key: str, state: AlertState, version: int, expires_at: int) -> bool:
        payload = json.dumps(state.to_json(), default=str)
        with self._lock, self._db:
            if version == 0:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO dedup (pk, state, version, expires_at) VALUES (?, ?, 1, ?)",
                    (key, payload, expires_at))
            else:
                cursor = self._db.execute(
                    "UPDATE dedup SET state = ?, version = version + 1, expires_at = ? WHERE pk = ? AND version = ?",
                    (payload, expires_at, key, version))
            return cursor.rowcount == 1

    def close(self) -> None:
        self._db.close()


class DynamoDBStore:
    """Table with partition key `pk` (S) and TTL attribute `expires_at` (N), as infra/ deploys it."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        import boto3

        self.table_name = table_name
        self.client = client or boto3.client("dynamodb")

    def get(self, key: str) -> tuple[AlertState | None, int]:
        item = self.client.get_item(TableName=self.table_name, Key={"pk": {"S": key}},
                                    ConsistentRead=True).get("Item")
        if not item:
            return None, 0
        return AlertState.from_json(json.loads(item["state"]["S"])), int(item["version"]["N"])

    def put(self, key: str, state: AlertState, version: int, expires_at: int) -> bool:
        item = {"pk": {"S": key}, "state": {"S": json.dumps(state.to_json(), default=str)},
                "version": {"N": str(version + 1)}, "expires_at": {"N": str(expires_at)},
                "rule_id": {"S": state.rule_id}, "alert_id": {"S": state.alert_id}}
        return conditional_put(self.client, self.table_name, item, version)


def conditional_put(client: Any, table_name: str, item: dict[str, Any], version: int) -> bool:
    """Put `item` if the stored item is still at `version` (absent for 0); False on a conflict."""
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {"TableName": table_name, "Item": item}
    if version == 0:
        kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        kwargs["ConditionExpression"] = "version = :v"
        kwargs["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
    try:
        client.put_item(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
