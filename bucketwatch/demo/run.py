"""`bucketwatch demo`, end to end: local AWS, a provisioned account, the story, detection,
posture, the tutorial's query, and the report.

Every stage talks to a moto server on 127.0.0.1 over HTTP through boto3, as it would to AWS.
The server is stopped however the run ends (normal exit, error, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import yaml

from bucketwatch.demo.account import BACKUPS, CUSTOMER_DATA, Provisioned, Provisioner
from bucketwatch.demo.clients import Clients
from bucketwatch.demo.delivery import Deliverer, LogObject, chunks, timeline
from bucketwatch.demo.detection import (
    DetectorDriver,
    handler_environment,
    local_aws,
    mirror_lake,
    read_alerts,
)
from bucketwatch.demo.html import render_html
from bucketwatch.demo.posture import demo_posture_config, posture_scan
from bucketwatch.demo.report import Counts, DemoResult, render_text
from bucketwatch.demo.story import END as STORY_END
from bucketwatch.demo.story import START as STORY_START
from bucketwatch.demo.story import Story, build_story
from bucketwatch.localaws import MotoServer
from bucketwatch.progress import Progress
from detectors.common.config_file import read_config_file
from detectors.common.errors import UserError

# The tutorial's query (DESIGN.md), verbatim.
TUTORIAL_SQL = (
    "SELECT DISTINCT requester, httpstatus, errorcode, COUNT(*) as err_count FROM panther_logs.aws_s3serveraccess "
    "WHERE errorcode IS NOT NULL AND month=5 AND day>=10 AND httpstatus IN (400, 403, 405) "
    "GROUP BY requester, httpstatus, errorcode ORDER BY err_count DESC"
)
DEFAULT_SEED = 7
DRAIN_EVERY = timedelta(minutes=30)  # story time between detector queue drains


@dataclass
class DemoOptions:
    out_dir: Path
    seed: int = DEFAULT_SEED
    stream: TextIO | None = None  # where stage messages go (stderr by default)
    progress: bool | None = None  # None: only on a terminal
    quiet: bool = False  # no stage messages
    organization: bool = False  # a central security account and three members (org_run.py)


class Stages:
    """Prints one line per stage on the message stream, and times the run."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        if self.enabled:
            self.stream.write(f"[{time.monotonic() - self.started:5.1f}s] {text}\n")
            self.stream.flush()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the moto server is stopped by the usual `finally`."""
    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(options: DemoOptions) -> DemoResult:
    stream = options.stream or sys.stderr
    show = stream.isatty() if options.progress is None else options.progress
    stages = Stages(stream, enabled=not options.quiet)
    out_dir = prepare_out_dir(options.out_dir.resolve())
    run, html, text = _run, render_html, render_text
    if options.organization:
        from bucketwatch.demo.org_report import render_org_html, render_org_text
        from bucketwatch.demo.org_run import run_organization

        run, html, text = run_organization, render_org_html, render_org_text
    with sigterm_as_interrupt(), MotoServer() as server, local_aws(server.endpoint_url):
        stages.say(f"local AWS endpoint (moto) on {server.endpoint_url}")
        result = run(server, options, out_dir, stages, show)
    result.seconds = time.monotonic() - stages.started
    result.html_path = out_dir / "report.html"
    result.html_path.write_text(html(result), encoding="utf-8")
    (out_dir / "report.txt").write_text(text(result) + "\n", encoding="utf-8")
    return result


MARKER = ".bucketwatch-demo"


def prepare_out_dir(out_dir: Path) -> Path:
    """An empty folder, or one a previous demo wrote (marked): its old lake is cleared, so the
    new run's counts are its own. Anything else is refused rather than overwritten."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} exists and is not a folder; pass another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise UserError(f"--out {out_dir} holds files the demo did not write; pass a new or empty folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("written by `bucketwatch demo`; the demo may replace this folder's contents\n",
                                  encoding="utf-8")
    shutil.rmtree(out_dir / "lake", ignore_errors=True)
    return out_dir


