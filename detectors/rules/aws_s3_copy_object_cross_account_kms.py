"""Objects copied (typically in place) under a KMS key owned by another account: ransomware.

When the organization is known, a key of one of its accounts (or trusted accounts) is internal;
only a key outside them alerts. Unknown organization: any other account's key alerts.
"""

from bucketwatch_helpers import (
    actor,
    bucket_change_context,
    bucket_name,
    external_account,
    organization,
    s3_call_succeeded,
)

KMS_KEY_PARAM = "x-amz-server-side-encryption-aws-kms-key-id"


def _key_account(event):
    key = event.deep_get("requestParameters", KMS_KEY_PARAM) or ""
    parts = key.split(":")
    if key.startswith("arn:") and len(parts) > 4 and parts[4]:
        return parts[4]
    for resource in event.get("resources") or ():
        if resource.get("type") == "AWS::KMS::Key" and resource.get("accountId"):
            return resource.get("accountId")
    return None  # a bare key id or alias lives in the caller's own account


def _owner_account(event):
    return event.get("recipientAccountId") or event.deep_get("userIdentity", "accountId")


def rule(event):
    if not s3_call_succeeded(event, "CopyObject"):
        return False
    key_account = _key_account(event)
    return key_account is not None and key_account != _owner_account(event) and external_account(key_account)


def title(event):
    outside = " outside the organization" if organization().known else ""
    return (f"S3 objects in [{bucket_name(event)}] of account [{_owner_account(event)}] re-encrypted with a "
            f"KMS key from account [{_key_account(event)}]{outside} by [{actor(event)}]")


def dedup(event):
    return f"{bucket_name(event)}:{actor(event)}"


def alert_context(event):
    context = bucket_change_context(event)
    context["kmsKeyId"] = event.deep_get("requestParameters", KMS_KEY_PARAM)
    context["kmsKeyAccount"] = _key_account(event)
    context["bucketAccount"] = _owner_account(event)
    return context
