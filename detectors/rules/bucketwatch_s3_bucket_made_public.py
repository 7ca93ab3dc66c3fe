"""A bucket made public: a policy that allows everyone, or an ACL that grants to all users."""

import json

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, s3_call_succeeded

PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                 "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
PUBLIC_CANNED_ACLS = {"public-read", "public-read-write", "authenticated-read"}
GRANT_HEADERS = ("x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp",
                 "x-amz-grant-write-acp", "x-amz-grant-full-control")
# Condition keys that pin a wildcard principal to known callers, so the grant is not public.
RESTRICTIVE_CONDITION_KEYS = {
    "aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceaccount", "aws:sourcearn",
    "aws:sourceorgid", "aws:principalorgid", "aws:principalaccount", "aws:principalarn",
    "aws:userid", "aws:sourceowner", "aws:principalorgpaths",
}


def _statements(policy):
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    statements = (policy or {}).get("Statement") if hasattr(policy, "get") else None
    if statements is None:
        return []
    return [statements] if hasattr(statements, "get") else list(statements)


def _everyone(principal):
    if principal == "*":
        return True
    if hasattr(principal, "get"):
        aws = principal.get("AWS")
        values = [aws] if isinstance(aws, str) else list(aws or ())
        return "*" in values
    return False


def _restricted(statement):
    condition = statement.get("Condition") or {}
    return any(key.lower() in RESTRICTIVE_CONDITION_KEYS
               for operator in condition.values() if hasattr(operator, "keys")
               for key in operator)


def _public_policy(event):
    policy = event.deep_get("requestParameters", "bucketPolicy")
    return any(s.get("Effect") == "Allow" and _everyone(s.get("Principal")) and not _restricted(s)
               for s in _statements(policy) if hasattr(s, "get"))


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
