"""A bucket made public: a policy that allows everyone, or an ACL that grants to all users."""

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, s3_call_succeeded
from bucketwatch_iam import open_statements

PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                 "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
PUBLIC_CANNED_ACLS = {"public-read", "public-read-write", "authenticated-read"}
GRANT_HEADERS = ("x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp",
                 "x-amz-grant-write-acp", "x-amz-grant-full-control")


def _public_policy(event):
    return bool(open_statements(event.deep_get("requestParameters", "bucketPolicy")))


def _public_acl(event):
    params = event.get("requestParameters") or {}
    canned = params.get("x-amz-acl")
    canned_values = [canned] if isinstance(canned, str) else list(canned or ())
    if PUBLIC_CANNED_ACLS.intersection(canned_values):
        return True
    for header in GRANT_HEADERS:
        values = params.get(header)
        text = " ".join(values) if isinstance(values, tuple | list) else str(values or "")
        if any(group in text for group in PUBLIC_GROUPS):
            return True
    grants = event.deep_get("requestParameters", "AccessControlPolicy", "AccessControlList", "Grant") or ()
    grants = [grants] if hasattr(grants, "get") else grants
    return any((g.get("Grantee") or {}).get("URI") in PUBLIC_GROUPS for g in grants if hasattr(g, "get"))


def rule(event):
    if s3_call_succeeded(event, "PutBucketPolicy"):
        return _public_policy(event)
    if s3_call_succeeded(event, "PutBucketAcl"):
        return _public_acl(event)
    return False


def title(event):
    how = "policy" if event.get("eventName") == "PutBucketPolicy" else "ACL"
    return f"S3 bucket [{bucket_name(event)}] made public by its {how}, changed by [{actor(event)}]"


def dedup(event):
    return bucket_name(event)


def alert_context(event):
    return bucket_change_context(event)
