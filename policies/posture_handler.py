"""The scheduled posture Lambda: scan live buckets, alert on failures, keep every finding.

Environment:
- ``ALERTS_TOPIC_ARN``: SNS topic; one JSON message per unsuppressed FAIL (``kind: "posture"``).
- ``PROCESSED_BUCKET``: the lake bucket; findings go to
  ``bucketwatch/posture_findings/year=YYYY/month=MM/day=DD/hour=HH/<name>.parquet`` (scan time, UTC).
- ``SCAN_REGIONS`` (optional): comma-separated regions; default every bucket's region.
- ``BUCKETWATCH_CONFIG`` (optional): path of a config file whose ``posture:`` section applies
  (suppressions, allowlists, disabled policies), and its ``organization:`` section.
- ``BUCKETWATCH_ORGANIZATION`` (optional, set by the central stack): JSON of the organization
  section (``accounts``, ``audit_role_name``, ``trusted_accounts``, ``id``). With it, the Lambda
  scans every listed account once through the audit role (its own account through the role when
  it can assume it, else with its own credentials); an account whose role cannot be assumed is
  an UNKNOWN finding and the others are still scanned. Without it, its own account.
- ``POSTURE_QUEUE_URL`` (optional, set by the central stack with ``BUCKETWATCH_ORGANIZATION``):
  the scheduled run scans nothing itself; it sends one message per account to this queue and the
  fan-out workers scan them, one account per invocation (``policies.posture_fanout``).

Only boto3, pyarrow and pyyaml are imported (the Lambda bundle has no aws_cdk, checkov, duckdb).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pyarrow as pa

from detectors.common.organization import ENVIRONMENT_VARIABLE, FILE_VARIABLE, deployed_organization
from detectors.lake.writer import S3LakeWriter
from detectors.schema import DB_BUCKETWATCH
from policies.config import PostureSettings, load_settings
from policies.runner import FAIL, Finding, summarize
from policies.sources.live_scan import LiveScanRequest, LiveScanResult, run_live_scan

FINDINGS_TABLE = "posture_findings"
# Set by the central stack: the scheduled run sends one message per account to this queue
# (policies/posture_fanout.py) instead of scanning every account itself.
QUEUE_VARIABLE = "POSTURE_QUEUE_URL"
_TIMESTAMP = pa.timestamp("ms")

# bucketwatch.posture_findings: one row per (policy, resource) verdict of one scan.
POSTURE_FINDINGS_SCHEMA = pa.schema([
    pa.field("scan_id", pa.string()),
    pa.field("scan_time", _TIMESTAMP),
    pa.field("policy", pa.string()),
    pa.field("panther_id", pa.string()),
    pa.field("title", pa.string()),
    pa.field("resource", pa.string()),
    pa.field("resource_type", pa.string()),
    pa.field("status", pa.string()),
    pa.field("verdict", pa.string()),
    pa.field("severity", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("remediation", pa.string()),
    pa.field("source", pa.string()),
    pa.field("name", pa.string()),
    pa.field("suppression_reason", pa.string()),
    pa.field("compliance", pa.string()),  # JSON: {"AWS Security Hub": ["S3.5"], ...}
    pa.field("p_row_id", pa.string()),
    # The lake's standard fields: the account and region the resource belongs to.
    pa.field("p_account_id", pa.string()),
    pa.field("p_region", pa.string()),
])


def findings_table(findings: list[Finding], scan_id: str, scan_time: datetime) -> pa.Table:
    rows = []
    naive_utc = scan_time.astimezone(UTC).replace(tzinfo=None)
    for finding in findings:
        data = finding.to_dict()
        row_key = f"{scan_id}|{data['policy']}|{data['resource']}"
        rows.append({
            "scan_id": scan_id, "scan_time": naive_utc,
            **{key: data.get(key) for key in ("policy", "panther_id", "title", "resource", "resource_type", "status",
                                              "verdict", "severity", "reason", "remediation", "source", "name")},
            "suppression_reason": (data.get("suppression") or {}).get("reason"),
            "compliance": json.dumps(finding.policy.reports or {}, sort_keys=True),
            "p_row_id": hashlib.blake2b(row_key.encode(), digest_size=16).hexdigest(),
            "p_account_id": data.get("account_id"),
            "p_region": data.get("region"),
        })
    return pa.Table.from_pylist(rows, schema=POSTURE_FINDINGS_SCHEMA)


def alert_message(finding: Finding, scan_time: datetime) -> dict[str, Any]:
    """One SNS message, in the shape detection alerts use too."""
    data = finding.to_dict()
    seen = scan_time.astimezone(UTC).isoformat()
    return {
        "kind": "posture",
        "rule_id": data["policy"],
        "policy_id": data["policy"],
        "panther_id": data["panther_id"],
        "severity": data["severity"],
        "title": f"{data['title']}: {data['resource']}",
        "dedup": f"{data['policy']}:{data['resource']}",
        "first_seen": seen,
        "last_seen": seen,
        "event_count": 1,
        "samples": [],
        "context": {**{key: data[key] for key in ("resource", "reason", "region", "account_id", "source")},
                    "compliance": finding.policy.reports or {}},
        "runbook": data["remediation"],
    }


BATCH = 10  # the limit of SNS PublishBatch and of SQS SendMessageBatch
SEND_ATTEMPTS = 4  # per batch: the first send and three resends of what the service could not take
RESEND_DELAY_SECONDS = 0.2  # doubled before each resend


def send_batches(send: Callable[[list[dict[str, Any]]], dict[str, Any]], entries: list[dict[str, Any]],
                 what: str, sleep: Callable[[float], None] = time.sleep) -> None:
    """`entries` ten to a `send` call (thousands fit in the Lambda's time), each given its `Id`
    within the call. Entries the service could not take (`SenderFault: false`: throttled, busy)
    are sent again, alone, after a pause: resending the whole batch would repeat the ones it took.
    Entries it refuses as wrong (`SenderFault: true`) or still cannot take after SEND_ATTEMPTS
    raise, so the invocation fails and is retried."""
    for start in range(0, len(entries), BATCH):
        pending = {str(index): entry for index, entry in enumerate(entries[start:start + BATCH])}
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                sleep(RESEND_DELAY_SECONDS * 2 ** (attempt - 1))
            failed = send([{"Id": key, **entry} for key, entry in pending.items()]).get("Failed") or []
            refused = [failure for failure in failed if failure.get("SenderFault")]
            if refused:
                raise RuntimeError(f"{what}: {len(refused)} refused as invalid: {refused[0]}")
            pending = {failure["Id"]: pending[failure["Id"]] for failure in failed}
            if not pending:
                break
        else:
            raise RuntimeError(f"{what}: {len(pending)} not accepted after {SEND_ATTEMPTS} attempts: {failed[0]}")


def publish_alerts(sns: Any, topic_arn: str, alerts: list[dict[str, Any]]) -> None:
    """One SNS message per alert."""
    entries = [{"Subject": f"Bucketwatch posture: {alert['policy_id']}"[:100], "Message": json.dumps(alert, default=str)}
               for alert in alerts]
    send_batches(lambda chunk: sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=chunk),
                 entries, "SNS alerts")


def _settings() -> PostureSettings:
    """The config file's posture settings, with the organization (config file and environment)."""
    return load_settings(os.environ.get("BUCKETWATCH_CONFIG") or None)


def organization_scope(settings: PostureSettings) -> tuple[str, list[str]] | None:
    """(audit role name, accounts) when the stack says which accounts the organization holds;
    None in single-account mode (neither BUCKETWATCH_ORGANIZATION_FILE nor BUCKETWATCH_ORGANIZATION)."""
    organization = settings.organization
    if deployed_organization() is None:
        return None
    if not organization.known or not organization.audit_role_name:
        raise ValueError(f"the deployed organization ({FILE_VARIABLE} or {ENVIRONMENT_VARIABLE}) must list "
                         "the organization's accounts and audit_role_name")
    return organization.audit_role_name, list(organization.accounts)


def scan_request(settings: PostureSettings, regions: list[str] | None) -> LiveScanRequest:
    """The whole organization when the stack says which accounts it holds, else this account."""
    scope = organization_scope(settings)
    if scope is None:
        return LiveScanRequest(regions=regions, settings=settings)
    role_name, accounts = scope
    return LiveScanRequest(regions=regions, settings=settings, organization=True, role_name=role_name,
                           organization_accounts=accounts)


def scan_regions() -> list[str] | None:
    return [r.strip() for r in os.environ.get("SCAN_REGIONS", "").split(",") if r.strip()] or None


def log_not_scanned(result: LiveScanResult) -> None:
    """CloudWatch Logs: one line per account not scanned (its findings say UNKNOWN too)."""
    for account in result.stats.not_scanned:
        print(json.dumps({"level": "WARNING", "message": "account not scanned",
                          "account_id": account.account_id, "reason": account.error}))


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    settings = _settings()
    if os.environ.get(QUEUE_VARIABLE) and organization_scope(settings) is not None:
        from policies.posture_fanout import dispatch_handler  # the central stack's fan-out

        return dispatch_handler(event, context, settings)
    topic_arn = os.environ["ALERTS_TOPIC_ARN"]
    processed_bucket = os.environ["PROCESSED_BUCKET"]
    scan_time = datetime.now(UTC)
    scan_id = getattr(context, "aws_request_id", None) or scan_time.strftime("scan-%Y%m%dT%H%M%S%fZ")

    result = run_live_scan(scan_request(settings, scan_regions()))
    log_not_scanned(result)

    failures = [f for f in result.findings if f.status == FAIL]
    publish_alerts(boto3.client("sns"), topic_arn, [alert_message(f, scan_time) for f in failures])
    writer = S3LakeWriter(boto3.client("s3"), processed_bucket)
    writer.write(DB_BUCKETWATCH, FINDINGS_TABLE, findings_table(result.findings, scan_id, scan_time),
                 time_column="scan_time")
    return {
        "scan_id": scan_id,
        "buckets": result.bucket_count,
        "api_calls": result.stats.api_calls,
        "accounts": [account.to_dict() for account in result.accounts],
        "alerts_published": len(failures),
        "findings_written": len(result.findings),
        "lake_keys": writer.keys_written,
        "summary": summarize(result.findings, settings.severity_threshold),
    }
