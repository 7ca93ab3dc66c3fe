"""The live posture scan of the demo account: the live source and the runner, as `scan` uses them."""

from __future__ import annotations

from typing import Any

import boto3

from bucketwatch.demo.account import BACKUPS
from bucketwatch.localaws import LOCAL_AWS_ENV


def demo_posture_config(names: Any) -> dict[str, Any]:
    """Written exceptions for Bucketwatch's own buckets, as a team would acknowledge them."""
    log_bucket = f"arn:aws:s3:::{names.access_log_bucket}"
    return {"posture": {"suppressions": [
        {"policy": "BW.S3.Logging", "resource": log_bucket,
         "reason": "the access-log bucket cannot log to itself (it would log its own log deliveries)"},
        {"policy": "BW.S3.EncryptionKMS", "resource": log_bucket,
         "reason": "S3 server access log delivery supports only SSE-S3 on the target bucket"},
        {"policy": "BW.S3.MFADelete", "resource": "arn:aws:s3:::*",
         "reason": "MFA delete needs the root user's MFA device for every change; versioning and "
                   "lifecycle are the accepted control"},
        *({"policy": "BW.S3.ObjectLock", "resource": f"arn:aws:s3:::{bucket}",
           "reason": "Object Lock is required for backup buckets only"}
          for bucket in (*names.app_buckets, names.access_log_bucket, names.trail_bucket, names.processed_bucket)
          if bucket != BACKUPS),
    ]}}


def posture_scan(endpoint_url: str, section: dict[str, Any] | None, region: str) -> list[dict[str, Any]]:
    """Every verdict (all statuses) of the built-in policies on the account behind `endpoint_url`."""
    from policies.config import parse_posture
    from policies.registry import load_policies
    from policies.runner import ResourceRef, Subject, evaluate
    from policies.sources.live import collect
    from policies.sources.live_clients import Account

    settings = parse_posture(section)
    session = boto3.Session(aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=LOCAL_AWS_ENV["AWS_SESSION_TOKEN"], region_name=region)
    resources = collect([Account(session, "demo account")], endpoint_url=endpoint_url)
    subjects = [Subject(r, ResourceRef(id=r.get("Arn") or r["Name"], source="live", name=r.get("Name"),
                                       arn=r.get("Arn"), region=r.get("Region"), account=r.get("AccountId")))
                for r in resources]
    policies = load_policies(settings.policy_dirs)
    return [f.to_dict() for f in evaluate(policies, subjects, settings)]
