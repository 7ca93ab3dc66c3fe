"""The normalized resources policies judge, and how a source says "I could not tell".

A bucket is a plain dict in Panther's `AWS.S3.Bucket` shape (see the conformance pack's policy
tests), so Panther policy tests run unchanged. Bucketwatch adds a few fields Panther lacks and
two bookkeeping maps every source fills:

- ``Unknown``: ``{field: reason}`` for fields the source could not determine (an API call was
  denied, an intrinsic could not be resolved). A policy that reads such a field is UNKNOWN.
- ``NotApplicable``: ``{field: reason}`` for settings the source cannot express at all (MFA
  delete in CloudFormation). A policy that reads such a field is NOT_APPLICABLE.

- ``Partial``: ``{field: reason}`` for fields present with some parts undetermined (a bucket
  policy with one statement naming a deploy-time parameter). The undetermined parts are JSON
  objects ``{"bucketwatch:unresolved": reason}``; built-in policies read them through
  `policies.helpers` and decide when those parts do not matter. Other policies are UNKNOWN.

A field that is present with ``None`` means "determined: not configured" — never "unknown".
"""

from __future__ import annotations

from typing import Any

BUCKET_RESOURCE_TYPE = "AWS.S3.Bucket"
TRAIL_RESOURCE_TYPE = "AWS.CloudTrail"
# A bucket policy whose bucket is not among the resources judged (at synth time: a bucket defined
# outside the checked templates). Only policies about the bucket policy itself apply to it.
BUCKET_POLICY_RESOURCE_TYPE = "AWS.S3.BucketPolicy"
# One per scanned account, for settings that belong to the account rather than to a bucket, so
# an account-wide problem is one finding, not one per bucket.
ACCOUNT_RESOURCE_TYPE = "AWS.Account"

UNKNOWN = "Unknown"
NOT_APPLICABLE = "NotApplicable"
PARTIAL = "Partial"
UNDETERMINED_KEY = "bucketwatch:unresolved"

# Panther's AWS.S3.Bucket fields, and the live API call that fills each one.
BUCKET_FIELDS: dict[str, str] = {
    "Name": "ListBuckets",
    "Arn": "ListBuckets",
    "AccountId": "ListBuckets",
    "CreationDate": "ListBuckets",
    "Owner": "GetBucketAcl",
    "Region": "GetBucketLocation",
    "Location": "GetBucketLocation",
    "EncryptionRules": "GetBucketEncryption",
    "LoggingPolicy": "GetBucketLogging",
    "Versioning": "GetBucketVersioning",
    "MFADelete": "GetBucketVersioning",
    "PublicAccessBlockConfiguration": "GetPublicAccessBlock",
    "Grants": "GetBucketAcl",
    "Policy": "GetBucketPolicy",
    "ObjectLockConfiguration": "GetObjectLockConfiguration",
    "Tags": "GetBucketTagging",
    "LifecycleRules": "GetBucketLifecycleConfiguration",
    # Bucketwatch additions.
    "PolicyStatus": "GetBucketPolicyStatus",
    "OwnershipControls": "GetBucketOwnershipControls",
    "AccountPublicAccessBlock": "s3control:GetPublicAccessBlock",
    # The bucket receiving this bucket's access logs: {Name, Exists, Region, EncryptionRules,
    # ObjectLockConfiguration} or None when logging is off. Built from that bucket's own state.
    "LoggingTarget": "GetBucketLogging (target bucket)",
    # Trails whose data-event selectors cover this bucket: list of AWS.CloudTrail resources.
    "CoveringTrails": "cloudtrail:DescribeTrails/GetEventSelectors/GetTrailStatus",
}


# AWS.Account fields, and the live API call that fills each one (none at synth time:
# CloudFormation has no resource for them, so templates produce no account resources).
ACCOUNT_FIELDS: dict[str, str] = {
    "AccountId": "sts:GetCallerIdentity",
    "AccountPublicAccessBlock": "s3control:GetPublicAccessBlock",
}


def account_resource_id(account_id: str) -> str:
    """How reports name an account: Security Hub's resource id for account-level findings."""
    return f"AWS::::Account:{account_id}"


def new_account(account_id: str, **fields: Any) -> dict[str, Any]:
    """An account resource with bookkeeping maps in place."""
    resource_id = account_resource_id(account_id)
    return {"ResourceType": ACCOUNT_RESOURCE_TYPE, "Name": account_id, "AccountId": account_id,
            "ResourceId": resource_id, "Region": None, UNKNOWN: {}, NOT_APPLICABLE: {}, **fields}


def new_bucket(name: str, **fields: Any) -> dict[str, Any]:
    """A bucket resource with bookkeeping maps in place."""
    return {"ResourceType": BUCKET_RESOURCE_TYPE, "Name": name, UNKNOWN: {}, NOT_APPLICABLE: {}, **fields}


def mark_unknown(resource: dict[str, Any], fields: list[str] | tuple[str, ...] | str, reason: str) -> None:
    """Record that `fields` could not be determined, and why; clears any value set for them."""
    for field in [fields] if isinstance(fields, str) else fields:
        resource.setdefault(UNKNOWN, {})[field] = reason
        resource[field] = None


def mark_not_applicable(resource: dict[str, Any], fields: list[str] | tuple[str, ...] | str, reason: str) -> None:
    for field in [fields] if isinstance(fields, str) else fields:
        resource.setdefault(NOT_APPLICABLE, {})[field] = reason
        resource[field] = None


_MARKS = ((NOT_APPLICABLE, "NOT_APPLICABLE"), (UNKNOWN, "UNKNOWN"))
_WITH_PARTIAL = (*_MARKS, (PARTIAL, "UNKNOWN"))


def undecidable(resource: dict[str, Any], fields: list[str] | tuple[str, ...],
                partial: bool = False) -> tuple[str, str] | None:
    """(status, reason) when any of `fields` is not-applicable or unknown (or, with `partial`,
    only partly determined), else None."""
    for key, status in _WITH_PARTIAL if partial else _MARKS:
        marks = resource.get(key) or {}
        reasons = [f"{field}: {marks[field]}" for field in fields if field in marks]
        if reasons:
            return status, "; ".join(reasons)
    return None
