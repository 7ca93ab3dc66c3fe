"""What a report shows, read back from a lake: alerts from `panther_rule_matches`, posture results
from `bucketwatch.posture_findings` (written by the posture Lambda, `scan --lake` and `check --lake`).

Rule-match rows keep each matched event and its alert id; an alert is the group of rows with one
`p_alert_id`. Its title, context and runbook come from the rule itself, run on the alert's first
event, the way the engine made them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from detectors.common.errors import UserError
from detectors.schema import (
    CLOUDTRAIL_JSON_FIELDS,
    DB_BUCKETWATCH,
    DB_RULE_MATCHES,
    LOG_TYPE_CLOUDTRAIL,
    PARTITION_COLUMNS,
    RULE_MATCH_FIELDS,
    TABLE_OF_LOG_TYPE,
)
from policies.posture_handler import FINDINGS_TABLE

SAMPLES_PER_ALERT = 3
_RULE_MATCH_COLUMNS = frozenset(f.name for f in RULE_MATCH_FIELDS) | set(PARTITION_COLUMNS)


@dataclass
class LakeReport:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    posture: list[dict[str, Any]] = field(default_factory=list)
    rule_match_rows: int = 0
    window: tuple[datetime, datetime] | None = None


def load_report(lake: Path, since: datetime | None = None, rule_dirs: Iterable[str] = ()) -> LakeReport:
    """Alerts (rule matches at or after `since`) and the latest posture scan of each account."""
    from detectors.lake import open_lake

    if not lake.is_dir():
        raise UserError(f"lake not found: {lake} (write one with `bucketwatch detect ... --lake {lake}`)")
    con = open_lake(lake)
    report = LakeReport()
    rules = _rules(rule_dirs)
    for log_type, table in TABLE_OF_LOG_TYPE.items():
        where, params = ("WHERE p_event_time >= ?", [since]) if since else ("", [])
        rows = _dicts(con.execute(
            f"SELECT * FROM {DB_RULE_MATCHES}.{table} {where} ORDER BY p_alert_id, p_event_time, p_row_id", params))
        report.rule_match_rows += len(rows)
        report.alerts.extend(_alerts(log_type, rows, rules))
    report.posture = _latest_findings(con)
    times = [t for a in report.alerts for t in (a["first_seen_time"], a["last_seen_time"])]
    if times:
        report.window = (min(times), max(times))
    return report


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _rules(rule_dirs: Iterable[str]) -> dict[str, Any]:
    from detectors.engine.rules import load_rules

    return {rule.id: rule for rule in load_rules(rule_dirs)}


def _alerts(log_type: str, rows: list[dict[str, Any]], rules: dict[str, Any]) -> list[dict[str, Any]]:
    """One alert per `p_alert_id`; the matches of signal rules (CreateAlert: false) are rows for
    correlation rules, never alerts, and are left out."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row["p_alert_id"]), []).append(row)
    alerts = []
    for alert_id, group in groups.items():
        rule = rules.get(str(group[0]["p_rule_id"]))
        if rule is not None and not rule.create_alert:
            continue
        alerts.append(_alert(log_type, alert_id, group, rule))
    return alerts


def _alert(log_type: str, alert_id: str, rows: list[dict[str, Any]], rule: Any) -> dict[str, Any]:
    first = rows[0]
    samples = [lake_row_event(log_type, row) for row in rows[:SAMPLES_PER_ALERT]]
    title, context = _rule_outputs(rule, samples[0])
    accounts = sorted({str(r["p_account_id"]) for r in rows if r.get("p_account_id")})
    return {
        "kind": "detection",
        "rule_id": first["p_rule_id"],
        "alert_id": alert_id,
        "severity": first["p_rule_severity"],
        "title": title or (rule.display_name if rule else first["p_rule_id"]),
        "first_seen": rows[0]["p_event_time"].isoformat() + "Z",
        "last_seen": max(r["p_event_time"] for r in rows).isoformat() + "Z",
        "first_seen_time": rows[0]["p_event_time"],
        "last_seen_time": max(r["p_event_time"] for r in rows),
        "event_count": len(rows),
        "account_id": accounts[0] if len(accounts) == 1 else (", ".join(accounts) or None),
        "runbook": rule.runbook if rule else "",
        "context": context,
        "samples": samples,
        "log_type": log_type,
    }


def lake_row_event(log_type: str, row: dict[str, Any]) -> dict[str, Any]:
    """A lake row as the rule saw the event: CloudTrail's nested objects parsed back from their
    JSON text, unknown top-level keys restored, absent fields left out, times as Panther text."""
    from detectors.pipeline import panther_time

    event: dict[str, Any] = {}
    for name, value in row.items():
        if name in _RULE_MATCH_COLUMNS or value is None:
            continue
        if isinstance(value, datetime):
            value = panther_time(value)
        elif log_type == LOG_TYPE_CLOUDTRAIL and name in CLOUDTRAIL_JSON_FIELDS and isinstance(value, str):
            value = _json(value)
        elif log_type == LOG_TYPE_CLOUDTRAIL and name == "additionalFields" and isinstance(value, str):
            extra = _json(value)
            if isinstance(extra, dict):
                event.update(extra)
            continue
        event[name] = value
    return event


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _rule_outputs(rule: Any, sample: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """The rule's title and alert context for its first event; None where the rule has none or fails."""
    if rule is None:
        return None, None
    from detectors.event import PantherEvent

    event = PantherEvent(sample)
    outputs: list[Any] = []
    for function in ("title", "alert_context"):
        try:
            outputs.append(rule.call(function, event))
        except Exception:  # a user rule that fails here still has its rows reported
            outputs.append(None)
    title, context = outputs
    return (str(title) if title else None), (context if isinstance(context, dict) else None)


def _latest_findings(con: Any) -> list[dict[str, Any]]:
    """Posture results of the latest scan of each account (and of each template check)."""
    exists = con.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [DB_BUCKETWATCH, FINDINGS_TABLE]).fetchone()[0]
    if not exists:
        return []
    rows = _dicts(con.execute(
        f"SELECT * FROM {DB_BUCKETWATCH}.{FINDINGS_TABLE} "
        "QUALIFY scan_time = MAX(scan_time) OVER (PARTITION BY COALESCE(p_account_id, ''), source) "
        "ORDER BY resource, policy"))
    for row in rows:
        row["account_id"] = row.get("p_account_id")
        row["region"] = row.get("p_region")
        if row.get("suppression_reason"):
            row["suppression"] = {"reason": row["suppression_reason"]}
    return rows
