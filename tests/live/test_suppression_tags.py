"""A deployed bucket's own written exceptions (tags) are honoured by the live scan, as template
metadata is at synth time: both say SUPPRESSED, with the reason."""

from __future__ import annotations

import boto3

from policies.config import PostureSettings
from policies.sources.live_scan import LiveScanRequest, run_live_scan
from policies.suppression_tags import TAG_PREFIX, suppression_tags, tag_suppressions

REASON = ("The trail excludes the monitoring's own log buckets on purpose (a loop), and a log target "
          "cannot log to itself; 100% of writes are S3's log delivery.")


def test_reasons_become_valid_tag_values() -> None:
    tags = suppression_tags(["BW.S3.MonitoringCoverage"], REASON + " " + "x" * 300)
    (value,) = tags.values()
    assert len(value) == 256 and "(" not in value and ";" not in value and "%" not in value
    assert list(tags) == [f"{TAG_PREFIX}BW.S3.MonitoringCoverage"]


def test_a_too_short_reason_in_a_tag_suppresses_nothing() -> None:
    assert tag_suppressions({f"{TAG_PREFIX}BW.S3.Logging": "because"}, "arn:aws:s3:::b") == []
    (kept,) = tag_suppressions({f"{TAG_PREFIX}BW.S3.Logging": "log target of this region", "team": "x"},
                               "arn:aws:s3:::b")
    assert (kept.policy, kept.reason, kept.resource) == ("BW.S3.Logging", "log target of this region",
                                                          "arn:aws:s3:::b")


def test_live_scan_reports_tagged_exceptions_as_suppressed(aws_endpoint: str) -> None:
    s3 = boto3.client("s3")
    for name in ("access-logs-target", "plain"):
        s3.create_bucket(Bucket=name)
    tags = suppression_tags(["BW.S3.MonitoringCoverage", "BW.S3.Logging"], REASON)
    s3.put_bucket_tagging(Bucket="access-logs-target",
                          Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    result = run_live_scan(LiveScanRequest(endpoint_url=aws_endpoint, settings=PostureSettings(pack="strict")))
    verdicts = {(f.ref.name, f.policy.id): f for f in result.findings}
    for policy in ("BW.S3.MonitoringCoverage", "BW.S3.Logging"):
        suppressed = verdicts[("access-logs-target", policy)]
        assert (suppressed.status, suppressed.verdict) == ("SUPPRESSED", "FAIL")
        assert suppressed.suppression is not None and suppressed.suppression.reason.startswith("The trail excludes")
        assert verdicts[("plain", policy)].status == "FAIL"  # only the tagged bucket
