"""The demo story as data: deterministic, laid out where AWS writes logs, and parseable."""

from __future__ import annotations

import gzip
import io
import json
import re
from datetime import UTC, datetime

from bucketwatch.demo.account import BACKUPS, CUSTOMER_DATA, SHARED_REPORTS, DemoNames
from bucketwatch.demo.delivery import timeline
from bucketwatch.demo.story import ATTACKER_IP, STORY_DAY, build_story
from detectors.pipeline import ParseStats, parse_stream
from detectors.quarantine import MemoryQuarantine

NAMES = DemoNames()
PARTITIONED_KEY = re.compile(
    r"^(?P<prefix>[a-z0-9-]+/)(?P<account>\d{12})/(?P<region>[a-z0-9-]+)/(?P<bucket>[a-z0-9.-]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P=y)-(?P=m)-(?P=d)-\d{2}-\d{2}-\d{2}-[0-9A-F]{16}$")
CLOUDTRAIL_KEY = re.compile(
    r"^AWSLogs/(?P<account>\d{12})/CloudTrail/(?P<region>[a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
    r"(?P=account)_CloudTrail_(?P=region)_\d{8}T\d{4}Z_[0-9A-Za-z]{16}\.json\.gz$")


def _objects(seed: int = 7):
    return [s.obj for s in timeline(build_story(seed), seed) if s.obj is not None]


def test_same_seed_gives_byte_identical_objects_and_another_seed_does_not() -> None:
    first = [(o.bucket, o.key, o.body) for o in _objects(7)]
    again = [(o.bucket, o.key, o.body) for o in _objects(7)]
    other = [(o.bucket, o.key, o.body) for o in _objects(8)]
    assert first == again
    assert first != other


def test_access_logs_use_the_partitioned_prefix_layout_and_cloudtrail_its_own() -> None:
    objects = _objects()
    access = [o for o in objects if o.log_type == "AWS.S3ServerAccess"]
    trail = [o for o in objects if o.log_type == "AWS.CloudTrail"]
    assert access and trail
    for obj in access:
        match = PARTITIONED_KEY.match(obj.key)
        assert match, obj.key
        assert obj.bucket == NAMES.access_log_bucket
        assert match["prefix"] == f"{match['bucket']}/"  # per-bucket target prefix
        assert (match["account"], match["region"]) == (NAMES.account_id, NAMES.region)
        # The date partition is the event date of the lines inside.
        assert f"[{int(match['d']):02d}/May/{match['y']}:" in obj.body.decode()
    for obj in trail:
        assert CLOUDTRAIL_KEY.match(obj.key), obj.key
        assert obj.bucket == NAMES.trail_bucket
        records = json.loads(gzip.decompress(obj.body))["Records"]
        assert len(records) == obj.lines > 0
        assert all(r["recipientAccountId"] == NAMES.account_id for r in records)


def test_every_line_parses_or_is_quarantined_and_only_the_two_foreign_lines_are() -> None:
    objects = _objects()
    stats, quarantine = ParseStats(), MemoryQuarantine()
    for obj in objects:
        for _ in parse_stream(io.BytesIO(obj.body), f"s3://{obj.bucket}/{obj.key}", quarantine=quarantine,
                              stats=stats):
            pass
    written = sum(o.lines for o in objects)
    assert stats.lines_in == written
    assert stats.records_out + stats.quarantined == written
    assert stats.quarantined == 2
    raws = [e.raw for e in quarantine.entries]
    assert raws[0].startswith("h2 2026-05-12T09:44:01")  # a load balancer line
    assert raws[1].endswith("REST.GET.OBJECT")  # cut off after the operation


def test_the_attack_is_in_the_logs_and_what_aws_would_not_log_is_not() -> None:
    story = build_story(7)
    logging_off = next(c.at for c in story.changes if c.action == "disable_logging")
    trail_off = next(c.at for c in story.changes if c.action == "stop_trail")
    assert [c.action for c in story.changes] == [
        "delete_public_access_block", "public_policy", "public_acl", "disable_logging", "suspend_versioning",
        "stop_trail"]
    # No access logs for acme-backups once its logging is off; nothing from CloudTrail once stopped.
    assert not [e for e in story.access_logs if e["bucket"] == BACKUPS and e["time"] >= logging_off]
    last_trail = max(datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                     for r in story.cloudtrail)
    assert last_trail == trail_off
    assert story.cloudtrail[-1]["eventName"] == "StopLogging"
    # Enumeration: anonymous 403s from the outside address on four buckets.
    probes = [e for e in story.access_logs if e["remoteip"] == ATTACKER_IP and e["httpstatus"] == 403]
    assert {e["bucket"] for e in probes} == {CUSTOMER_DATA, SHARED_REPORTS, "acme-analytics-exports", BACKUPS}
    assert all(e["requester"] is None for e in probes)
    # Plaintext reads: no TLS at all.
    plain = [e for e in story.access_logs if e["tlsVersion"] is None]
    assert plain and {e["bucket"] for e in plain} == {SHARED_REPORTS}
    assert all(e["ciphersuite"] is None and e["httpstatus"] == 200 for e in plain)
    # SSE-C rewrites carry the customer-key algorithm header.
    ssec = [r for r in story.cloudtrail if r["eventName"] == "CopyObject"]
    assert len(ssec) == 120
    assert all(r["requestParameters"]["x-amz-server-side-encryption-customer-algorithm"] == "AES256" for r in ssec)
    assert all(e["time"].date() == STORY_DAY.date() for e in story.access_logs)
