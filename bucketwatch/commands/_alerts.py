"""Where `detect` and `schedule run` put their alerts: routed (the config file's `alerts:`
section and rules' destinations()), on the terminal, in `--alerts`, and in destinations' files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from detectors.engine.routing import RoutedFiles, Routing
from detectors.engine.sinks import JsonLinesSink, TerminalSink


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
