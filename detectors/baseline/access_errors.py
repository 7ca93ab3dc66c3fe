"""AccessError's per-bucket baseline: the tutorial's error search feeding the rule back.

The scheduled query "Bucketwatch S3 Access Error Baseline" (detectors/queries/) keeps, per
bucket, requester and error code, how many 400/403/405 object errors there were in the last 7
days, on how many days and in how many hours (lake table bucketwatch.access_error_baseline).
`detect` reads that table and gives AWS.S3.ServerAccess.Error one threshold per alert group
(its dedup, `bucket:requester:error`):

- a group that erred on at least MIN_DAYS of the 7 days is a habit (a job with a stale
  permission, a client probing for optional keys), not an incident: its threshold becomes
  FACTOR times its usual errors in one dedup window (its errors per active hour times the
  rule's DedupPeriodMinutes), and never less than the rule's own Threshold;
- every other group (new requesters, a new error, a one-day burst such as yesterday's attack)
  keeps the rule's Threshold.

So a habitual error source stops alerting every three hours, and alerts again when it doubles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from detectors.config import DetectionSettings
from detectors.engine.rules import Rule
from detectors.event import PantherEvent
from detectors.scheduled.results import read_result_table
from detectors.schema import LOG_TYPE_S3

RULE_ID = "AWS.S3.ServerAccess.Error"
TABLE = ("bucketwatch", "access_error_baseline")
MIN_DAYS = 3
FACTOR = 2


def thresholds(rows: Iterable[Mapping[str, Any]], rule: Rule) -> dict[str, int]:
    """dedup string -> threshold, for the habitual groups of the baseline rows."""
    out: dict[str, int] = {}
    for row in rows:
        days, hours, errors = (int(row.get(k) or 0) for k in ("days_with_errors", "hours_with_errors", "err_count"))
        if days < MIN_DAYS or hours < 1:
            continue
        usual = errors / hours * rule.dedup_minutes / 60.0
        limit = max(rule.threshold, math.ceil(FACTOR * usual))
        event = PantherEvent({"bucket": row.get("bucket"), "requester": row.get("requester"),
                              "errorcode": row.get("errorcode"), "httpstatus": row.get("httpstatus"),
                              "operation": "REST.GET.OBJECT"}, LOG_TYPE_S3)
        key = str(rule.call("dedup", event))
        out[key] = max(out.get(key, 0), limit)  # one group may have several HTTP statuses
    return out


def with_baseline(settings: DetectionSettings, lake_root: str | Path, rules: Iterable[Rule]) -> DetectionSettings:
    """`settings` with AccessError's group thresholds from the lake's baseline table, if any."""
    rule = next((r for r in rules if r.id == RULE_ID), None)
    rows = read_result_table(lake_root, *TABLE) if rule is not None else []
    if not rows:
        return settings
    groups = dict(settings.group_thresholds)
    groups[RULE_ID] = thresholds(rows, rule)  # type: ignore[arg-type]
    return replace(settings, group_thresholds=groups)
