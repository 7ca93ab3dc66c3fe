"""Turn the story into what AWS would have written: log objects where AWS writes them.

Server access logs go to the regional access-log bucket in the PartitionedPrefix layout
(`<prefix><account>/<region>/<bucket>/YYYY/MM/DD/YYYY-MM-DD-hh-mm-ss-<unique>`, date from event
time); CloudTrail files go to the trail bucket as gzipped `{"Records": [...]}` under
`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`. The attacker's configuration changes are
applied to the endpoint at their place in the timeline.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bucketwatch.demo.clients import Clients
from bucketwatch.demo.story import Change, Story, public_read_policy
from detectors.parsers.s3_access_format import format_access_log_line

ACCESS_LOG_WINDOW = timedelta(minutes=15)  # S3 batches a bucket's records into objects
CLOUDTRAIL_WINDOW = timedelta(minutes=5)  # CloudTrail delivers about every five minutes
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class LogObject:
    """One object as AWS would deliver it."""

    delivered: datetime
    bucket: str
    key: str
    body: bytes
    log_type: str  # AWS.S3ServerAccess | AWS.CloudTrail
    lines: int  # access-log lines or CloudTrail records in it


def _window(when: datetime, size: timedelta) -> datetime:
    seconds = int(size.total_seconds())
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=when.tzinfo)


def access_log_objects(story: Story, rng: random.Random) -> list[LogObject]:
    names = story.names
    batches: dict[tuple[str, datetime], list[tuple[datetime, str]]] = defaultdict(list)
    for entry in story.access_logs:
        batches[(entry["bucket"], _window(entry["time"], ACCESS_LOG_WINDOW))].append(
            (entry["time"], format_access_log_line(entry)))
    for bucket, when, line in story.malformed:
        batches[(bucket, _window(when, ACCESS_LOG_WINDOW))].append((when, line))
    objects = []
    for (bucket, start), lines in sorted(batches.items()):
        lines.sort(key=lambda item: item[0])
        delivered = start + ACCESS_LOG_WINDOW + timedelta(seconds=rng.randrange(60, 600))
        event_day = start.strftime("%Y/%m/%d")
        name = delivered.strftime("%Y-%m-%d-%H-%M-%S-") + "".join(rng.choice("0123456789ABCDEF") for _ in range(16))
        key = (f"{names.access_log_prefix(bucket)}{names.account_id}/{names.region}/{bucket}/"
               f"{event_day}/{name}")
        body = "".join(f"{line}\n" for _, line in lines).encode()
        objects.append(LogObject(delivered, names.access_log_bucket, key, body, "AWS.S3ServerAccess", len(lines)))
    return objects


def cloudtrail_objects(story: Story, rng: random.Random) -> list[LogObject]:
    """A multi-region trail writes one file per region and five minutes, named by the region the
    events happened in."""
    names = story.names
    batches: dict[tuple[datetime, str], list[dict[str, Any]]] = defaultdict(list)
    for record in story.cloudtrail:
        when = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        batches[(_window(when, CLOUDTRAIL_WINDOW), record.get("awsRegion") or names.region)].append(record)
    objects = []
    for (start, region), records in sorted(batches.items()):
        delivered = start + CLOUDTRAIL_WINDOW + timedelta(seconds=rng.randrange(30, 240))
        stamp = delivered.strftime("%Y%m%dT%H%MZ")
        unique = "".join(rng.choice(_ALNUM) for _ in range(16))
        key = (f"AWSLogs/{names.account_id}/CloudTrail/{region}/{start.strftime('%Y/%m/%d')}/"
               f"{names.account_id}_CloudTrail_{region}_{stamp}_{unique}.json.gz")
        # mtime=0: the same story gives byte-identical files.
        body = gzip.compress(json.dumps({"Records": records}, separators=(",", ":")).encode(), mtime=0)
        objects.append(LogObject(delivered, names.trail_bucket, key, body, "AWS.CloudTrail", len(records)))
    return objects


@dataclass(frozen=True)
class Step:
    """Something that happens at one moment: an object delivered or a change applied."""

    at: datetime
    obj: LogObject | None = None
    change: Change | None = None


def timeline(story: Story, seed: int) -> list[Step]:
    """Deliveries and changes in the order they happen."""
    rng = random.Random(seed * 7919 + 1)
    steps = [Step(o.delivered, obj=o) for o in access_log_objects(story, rng) + cloudtrail_objects(story, rng)]
    steps += [Step(c.at, change=c) for c in story.changes]
    return sorted(steps, key=lambda s: (s.at, s.obj.key if s.obj else ""))


def chunks(steps: Sequence[Any], size: timedelta) -> Iterator[list[Any]]:
    """Steps (anything with `.at`) grouped by wall-clock slot: the demo drains the detector queue
    after each slot."""
    if not steps:
        return
    current: list[Any] = []
    slot = _window(steps[0].at, size)
    for step in steps:
        if step.at >= slot + size:
            yield current
            current, slot = [], _window(step.at, size)
        current.append(step)
    yield current


class Deliverer:
    """Writes log objects and applies changes against the endpoint."""

    def __init__(self, clients: Clients) -> None:
        self.c = clients

    def run(self, step: Step) -> None:
        if step.obj is not None:
            self.c.s3.put_object(Bucket=step.obj.bucket, Key=step.obj.key, Body=step.obj.body)
        if step.change is not None:
            self.apply(step.change)

    def apply(self, change: Change) -> None:
        s3 = self.c.s3
        if change.action == "delete_public_access_block":
            s3.delete_public_access_block(Bucket=change.target)
        elif change.action == "public_policy":
            s3.put_bucket_policy(Bucket=change.target, Policy=json.dumps(public_read_policy(change.target)))
        elif change.action == "public_acl":
            s3.put_bucket_acl(Bucket=change.target, ACL="public-read")
        elif change.action == "disable_logging":
            s3.put_bucket_logging(Bucket=change.target, BucketLoggingStatus={})
        elif change.action == "suspend_versioning":
            s3.put_bucket_versioning(Bucket=change.target, VersioningConfiguration={"Status": "Suspended"})
        elif change.action == "stop_trail":
            self.c.cloudtrail.stop_logging(Name=change.target)
        else:
            raise ValueError(f"unknown story change {change.action!r}")
