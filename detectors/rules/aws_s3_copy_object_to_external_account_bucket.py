"""Objects copied between a bucket of this account and a bucket of another account.

When the organization is known (config, deployed stack, or `scan --organization`), a copy among
its accounts (and trusted accounts) is internal: it alerts only when an account outside them is
involved, as the destination bucket's owner or as the caller copying out of a member's bucket.
Unknown organization: any other account alerts, as in Panther.
"""

from bucketwatch_helpers import (
    actor,
    bucket_change_context,
    bucket_name,
    external_account,
    organization,
    s3_call_succeeded,
)


def _own_account(event):
    return event.deep_get("userIdentity", "accountId") or event.get("recipientAccountId")


def _buckets(event):
    """(ARN, owning account) of every bucket the call names."""
    return [
        (resource.get("ARN") or resource.get("arn"), resource.get("accountId"))
        for resource in event.get("resources") or ()
        if resource.get("type") == "AWS::S3::Bucket"
    ]


def _other_buckets(event):
    own = _own_account(event)
    return [(arn, account) for arn, account in _buckets(event) if account not in (None, "", own)]


def _other_accounts(event):
    return sorted({account for _, account in _other_buckets(event)})


def _outside(event):
    """The involved accounts outside the organization (None when the organization is unknown)."""
    if not organization().known:
        return None
    involved = [_own_account(event), *_other_accounts(event)]
    return [account for account in dict.fromkeys(involved) if external_account(account)]


def rule(event):
    if not s3_call_succeeded(event, "CopyObject") or not _other_accounts(event):
        return False
    outside = _outside(event)
    return outside is None or bool(outside)


def title(event):
    outside = _outside(event)
    note = f" outside the organization: [{', '.join(outside)}]" if outside else ""
    return (f"S3 object copied between account [{_own_account(event)}] and account(s) "
            f"[{', '.join(_other_accounts(event))}]{note} "
            f"({', '.join(str(arn) for arn, _ in _other_buckets(event))}) by [{actor(event)}]")


def dedup(event):
    return f"{bucket_name(event)}:{actor(event)}"


def alert_context(event):
    context = bucket_change_context(event)
    context["externalBuckets"] = [arn for arn, _ in _other_buckets(event)]
    context["copySource"] = event.deep_get("requestParameters", "x-amz-copy-source")
    context["callerAccount"] = _own_account(event)
    context["otherAccounts"] = _other_accounts(event)
    context["accountsOutsideOrganization"] = _outside(event)
    return context
