"""Dedup state stores: SQLite on one machine, DynamoDB in AWS, one interface.

Both use optimistic concurrency: `put` succeeds only if the stored version is the one that was
read, so two detector Lambdas updating the same alert cannot overwrite each other's counts;
the engine re-reads and re-applies on conflict. Items expire (`expires_at`, epoch seconds)
after their window closes so the table does not grow forever.

Exactly-once counting: a `put` may carry a *contribution* id (a digest of the rows whose matches
it adds). The group's new state and a marker item for (group, contribution) are written in one
atomic step (a DynamoDB transaction of two conditional Puts; one SQLite transaction); if the
marker already exists the put changes nothing and says APPLIED, so re-delivered or re-read rows
never count twice. Markers (`has_marker`/`put_marker`) also remember published alerts and
processed S3 objects. They live in the same table under their own key prefixes.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from detectors.common.errors import UserError
from detectors.engine.alerts import AlertState

T = TypeVar("T")


class Put(IntEnum):
    """What a conditional put did. CONFLICT is falsy (the engine re-reads and re-applies)."""
    CONFLICT = 0
    STORED = 1
    APPLIED = 2   # this contribution was stored before: nothing changed


# Markers outlive any retry: Lambda retries asynchronous events for up to 6 hours, SQS keeps
# messages up to 14 days.
MARKER_TTL_S = 14 * 24 * 3600


def marker_expiry(expires_at: int) -> int:
    return max(expires_at, int(time.time()) + MARKER_TTL_S)


def applied_marker(key: str, contribution: str) -> str:
    return "applied#" + hashlib.sha256(f"{key}\0{contribution}".encode()).hexdigest()[:40]


class DedupStore(Protocol):
    def get(self, key: str) -> tuple[AlertState | None, int]:
        """The stored state and its version (0 when absent)."""

    def put(self, key: str, state: AlertState, version: int, expires_at: int,
            contribution: str | None = None) -> Put:
        """Store `state` if the item is still at `version` (and `contribution` is new)."""

    def has_marker(self, name: str) -> bool:
        """Whether a marker item exists."""

    def put_marker(self, name: str, expires_at: int) -> None:
        """Create (or refresh) a marker item."""


class MemoryStore:
    """For tests and one-shot runs that keep no state."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[AlertState, int]] = {}
        self._markers: set[str] = set()

    def get(self, key: str) -> tuple[AlertState | None, int]:
        item = self._items.get(key)
        return (_copy(item[0]), item[1]) if item else (None, 0)

    def put(self, key: str, state: AlertState, version: int, expires_at: int,
            contribution: str | None = None) -> Put:
        marker = applied_marker(key, contribution) if contribution else None
        if marker in self._markers:
            return Put.APPLIED
        if self._items.get(key, (None, 0))[1] != version:
            return Put.CONFLICT
        self._items[key] = (_copy(state), version + 1)
        if marker:
            self._markers.add(marker)
        return Put.STORED

    def has_marker(self, name: str) -> bool:
        return name in self._markers

    def put_marker(self, name: str, expires_at: int) -> None:
        self._markers.add(name)


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
        with self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS markers (pk TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)")

    def get(self, key: str) -> tuple[AlertState | None, int]:
        with self._lock:
            row = self._db.execute("SELECT state, version FROM dedup WHERE pk = ?", (key,)).fetchone()
        return (AlertState.from_json(json.loads(row[0])), row[1]) if row else (None, 0)

    def put(self, key: str, state: AlertState, version: int, expires_at: int,
            contribution: str | None = None) -> Put:
        payload = json.dumps(state.to_json(), default=str)
        marker = applied_marker(key, contribution) if contribution else None
        with self._lock, self._db:
            if marker and self._db.execute("SELECT 1 FROM markers WHERE pk = ?", (marker,)).fetchone():
                return Put.APPLIED
            if version == 0:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO dedup (pk, state, version, expires_at) VALUES (?, ?, 1, ?)",
                    (key, payload, expires_at))
            else:
                cursor = self._db.execute(
                    "UPDATE dedup SET state = ?, version = version + 1, expires_at = ? WHERE pk = ? AND version = ?",
                    (payload, expires_at, key, version))
            if cursor.rowcount != 1:
                return Put.CONFLICT
            if marker:
                self._db.execute("INSERT INTO markers (pk, expires_at) VALUES (?, ?)",
                                 (marker, marker_expiry(expires_at)))
            return Put.STORED

    def has_marker(self, name: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM markers WHERE pk = ?", (name,)).fetchone() is not None

    def put_marker(self, name: str, expires_at: int) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO markers (pk, expires_at) VALUES (?, ?)", (name, expires_at))

    def close(self) -> None:
        self._db.close()


# Errors worth waiting for: the table is busy, not wrong. (botocore retries these too; this layer
# keeps trying longer, so a state write after an alert was published is not lost to a burst.)
RETRYABLE = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                       "InternalServerError", "ServiceUnavailable", "TransactionInProgressException"})
RETRY_ATTEMPTS = 6
RETRY_BASE_S = 0.2


