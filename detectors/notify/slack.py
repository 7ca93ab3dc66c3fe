"""An alert as a Slack message (incoming-webhook payload: `text` plus Block Kit `blocks`).

Everything in an alert that came from a log (titles, bucket names, keys, sample events) is
attacker-controlled text: `&`, `<` and `>` are escaped so that a key named `<!channel>` cannot
ping anyone or forge a link. Slack's limits are kept (header 150 characters, a section's text
3,000, at most 10 fields of 2,000): long values are cut and say so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
JSON_LIMIT = 2500  # a code block of context or sample, inside one section
MARKS = {"Critical": ":rotating_light:", "High": ":red_circle:", "Medium": ":large_orange_circle:",
         "Low": ":large_yellow_circle:", "Info": ":white_circle:"}


def escape(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    note = f"… ({len(text) - limit} more characters)"
    return text[: max(0, limit - len(note))] + note


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT)}}


def _json_block(label: str, value: Any) -> dict[str, Any]:
    body = cut(json.dumps(value, indent=1, sort_keys=True, default=str), JSON_LIMIT)
    return _section(f"*{label}*\n```{escape(body)}```")


def _span(alert: Mapping[str, Any]) -> str:
    first, last = alert.get("first_seen"), alert.get("last_seen")
    return f"{first}" if first == last else f"{first} → {last}"


def format_alert(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The Slack payload for one alert (a detection, correlation, scheduled or posture alert)."""
    severity = str(alert.get("severity") or "Info")
    mark = MARKS.get(severity, ":white_circle:")
    title = " ".join(str(alert.get("title") or alert.get("rule_id") or "Bucketwatch alert").split())
    name = alert.get("display_name") or alert.get("rule_id") or "Bucketwatch"
    fields = [("Rule", alert.get("rule_id")), ("Severity", severity), ("Seen", _span(alert)),
              ("Events", alert.get("event_count")), ("Kind", alert.get("kind")),
              ("Routed to", ", ".join(alert.get("destinations") or ()) or None)]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(f"{severity}: {name}", HEADER_LIMIT)}},
        _section(f"{mark} *{escape(title)}*"),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": cut(f"*{label}*\n{escape(value)}", FIELD_LIMIT)}
                                       for label, value in fields if value not in (None, "")]},
    ]
    if alert.get("runbook"):
        blocks.append(_section(f"*Runbook*\n{escape(alert['runbook'])}"))
    if alert.get("context"):
        blocks.append(_json_block("Context", alert["context"]))
    samples = alert.get("samples")
    if isinstance(samples, list) and samples:
        more = f" (1 of {len(samples)})" if len(samples) > 1 else ""
        blocks.append(_json_block(f"Sample event{more}", samples[0]))
    footer = [f"alert {alert.get('alert_id')}", f"dedup {alert.get('dedup')}"]
    if alert.get("truncated"):
        footer.append(f"cut to fit: {', '.join(alert['truncated'])}")
    if alert.get("reference"):
        footer.append(str(alert["reference"]))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(escape(" · ".join(footer)), FIELD_LIMIT)}]})
    return {"text": cut(f"{mark} [{severity}] {escape(title)}", SECTION_LIMIT), "blocks": blocks}


def format_text(message: str, subject: str | None = None) -> dict[str, Any]:
    """A topic message that is not an alert (e.g. SNS's subscription notices): shown as text."""
    text = escape(f"{subject}\n{message}" if subject else message)
    return {"text": cut(text, SECTION_LIMIT)}
