"""The checkov adapter: Bucketwatch's bucket policies as checkov external checks.

`checkov -d cdk.out --external-checks-dir $(bucketwatch checkov-checks-dir)` runs, as checks
CKV_BW_*, every policy that needs only a bucket's own properties, through the same policy
functions and the same intrinsic resolution as `bucketwatch check`. Cross-resource policies
(bucket policy, trails, log target, account settings) need the whole assembly: they run only in
Bucketwatch's own runner. This module stays import-light; the check class is in `adapter`.
"""

from __future__ import annotations

from pathlib import Path

CHECKS_DIR = Path(__file__).parent / "external"


def checks_dir() -> Path:
    """The directory to pass to checkov's --external-checks-dir."""
    return CHECKS_DIR


def checkov_id(policy_id: str) -> str:
    """BW.S3.Encryption → CKV_BW_S3_ENCRYPTION."""
    return "CKV_" + policy_id.replace(".", "_").upper()