def _run(server: MotoServer, options: DemoOptions, out_dir: Path, stages: Stages, show: bool) -> DemoResult:
    clients = Clients(server.endpoint_url)
    result = DemoResult(endpoint=server.endpoint_url, lake_dir=out_dir / "lake")
    provisioner = Provisioner(clients)
    provisioned = provisioner.run()
    stages.say(f"provisioned {len(provisioned.names.app_buckets)} application buckets, the access-log, trail and "
               "processed buckets, topics, queues and the dedup table")
    story = build_story(options.seed, provisioned.names)
    describe_story(result, story)
    config_path = write_config(story, out_dir)
    with handler_environment(provisioned, config_path):
        deliver_and_detect(clients, provisioned, story, options.seed, result.counts, stages, show)
    collect_detections(clients, provisioned, result, stages)
    provisioner.harden_monitoring_buckets()
    result.posture = posture_scan(server.endpoint_url, read_config_file(config_path)["posture"])
    stages.say(f"posture scan: {len(result.posture)} verdicts, {len(result.posture_failures)} failures")
    result.query_sql = TUTORIAL_SQL
    result.query_columns, result.query_rows = run_query(result.lake_dir, TUTORIAL_SQL)
    for name, data in (("alerts.json", result.alerts), ("posture.json", result.posture)):
        (out_dir / name).write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return result


def describe_story(result: DemoResult, story: Story) -> None:
    result.story_changes = [f"{c.at:%H:%M} {c.target}: {c.description}" for c in story.changes]
    result.story_markers = [(c.at, f"{c.target}: {c.description}") for c in story.changes]
    result.story_window = (STORY_START, STORY_END)


def collect_detections(clients: Clients, provisioned: Provisioned, result: DemoResult, stages: Stages) -> None:
    """Alerts from the alerts queue; the processed bucket mirrored to the local lake; counts."""
    result.alerts = read_alerts(clients, provisioned)
    stages.say(f"{len(result.alerts)} alerts read back from the alerts topic's queue")
    mirror_lake(clients, provisioned.names.processed_bucket, result.lake_dir)
    result.counts.records, result.counts.quarantined = lake_counts(result.lake_dir)
    complete_alerts(result.alerts, final_event_counts(result.lake_dir))


def complete_alerts(alerts: list[dict[str, Any]], totals: dict[str, AlertTotals]) -> None:
    """Each alert's event count and last event time as of the end of the story (see
    `final_event_counts`), and the account and region its events came from (the rows'
    p_account_id / p_region); the count at publication is kept as `published_event_count`."""
    for alert in alerts:
        if str(alert.get("alert_id")) not in totals:
            continue
        found = totals[str(alert["alert_id"])]
        alert["published_event_count"] = alert.get("event_count")
        alert["event_count"] = found.count
        last = found.last_seen
        alert["last_seen"] = last.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(last, "strftime") else last
        alert["account_id"] = ", ".join(found.accounts) or None
        alert["region"] = ", ".join(found.regions) or None


def deliver_and_detect(clients: Clients, provisioned: Provisioned, story: Story, seed: int, counts: Counts,
                       stages: Stages, show: bool) -> None:
    steps = timeline(story, seed)
    tally(counts, [s.obj for s in steps if s.obj is not None])
    stages.say(f"story: {counts.objects} log objects ({counts.access_log_lines:,} access-log lines, "
               f"{counts.cloudtrail_records:,} CloudTrail records) and {len(story.changes)} attacker changes; "
               "the detector handler runs on every notification")
    driver = DetectorDriver(clients, provisioned)
    deliver_in_slots(steps, Deliverer(clients).run, driver, show)
    extra = driver.run.messages - counts.objects  # S3 sends a test event when notifications are set up
    stages.say(f"detector handler: {driver.run.invocations} invocations for {driver.run.messages} notifications "
               f"({counts.objects} log objects, {extra} S3 test events)")


