"""Where `detect` and `schedule run` put their alerts: routed (the config file's `alerts:`
section and rules' destinations()), on the terminal, in `--alerts`, and in destinations' files.
`--min-severity` chooses which of them are shown, written and failed on; the lake keeps the rule
matches of every alert whatever it is."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

from detectors.common.severity import SEVERITIES, at_least, parse_severity
from detectors.common.words import plural
from detectors.engine.routing import RoutedFiles, Routing
from detectors.engine.sinks import JsonLinesSink, TerminalSink


def add_min_severity_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-severity", metavar="SEVERITY",
                        help="show, write, route and fail on only the alerts at or above SEVERITY (info, low, "
                             "medium, high, critical; default: info, every alert); the rule matches of every "
                             "alert are written to the lake whatever it is")


def min_severity(args: argparse.Namespace) -> str:
    value = getattr(args, "min_severity", None)
    return parse_severity(value, "--min-severity") if value else SEVERITIES[0]


def at_or_above(alerts: list[dict[str, Any]], floor: str) -> list[dict[str, Any]]:
    return [alert for alert in alerts if at_least(alert["severity"], floor)]


def alerts_text(alerts: list[dict[str, Any]], raised: int, floor: str, noun: str = "alert") -> str:
    """`3 alerts (1 High, 2 Low)`, plus how many were left out below the floor."""
    counts = Counter(alert["severity"] for alert in alerts)
    by_severity = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts[s])
    text = plural(len(alerts), noun) + (f" ({by_severity})" if by_severity else "")
    hidden = raised - len(alerts)
    return text + (f"; {hidden:,} below {floor} not shown (--min-severity)" if hidden else "")


def emit_alerts(alerts: list[dict[str, Any]], args: argparse.Namespace, routing: Routing, command: str) -> None:
    for alert in alerts:
        routing.annotate(alert)
    if not args.quiet:
        TerminalSink(sys.stdout).emit(alerts)
    if args.alerts:
        JsonLinesSink(args.alerts).emit(alerts)
    RoutedFiles(routing).emit(alerts)
    for line in sorted({_problem(a) for a in alerts if a.get("routing_problems")}):
        print(f"bucketwatch {command}: warning: {line}", file=sys.stderr)


def _problem(alert: Mapping[str, Any]) -> str:
    return f"rule {alert['rule_id']}: {'; '.join(alert['routing_problems'])} (routed by severity instead)"
