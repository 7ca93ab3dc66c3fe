"""Where alerts go: named destinations, routing by severity, and rules' `destinations()`.

The `alerts:` section of the config file:

    alerts:
      destinations:
        - name: pager                 # what rules' destinations() return; in AWS one SNS topic each
          min_severity: High          # receives every alert at or above this severity
        - name: secops
          min_severity: Medium
          file: .bucketwatch/alerts-secops.jsonl   # locally (detect, schedule run): JSON lines here
        - name: dlp-team              # no min_severity: only alerts a rule sends it by name

An alert goes to the destinations its rule's `destinations(event)` names (Panther's override), or,
when the rule names none, to every destination whose `min_severity` it reaches. A rule returning
["SKIP"] sends it to no destination. Names a rule returns that are not configured are reported
with the alert (`routing_problems`) and it is routed by severity instead: an alert is never lost
to a typo. Whatever the routing, every alert still goes to the main alerts topic (AWS), the
terminal and `--alerts` (locally): destinations are additional.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.common import validate
from detectors.common.errors import UserError
from detectors.common.severity import at_least, parse_severity

SECTION = "alerts"
SKIP = "SKIP"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
TOPICS_VARIABLE = "BUCKETWATCH_ALERT_TOPICS"  # set by infra: JSON {destination name: SNS topic ARN}


@dataclass(frozen=True)
class Destination:
    name: str
    min_severity: str | None = None  # None: only when a rule names it
    file: Path | None = None  # local runs append the alerts routed here as JSON lines


@dataclass(frozen=True)
class Routing:
    destinations: tuple[Destination, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.destinations)

    def route(self, severity: str, requested: Sequence[str] | None) -> tuple[list[str], list[str]]:
        """(destination names, problems) for an alert of `severity` whose rule asked for `requested`."""
        problems: list[str] = []
        if requested:
            if SKIP in requested:
                return [], []
            known = [name for name in dict.fromkeys(requested) if name in self.names]
            unknown = [name for name in requested if name not in self.names]
            if unknown:
                problems.append(f"the rule named destination(s) that are not configured: {', '.join(unknown)}")
            if known:
                return known, problems
        by_severity = [d.name for d in self.destinations if d.min_severity and at_least(severity, d.min_severity)]
        return by_severity, problems

    def annotate(self, alert: dict[str, Any]) -> dict[str, Any]:
        """The alert with `destinations` (and `routing_problems` when there are some) set."""
        names, problems = self.route(alert["severity"], alert.get("rule_destinations"))
        alert["destinations"] = names
        if problems:
            alert["routing_problems"] = problems
        return alert

    def files(self) -> dict[str, Path]:
        return {d.name: d.file for d in self.destinations if d.file is not None}


def parse_alerts(value: Mapping[str, Any] | None, where: str = SECTION) -> Routing:
    """The validated `alerts:` section (None or {} gives no destinations)."""
    values = validate.section(value, ("destinations",), where)
    entries = validate.optional(values, "destinations", _destinations, where, [])
    return Routing(tuple(entries))


def _destinations(value: Any, where: str) -> list[Destination]:
    entries = validate.listed(value, where, _destination)
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry.name in seen:
            raise validate.fail(f"{where}[{index}].name", f"{entry.name!r} is listed twice (also at [{seen[entry.name]}])")
        seen[entry.name] = index
    return entries


def _destination(value: Any, where: str) -> Destination:
    values = validate.section(value, ("name", "min_severity", "file"), where)
    name = validate.string(values.get("name"), f"{where}.name")
    if not NAME.match(name) or name == SKIP.lower():
        raise validate.fail(f"{where}.name", f"expected 1-40 lower-case letters, digits and hyphens (it names an "
                                             f"SNS topic), not 'skip', got {name!r}")
    severity = values.get("min_severity")
    return Destination(
        name=name,
        min_severity=None if severity is None else parse_severity(severity, f"{where}.min_severity"),
        file=validate.optional(values, "file", lambda v, w: Path(validate.string(v, w)), where, None),
    )


def load_routing(path: str | Path | None) -> Routing:
    from detectors.common.config_file import load_config

    return load_config(path).alerts


def topics_from_environment() -> dict[str, str]:
    """BUCKETWATCH_ALERT_TOPICS: the SNS topic of each destination, as the deployed stack made them."""
    text = os.environ.get(TOPICS_VARIABLE)
    if not text:
        return {}
    try:
        topics = json.loads(text)
    except ValueError:
        raise UserError(f"{TOPICS_VARIABLE}: expected a JSON object of destination name -> topic ARN") from None
    if not isinstance(topics, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in topics.items()):
        raise UserError(f"{TOPICS_VARIABLE}: expected a JSON object of destination name -> topic ARN")
    return topics


@dataclass
class RoutedFiles:
    """Local runs: append each alert to the `file:` of every destination it is routed to."""

    routing: Routing
    written: dict[str, int] = field(default_factory=dict)

    def emit(self, alerts: Sequence[Mapping[str, Any]]) -> int:
        from detectors.engine.sinks import JsonLinesSink

        count = 0
        for name, path in self.routing.files().items():
            routed = [a for a in alerts if name in (a.get("destinations") or ())]
            if routed:
                self.written[name] = JsonLinesSink(path).emit(routed)
                count += len(routed)
        return count


def alert_publisher(sink: Any, routing: Routing) -> Any:
    """`on_created(rule, state)` for an Engine: the new alert, routed, to `sink` (SNS in the Lambdas)."""
    from detectors.engine.evaluate import alert_message

    def publish(rule: Any, state: Any) -> int:
        return sink.emit([routing.annotate(alert_message(rule, state, created=True))])

    return publish
