"""The organization's posture scan fanned out: one SQS message, one worker invocation per account.

One invocation cannot scan a large organization within Lambda's 15 minutes (docs/live.md), so
in the central stack (``POSTURE_QUEUE_URL`` and ``BUCKETWATCH_ORGANIZATION`` set):

- the scheduled run (``policies.posture_handler.handler`` -> `dispatch_handler`) sends one message
  per account of ``BUCKETWATCH_ORGANIZATION`` to the queue, ten to a SendMessageBatch call, and
  returns. The message names the scan run (EventBridge's event id and scheduled time, the same
  when EventBridge or Lambda retries the event) and the account.
- `worker_handler` (a second function from the same code, SQS event source, batch size 1) scans
  that account through the audit role exactly as the one-invocation scan does (its own account
  with its own credentials when the role cannot be assumed), writes the account's findings to
  the lake and publishes its FAIL alerts. An account whose role cannot be assumed is an UNKNOWN
  finding with the reason: a verdict, so the message succeeds.

Failures are reported per message (ReportBatchItemFailures), so only that message is retried:
a message that is not JSON, lacks a field or names an account outside the organization is
logged with the reason and reported as failed, like a scan that raised; after the queue's
maxReceiveCount it moves to the dead-letter queue, whose alarm tells a human (a message that
can never succeed is kept for inspection there instead of silently dropped).

Re-delivery writes the same lake object: one file per (scan run, account), named by both, so a
retry replaces it instead of adding a copy. Alerts are at-least-once: a retry after the lake was
written publishes the account's alerts again (their dedup key is the same).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pyarrow as pa

from detectors.common import validate
from detectors.common.errors import UserError
from detectors.lake.writer import partition_tables, write_parquet
from detectors.schema import DB_BUCKETWATCH, table_path
from policies.config import PostureSettings
from policies.model import TRAIL_RESOURCE_TYPE
from policies.posture_handler import (
    FINDINGS_TABLE,
    QUEUE_VARIABLE,
    _settings,
    alert_message,
    findings_table,
    log_not_scanned,
    organization_scope,
    publish_alerts,
    scan_regions,
    send_batches,
)
from policies.runner import FAIL, Finding
from policies.sources.live_clients import ClientFactory, LiveSourceError, assume_role
from policies.sources.live_org import caller_identity, role_arn
from policies.sources.live_scan import LiveScanRequest, run_live_scan

MESSAGE_KEYS = ("scan_id", "scan_time", "account_id")


@dataclass(frozen=True)
class AccountTask:
    """One message: scan `account_id` as part of the scan run `scan_id` scheduled at `scan_time`."""

    scan_id: str
    scan_time: datetime
    account_id: str

    def to_body(self) -> str:
        return json.dumps({"scan_id": self.scan_id, "scan_time": self.scan_time.astimezone(UTC).isoformat(),
                           "account_id": self.account_id})


def parse_task(body: Any, accounts: list[str]) -> AccountTask:
    """The message's task; raises UserError saying what is wrong with it."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        raise validate.fail("message", f"body is not JSON, got {str(body)[:80]!r}") from None
    values = validate.section(data, MESSAGE_KEYS, "message")
    scan_id, when, account = (validate.string(values.get(key), f"message.{key}") for key in MESSAGE_KEYS)
    try:
        scan_time = datetime.fromisoformat(when)
    except ValueError:
        raise validate.fail("message.scan_time", f"expected an ISO 8601 time, got {when!r}") from None
    if scan_time.tzinfo is None:
        raise validate.fail("message.scan_time", f"expected a time with its UTC offset, got {when!r}")
    validate.account_id(account, "message.account_id")
    if account not in accounts:
        raise validate.fail("message.account_id", f"{account} is not one of the organization's accounts")
    return AccountTask(scan_id, scan_time, account)


