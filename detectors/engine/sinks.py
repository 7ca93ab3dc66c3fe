"""Where alerts go: the terminal (for people), a JSON lines file, SNS topics (one message each:
the alerts topic, and the topic of every destination the alert is routed to)."""

from __future__ import annotations

import copy
import json
import logging
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO

from detectors.common.severity import sort_rank

LOG = logging.getLogger("bucketwatch.sinks")
SNS_LIMIT = 256 * 1024  # bytes of message, subject and attributes together
SNS_BUDGET = SNS_LIMIT - 4 * 1024  # room for the subject and the attributes
SAMPLE_TEXT_LIMIT = 2048  # characters a sample's value keeps when samples must shrink


class Sink(Protocol):
    def emit(self, alerts: Iterable[Mapping[str, Any]]) -> int:
        """Send alerts; returns how many were sent."""


def by_severity(alerts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(alerts, key=lambda a: (sort_rank(a["severity"]), a["rule_id"], a["first_seen"] or ""))


class TerminalSink:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def emit(self, alerts: Iterable[Mapping[str, Any]]) -> int:
        count = 0
        for alert in by_severity(alerts):
            count += 1
            # One line per alert whatever the log put in the title (no spoofed extra lines).
            title = " ".join(str(alert["title"]).split())
            print(f"[{alert['severity'].upper():8}] {alert['rule_id']}: {title}", file=self.stream)
            span = alert["first_seen"] if alert["first_seen"] == alert["last_seen"] \
                else f"{alert['first_seen']} .. {alert['last_seen']}"
            routed = f", to {', '.join(alert['destinations'])}" if alert.get("destinations") else ""
            print(f"           {alert['event_count']} event(s), {span}, dedup {alert['dedup']!r}{routed}",
                  file=self.stream)
        return count


class JsonLinesSink:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def emit(self, alerts: Iterable[Mapping[str, Any]]) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        with self.path.open("a", encoding="utf-8") as out:
            for alert in alerts:
                out.write(json.dumps(alert, default=str, sort_keys=True) + "\n")
                count += 1
        return count


class SNSSink:
    """Publishes newly created alerts to the alerts topic, and to the topic of each destination
    the alert is routed to (`alert["destinations"]`, see detectors.engine.routing); updates to an
    alert already sent are not re-sent. A destination without a topic is logged: the alert is
    on the alerts topic anyway."""

    def __init__(self, topic_arn: str, client: Any = None, destination_topics: Mapping[str, str] | None = None) -> None:
        import boto3

        self.topic_arn = topic_arn
        self.client = client or boto3.client("sns")
        self.destination_topics = dict(destination_topics or {})

    def emit(self, alerts: Iterable[Mapping[str, Any]]) -> int:
        count = 0
        for alert in alerts:
            if alert.get("status") != "created":
                continue
            message = {"Subject": _subject(alert), "Message": fit(alert), "MessageAttributes": {
                "kind": {"DataType": "String", "StringValue": alert.get("kind", "detection")},
                "severity": {"DataType": "String", "StringValue": alert["severity"]},
                "rule_id": {"DataType": "String", "StringValue": alert["rule_id"]},
            }}
            self.client.publish(TopicArn=self.topic_arn, **message)
            for name in alert.get("destinations") or ():
                topic = self.destination_topics.get(name)
                if topic is None:
                    LOG.warning("alert %s is routed to destination %r, which has no topic", alert.get("alert_id"), name)
                    continue
                self.client.publish(TopicArn=topic, **message)
            count += 1
        return count


def _subject(alert: Mapping[str, Any]) -> str:
    # SNS subjects: ASCII, no newlines, at most 100 characters.
    text = f"[{alert['severity']}] {alert['title']}".encode("ascii", "replace").decode()
    return " ".join(text.split())[:100]


def fit(alert: Mapping[str, Any], budget: int = SNS_BUDGET) -> str:
    """The alert as JSON within `budget` bytes; the alert itself is always sent. Samples shrink
    first (fewer of them, down to one; then their long values cut), then the context's long
    values, then the description, runbook and title; `truncated` names what was cut. The
    rule-matches lake keeps the whole events."""
    body = copy.deepcopy(dict(alert))
    cut: list[str] = []

    def over() -> bool:
        return len(_dumps({**body, "truncated": cut} if cut else body).encode()) > budget

    samples = body.get("samples")
    while over() and isinstance(samples, list) and len(samples) > 1:
        samples.pop()
        _mark(cut, "samples")
    for key in ("samples", "context", "description", "runbook", "title"):
        limit = SAMPLE_TEXT_LIMIT
        while over() and key in body and limit >= 16:
            shorter = _shorten(body[key], limit)
            if shorter != body[key]:
                body[key] = shorter
                _mark(cut, key)
            limit //= 4
    for key, empty in (("samples", []), ("context", {"omitted": "too large for one message"})):
        if over() and body.get(key) not in (None, empty):  # thousands of small values: the lake has them
            body[key] = empty
            _mark(cut, key)
    if cut:
        body["truncated"] = cut
    return _dumps(body)


def _mark(cut: list[str], key: str) -> None:
    if key not in cut:
        cut.append(key)


def _dumps(body: Mapping[str, Any]) -> str:
    return json.dumps(body, default=str)


def _shorten(value: Any, limit: int) -> Any:
    """`value` with every string longer than `limit` characters cut (nested values too)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"... <{len(value) - limit} more characters>"
    if isinstance(value, Mapping):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_shorten(v, limit) for v in value]
    return value
