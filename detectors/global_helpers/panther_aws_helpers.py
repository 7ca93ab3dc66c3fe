"""Our own implementation of the `panther_aws_helpers` functions that rule packs import."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from panther_base_helpers import deep_get


def aws_cloudtrail_success(event: Mapping[str, Any]) -> bool:
    """A CloudTrail call succeeded when it carries neither an errorCode nor an errorMessage."""
    return not (event.get("errorCode") or event.get("errorMessage"))


def aws_rule_context(event: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudTrail fields an analyst wants first in an alert."""
    return {
        "eventName": event.get("eventName", "<MISSING_EVENT_NAME>"),
        "eventSource": event.get("eventSource", "<MISSING_ACCOUNT_ID>"),
        "awsRegion": event.get("awsRegion", "<MISSING_AWS_REGION>"),
        "recipientAccountId": event.get("recipientAccountId", "<MISSING_ACCOUNT_ID>"),
        "sourceIPAddress": event.get("sourceIPAddress", "<MISSING_SOURCE_IP>"),
        "userAgent": event.get("userAgent", "<MISSING_USER_AGENT>"),
        "userIdentity": _plain(event.get("userIdentity", "<MISSING_USER_IDENTITY>")),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def aws_event_tense(event_name: str | None) -> str:
    """"PutBucketPolicy" -> "put", "DeleteTrail" -> "deleted": for readable titles."""
    verbs = {"Create": "created", "Delete": "deleted", "Put": "put", "Update": "updated",
             "Stop": "stopped", "Start": "started", "Attach": "attached", "Detach": "detached"}
    for prefix, tense in verbs.items():
        if (event_name or "").startswith(prefix):
            return tense
    return event_name or ""


_SESSION = re.compile(r"^(arn:aws[a-z-]*:sts::\d+:assumed-role/[^/]+)/.+$")


def aws_strip_role_session_id(user_identity_arn: str | None) -> str:
    """arn:aws:sts::1:assumed-role/Role/session -> arn:aws:sts::1:assumed-role/Role."""
    match = _SESSION.match(user_identity_arn or "")
    return match.group(1) if match else (user_identity_arn or "")


def lookup_aws_account_name(account_id: str | None) -> str | None:
    """No account directory is configured locally: the id stands for itself."""
    return account_id


def aws_guardduty_context(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": event.get("description"), "severity": event.get("severity"),
            "type": event.get("type"), "resource": deep_get(event, "resource", "resourceType")}