def versioned_put(table_name: str, item: dict[str, Any], version: int) -> dict[str, Any]:
    """A PutItem request that succeeds only while the item is at `version` (absent for 0)."""
    put: dict[str, Any] = {"TableName": table_name, "Item": item}
    if version == 0:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        put["ConditionExpression"] = "version = :v"
        put["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
    return put


def _error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


class DynamoDBStore:
    """Table with partition key `pk` (S) and TTL attribute `expires_at` (N), as infra/ deploys it.
    Uses GetItem, PutItem and TransactWriteItems of two Puts (which IAM governs as PutItem)."""

    def __init__(self, table_name: str, client: Any = None, sleep: Callable[[float], None] = time.sleep) -> None:
        import boto3

        self.table_name = table_name
        self.client = client or boto3.client("dynamodb")
        self._sleep = sleep

    def _call(self, operation: Callable[..., T], **kwargs: Any) -> T:
        """`operation(**kwargs)`, retried with exponential backoff and jitter while DynamoDB is busy."""
        for attempt in range(RETRY_ATTEMPTS):
            try:
                return operation(**kwargs)
            except Exception as exc:
                if _error_code(exc) not in RETRYABLE or attempt == RETRY_ATTEMPTS - 1:
                    raise
                self._sleep(RETRY_BASE_S * 2 ** attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def get(self, key: str) -> tuple[AlertState | None, int]:
        item = self._call(self.client.get_item, TableName=self.table_name, Key={"pk": {"S": key}},
                          ConsistentRead=True).get("Item")
        if not item:
            return None, 0
        return AlertState.from_json(json.loads(item["state"]["S"])), int(item["version"]["N"])

    def put(self, key: str, state: AlertState, version: int, expires_at: int,
            contribution: str | None = None) -> Put:
        item = {"pk": {"S": key}, "state": {"S": json.dumps(state.to_json(), default=str)},
                "version": {"N": str(version + 1)}, "expires_at": {"N": str(expires_at)},
                "rule_id": {"S": state.rule_id}, "alert_id": {"S": state.alert_id}}
        put = versioned_put(self.table_name, item, version)
        if contribution is None:
            return self._put_alone(put)
        marker = {"TableName": self.table_name, "ConditionExpression": "attribute_not_exists(pk)",
                  "Item": {"pk": {"S": applied_marker(key, contribution)},
                           "expires_at": {"N": str(marker_expiry(expires_at))}}}
        try:
            self._call(self.client.transact_write_items, TransactItems=[{"Put": put}, {"Put": marker}])
        except Exception as exc:
            if _error_code(exc) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                return Put.APPLIED
            if reasons and reasons[0] in ("ConditionalCheckFailed", "TransactionConflict"):
                return Put.CONFLICT
            if "TransactionConflict" in reasons:
                return Put.CONFLICT
            raise
        return Put.STORED

    def _put_alone(self, put: dict[str, Any]) -> Put:
        try:
            self._call(self.client.put_item, **put)
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return Put.CONFLICT
            raise
        return Put.STORED

    def has_marker(self, name: str) -> bool:
        found = self._call(self.client.get_item, TableName=self.table_name, Key={"pk": {"S": name}},
                           ConsistentRead=True)
        return "Item" in found

    def put_marker(self, name: str, expires_at: int) -> None:
        self._call(self.client.put_item, TableName=self.table_name,
                   Item={"pk": {"S": name}, "expires_at": {"N": str(expires_at)}})
