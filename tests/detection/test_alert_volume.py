"""Alert volume on ordinary traffic with no config file: the generated access logs of four buckets
and eight requesters (bench/gen_access_logs.py) raise only Info and Low alerts, one per bucket for
plain HTTP and one a day per bucket and principal for multi-object deletes (issue 15: 150,000 lines
raised 1,616 alerts). docs/detection.md "Alert volume" has the measured counts."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

import pytest

from bucketwatch.cli import main

REPO = Path(__file__).resolve().parents[2]
LINES = 60_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], object]:
    sys.path.insert(0, str(REPO / "bench"))
    import gen_access_logs

    root = tmp_path_factory.mktemp("volume")
    log = root / "logs" / "2020-05-08-00-00-00-0123456789ABCDEF"
    log.parent.mkdir()
    log.write_text("".join(line + "\n" for _, _, line in gen_access_logs.generate(LINES, seed=7)))
    alerts = root / "alerts.jsonl"
    assert main(["detect", str(log.parent), "--no-lake", "-q", "--alerts", str(alerts)]) == 0
    return [json.loads(line) for line in alerts.read_text().splitlines()], gen_access_logs


def _windows(gen: object, minutes: int) -> int:
    """How many dedup periods the generated span (plus a day of time zone offsets) covers."""
    return math.ceil((gen.SPAN_SECONDS + 86_400) / (minutes * 60)) + 1


def test_ordinary_traffic_raises_nothing_above_low(generated):
    alerts, _ = generated
    assert alerts and {a["severity"] for a in alerts} <= {"Info", "Low"}


def test_plain_http_alerts_once_per_bucket_per_dedup_period(generated):
    alerts, gen = generated
    insecure = [a for a in alerts if a["rule_id"] == "AWS.S3.ServerAccess.Insecure"]
    per_bucket = Counter(a["dedup"] for a in insecure)
    assert set(per_bucket) == set(gen.BUCKETS)  # every bucket takes some plain HTTP; keyed by bucket alone
    assert max(per_bucket.values()) <= _windows(gen, 720)
    # Each alert still counts every request of its window, from several principals.
    assert sum(a["event_count"] for a in insecure) > len(insecure)


def test_multi_object_deletes_alert_once_a_day_per_bucket_and_principal(generated):
    alerts, gen = generated
    deletes = Counter(a["dedup"] for a in alerts if a["rule_id"] == "AWS.S3.DeleteObjects")
    assert len(deletes) > len(gen.BUCKETS)  # still one group per bucket and principal
    assert max(deletes.values()) <= _windows(gen, 1440)
