"""Where alerts go: the terminal (for people), a JSON lines file, an SNS topic (one message each)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO

from detectors.common.severity import sort_rank

SNS_LIMIT = 256 * 1024


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
            print(f"           {alert['event_count']} event(s), {span}, dedup {alert['dedup']!r}", file=self.stream)
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
    """Publishes newly created alerts; updates to an alert already sent are not re-sent."""

    def __init__(self, topic_arn: str, client: Any = None) -> None:
        import boto3

        self.topic_arn = topic_arn
        self.client = client or boto3.client("sns")

    def emit(self, alerts: Iterable[Mapping[str, Any]]) -> int:
        count = 0
        for alert in alerts:
            if alert.get("status") != "created":
                continue
            self.client.publish(
                TopicArn=self.topic_arn,
                Subject=_subject(alert),
                Message=_fit(alert),
                MessageAttributes={
                    "kind": {"DataType": "String", "StringValue": alert.get("kind", "detection")},
                    "severity": {"DataType": "String", "StringValue": alert["severity"]},
                    "rule_id": {"DataType": "String", "StringValue": alert["rule_id"]},
                },
            )
            count += 1
        return count


def _subject(alert: Mapping[str, Any]) -> str:
    # SNS subjects: ASCII, no newlines, at most 100 characters.
    text = f"[{alert['severity']}] {alert['title']}".encode("ascii", "replace").decode()
    return " ".join(text.split())[:100]


def _fit(alert: Mapping[str, Any]) -> str:
    """The JSON message, dropping samples (then context) if it would exceed SNS's size limit."""
    body = dict(alert)
    text = json.dumps(body, default=str)
    for key in ("samples", "context"):
        if len(text.encode()) <= SNS_LIMIT - 1024:
            break
        body[key] = f"<omitted: message over the SNS size limit; see {key} in the rule-matches lake>"
        text = json.dumps(body, default=str)
    return text