def scan_run(event: Any, context: Any) -> tuple[str, datetime]:
    """The scheduled run's id and time: EventBridge's event id and scheduled time, which a retry of
    the same event keeps (so re-sent messages name the same run); else the request id and now."""
    event = event if isinstance(event, dict) else {}
    try:
        scan_time = datetime.fromisoformat(event["time"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        scan_time = datetime.now(UTC)
    scan_id = event.get("id") or getattr(context, "aws_request_id", None) or scan_time.strftime("scan-%Y%m%dT%H%M%SZ")
    return str(scan_id), scan_time


def dispatch(sqs: Any, queue_url: str, tasks: list[AccountTask]) -> None:
    send_batches(lambda chunk: sqs.send_message_batch(QueueUrl=queue_url, Entries=chunk),
                 [{"MessageBody": task.to_body()} for task in tasks], "SQS account messages")


def dispatch_handler(event: Any, context: Any, settings: PostureSettings | None = None) -> dict[str, Any]:
    """The scheduled run of the central stack: one message per account of the organization."""
    settings = settings or _settings()
    scope = organization_scope(settings)
    if scope is None:
        raise ValueError("the fan-out needs BUCKETWATCH_ORGANIZATION")
    _, accounts = scope
    scan_id, scan_time = scan_run(event, context)
    dispatch(boto3.client("sqs"), os.environ[QUEUE_VARIABLE], [AccountTask(scan_id, scan_time, a) for a in accounts])
    return {"scan_id": scan_id, "scan_time": scan_time.isoformat(), "accounts_dispatched": len(accounts)}


def reported_here(finding: Finding, account_id: str, accounts: list[str],
                  owner_scanned: Callable[[str], bool] = lambda owner: True) -> bool:
    """Whether this account's worker reports `finding`, so the fan-out reports each resource once
    like the one-invocation scan. Buckets and the account are only seen from their own account;
    a trail is also seen from every account an organization trail covers (shadow copies): its
    owner's worker reports it, or the first listed account's when its owner is not listed or its
    owner's worker cannot scan it (`owner_scanned(owner)` False: no audit role in the management
    account, a common set-up). Only that one worker asks."""
    owner = finding.ref.account
    if finding.resource_type != TRAIL_RESOURCE_TYPE or owner == account_id:
        return True
    if account_id != accounts[0]:
        return False
    return owner not in accounts or not owner_scanned(owner)


class OwnerScanProbe:
    """Whether an account's own worker can scan it: its audit role can be assumed from here (the
    workers' credentials are the same for every account), or it is this account itself (scanned
    with its own credentials). One AssumeRole per account asked about, remembered. A failure to
    tell counts as "cannot": a trail reported twice rather than never."""

    def __init__(self, role_name: str) -> None:
        self.role_name = role_name
        self.session = boto3.Session()
        self._caller: tuple[str, str] | None = None
        self._answers: dict[str, bool] = {}

    def __call__(self, account_id: str) -> bool:
        if account_id not in self._answers:
            self._answers[account_id] = self._scannable(account_id)
        return self._answers[account_id]

    def _scannable(self, account_id: str) -> bool:
        try:
            if self._caller is None:
                self._caller = caller_identity(ClientFactory(self.session, None))
            partition, caller = self._caller
            if account_id != caller:
                assume_role(self.session, role_arn(partition, account_id, self.role_name), None,
                            session_name="bucketwatch-owner-check")
        except LiveSourceError:
            return False
        return True


def account_findings_key(task: AccountTask, table: pa.Table) -> tuple[str, pa.Table]:
    """The lake key of one (scan run, account): the same on every delivery of the message, so a
    retry replaces the file even when its rows differ (a bucket created between attempts)."""
    ((partition, rows),) = partition_tables(table, "scan_time")  # one scan time, one partition
    name = hashlib.blake2b(f"{task.scan_id}|{task.account_id}".encode(), digest_size=16).hexdigest()
    return f"{table_path(DB_BUCKETWATCH, FINDINGS_TABLE)}/{partition}/part-{name}.parquet", rows


def scan_account(task: AccountTask, settings: PostureSettings, role_name: str, accounts: list[str]) -> dict[str, Any]:
    """Scan one account, write its findings to the lake, then publish its FAIL alerts."""
    request = LiveScanRequest(regions=scan_regions(), settings=settings, organization=True, role_name=role_name,
                              organization_accounts=[task.account_id], require_reachable=False)
    result = run_live_scan(request)
    log_not_scanned(result)
    owner_scanned = OwnerScanProbe(role_name)
    findings = [f for f in result.findings if reported_here(f, task.account_id, accounts, owner_scanned)]
    key = None
    if findings:
        key, rows = account_findings_key(task, findings_table(findings, task.scan_id, task.scan_time))
        body = io.BytesIO()
        write_parquet(rows, body)
        boto3.client("s3").put_object(Bucket=os.environ["PROCESSED_BUCKET"], Key=key, Body=body.getvalue(),
                                      ContentType="application/vnd.apache.parquet")
    failures = [f for f in findings if f.status == FAIL]
    publish_alerts(boto3.client("sns"), os.environ["ALERTS_TOPIC_ARN"],
                   [alert_message(f, task.scan_time) for f in failures])
    (scanned,) = result.accounts
    return {"scan_id": task.scan_id, "account": scanned.to_dict(), "findings_written": len(findings),
            "alerts_published": len(failures), "lake_key": key}


def log(level: str, message: str, **fields: Any) -> None:
    print(json.dumps({"level": level, "message": message, **fields}, default=str))


def worker_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch of account messages -> the ids of those that failed (ReportBatchItemFailures)."""
    settings = _settings()
    scope = organization_scope(settings)
    if scope is None:
        raise ValueError("the fan-out worker needs BUCKETWATCH_ORGANIZATION")
    role_name, accounts = scope
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise ValueError("the fan-out worker expects an SQS event (Records)")
    failed = []
    for record in records:
        message_id = record.get("messageId")
        try:
            outcome = scan_account(parse_task(record.get("body"), accounts), settings, role_name, accounts)
        except UserError as exc:  # a malformed message: retried until the dead-letter queue keeps it
            log("WARNING", "message rejected", message_id=message_id, reason=str(exc))
            failed.append({"itemIdentifier": message_id})
        except Exception as exc:  # any failure of one account: that message alone is retried
            log("ERROR", "account scan failed", message_id=message_id, reason=f"{type(exc).__name__}: {exc}")
            failed.append({"itemIdentifier": message_id})
        else:
            log("INFO", "account scanned", message_id=message_id, **outcome)
    return {"batchItemFailures": failed}
