"""The live posture scan of the demo account: the same scan as `bucketwatch scan`."""

from __future__ import annotations

from typing import Any

from bucketwatch.demo.account import BACKUPS, DemoNames


def demo_posture_config(names: DemoNames) -> dict[str, Any]:
    """The strict pack (every policy: the story needs Object Lock on the backups), and the team's
    written exceptions; they show up as SUPPRESSED. The monitoring's own buckets carry theirs as
    tags, as the deployed stack does (bucketwatch/demo/account.py)."""
    return {"posture": {"pack": "strict", "suppressions": [
        {"policy": "BW.S3.MFADelete", "resource": "arn:aws:s3:::*",
         "reason": "MFA delete needs the root user's MFA device for every change; versioning and "
                   "lifecycle are the accepted control"},
        *({"policy": "BW.S3.ObjectLock", "resource": f"arn:aws:s3:::{bucket}",
           "reason": "Object Lock is required for backup buckets only"}
          for bucket in names.app_buckets if bucket != BACKUPS),
    ]}}


def posture_scan(endpoint_url: str, section: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every verdict (all statuses) of the built-in policies on the account behind `endpoint_url`.

    Credentials come from the environment, which the demo points at the local endpoint.
    """
    from policies.config import parse_posture
    from policies.sources.live_scan import LiveScanRequest, run_live_scan

    request = LiveScanRequest(endpoint_url=endpoint_url, settings=parse_posture(section))
    return [finding.to_dict() for finding in run_live_scan(request).findings]