def tally(counts: Counts, objects: list[LogObject]) -> None:
    """What the story writes: objects, access-log lines, CloudTrail records."""
    counts.objects = len(objects)
    counts.access_log_lines = sum(o.lines for o in objects if o.log_type == "AWS.S3ServerAccess")
    counts.cloudtrail_records = sum(o.lines for o in objects if o.log_type == "AWS.CloudTrail")


def deliver_in_slots(steps: Sequence[Any], deliver: Callable[[Any], None], driver: DetectorDriver,
                     show: bool) -> None:
    """Deliver the steps slot by slot of story time (DRAIN_EVERY), draining the detector queue
    after each slot as Lambda's poller would; `steps` have `.at` (delivery.Step or alike)."""
    progress = Progress("detector notifications", "messages", enabled=show)
    for group in chunks(steps, DRAIN_EVERY):
        for step in group:
            deliver(step)
        driver.drain(on_batch=_advance(progress, driver))
    progress.close()


def _advance(progress: Progress, driver: DetectorDriver) -> Callable[[int], None]:
    def on_batch(n: int) -> None:
        progress.update(n, invocations=driver.run.invocations)
    return on_batch


def detection_config(story: Story) -> dict[str, Any]:
    """The demo company's detection settings: who may read the customer data, from where."""
    account = story.names.account_id
    return {"detections": {
        "known_good_access": [{
            "bucket": CUSTOMER_DATA,
            "principals": [f"arn:aws:sts::{account}:assumed-role/customer-api/*"],
        }],
        "ip_allowlist": [{
            "cidrs": ["10.0.0.0/8"],
            "buckets": [CUSTOMER_DATA, BACKUPS],
        }],
    }}


def write_config(story: Story, out_dir: Path) -> Path:
    """The demo's config file: detection settings and posture suppressions, one file as a user keeps it."""
    path = out_dir / "bucketwatch.yml"
    config = {**detection_config(story), **demo_posture_config(story.names)}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_query(lake_dir: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` on the local lake with DuckDB, as `bucketwatch query --lake` does."""
    from detectors.lake import open_lake

    con = open_lake(lake_dir)
    try:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()
    finally:
        con.close()


def lake_counts(lake_dir: Path) -> tuple[int, int]:
    """(records in panther_logs, quarantined lines), counted from the lake itself."""
    _, rows = run_query(lake_dir, "SELECT (SELECT COUNT(*) FROM panther_logs.aws_s3serveraccess) + "
                                  "(SELECT COUNT(*) FROM panther_logs.aws_cloudtrail)")
    quarantined = sum(1 for path in sorted((lake_dir / "_quarantine").glob("*.jsonl"))
                      for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return int(rows[0][0]), quarantined


@dataclass(frozen=True)
class AlertTotals:
    count: int
    last_seen: Any
    accounts: tuple[str, ...]  # p_account_id of the alert's events (usually one)
    regions: tuple[str, ...]


def final_event_counts(lake_dir: Path) -> dict[str, AlertTotals]:
    """Matched events, last event time, accounts and regions per alert id, from the rule-match tables.

    The alerts topic carries each alert once, when it is created (at its threshold); the lake's
    rule matches hold every event that matched afterwards too.
    """
    matches = " UNION ALL ".join(f"SELECT p_alert_id, p_event_time, p_account_id, p_region "
                                 f"FROM panther_rule_matches.{table}"
                                 for table in ("aws_s3serveraccess", "aws_cloudtrail"))
    _, rows = run_query(lake_dir, "SELECT p_alert_id, COUNT(*), MAX(p_event_time), "
                                  "list_sort(list_distinct(list(p_account_id))), list_sort(list_distinct(list(p_region))) "
                                  f"FROM ({matches}) GROUP BY p_alert_id")
    return {str(alert_id): AlertTotals(int(n), last, tuple(accounts or ()), tuple(regions or ()))
            for alert_id, n, last, accounts, regions in rows}
