"""Many objects rewritten with SSE-C (customer-provided keys): the S3 ransomware pattern.

Whoever holds the key is the only one who can read the copy; copying objects onto themselves
with an attacker's key locks the owner out. The threshold keeps one-off SSE-C users quiet.
"""

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, s3_call_succeeded

SSE_C_PARAM = "x-amz-server-side-encryption-customer-algorithm"


def rule(event):
    return s3_call_succeeded(event, "CopyObject") and bool(event.deep_get("requestParameters", SSE_C_PARAM))


def title(event):
    return f"S3 objects in [{bucket_name(event)}] rewritten with customer-provided keys (SSE-C) by [{actor(event)}]"


def dedup(event):
    return f"{bucket_name(event)}:{actor(event)}"


def alert_context(event):
    context = bucket_change_context(event)
    context["key"] = event.deep_get("requestParameters", "key")
    return context
