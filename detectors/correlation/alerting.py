"""A correlation match as an engine event, and the rule functions the engine calls on it.

A correlation rule alerts through the same engine as every rule (dedup by match key within the
rule's DedupPeriodMinutes, the same stores and sinks). The evaluator describes each match as
one event (`match_event`); this module is the "rule module" of every correlation rule: its
functions read what the event carries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from detectors.correlation.evaluate import CorrelationMatch
from detectors.correlation.spec import CorrelationRule
from detectors.engine.rules import Rule

LOG_TYPE_PREFIX = "Correlation."
MAX_REFERENCES = 10
SAMPLES_PER_STEP = 2  # events behind each step kept in the alert's sample (the lake has them all)


def log_type_of(rule: CorrelationRule) -> str:
    return LOG_TYPE_PREFIX + rule.id


def engine_rule(rule: CorrelationRule) -> Rule:
    """The correlation rule as the engine knows rules (threshold 1; its own log type)."""
    import detectors.correlation.alerting as module

    return Rule(id=rule.id, spec_path=rule.spec_path, module=module, log_types=(log_type_of(rule),),
                severity=rule.severity, dedup_minutes=rule.dedup_minutes, threshold=1, enabled=rule.enabled,
                display_name=rule.display_name, description=rule.description, runbook=rule.runbook,
                reference=rule.reference, tags=rule.tags, reports=rule.reports, create_alert=rule.create_alert)


def match_event(match: CorrelationMatch) -> dict[str, Any]:
    rule = match.rule
    matched = dict(zip(rule.components, match.key, strict=False)) if rule.components else {}
    steps, events = [], []
    for step_match in match.steps:
        step, used = step_match.step, step_match.signals
        entry: dict[str, Any] = {"id": step.id, "rule_id": step.rule_id, "absent": step.absent, "matches": len(used)}
        if used:
            entry.update(first_seen=_iso(used[0].time), last_seen=_iso(used[-1].time),
                         p_row_ids=[s.ref for s in used[:MAX_REFERENCES] if s.ref])
        events += [{"step": step.id, **s.record} for s in _spread(used, SAMPLES_PER_STEP) if s.record is not None]
        steps.append(entry)
    label = ", ".join(match.key) or rule.id
    return {
        "p_log_type": log_type_of(rule),
        "p_event_time": datetime.fromtimestamp(match.last_seen, UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "correlation": {"rule_id": rule.id, "kind": rule.kind, "match": matched, "key": list(match.key),
                        "first_seen": _iso(match.first_seen), "last_seen": _iso(match.last_seen), "steps": steps},
        "title": f"{rule.display_name} [{label}]",
        "dedup": "|".join(match.key) or rule.id,
        "events": events,
    }


def _spread(signals: list[Any], count: int) -> list[Any]:
    """The first and the last of a step's signals (the start and the end of what happened)."""
    return signals if len(signals) <= count else [signals[0], *signals[-(count - 1):]]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


# -- the rule functions ------------------------------------------------------------------------
def rule(event: Any) -> bool:
    return True


def title(event: Any) -> str:
    return str(event.get("title"))


def dedup(event: Any) -> str:
    return str(event.get("dedup"))


def alert_context(event: Any) -> dict[str, Any]:
    return event.to_dict()["correlation"]
