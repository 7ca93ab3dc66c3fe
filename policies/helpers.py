"""Small helpers policy modules share: reading bucket policies and ACL grants, and saying
"I cannot decide" or "this does not apply" from inside a policy.

Policies stay Panther-compatible: `policy(resource) -> bool` (True = compliant). A policy
that finds, mid-way, that it depends on a field the source could not determine calls
`require(resource, field)`, which raises `CannotDecide`; the runner reports UNKNOWN with the
reason. `NotApplicable` works the same way for resources a policy has nothing to say about.

Resource shapes beyond Panther's AWS.S3.Bucket (sources fill them the same way):

- ``LoggingPolicy``: ``{"TargetBucket": str, "TargetPrefix": str}`` or None (logging off).
- ``OwnershipControls``: ``{"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}`` or None.
- ``ObjectLockConfiguration``: ``{"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention":
  {"Mode", "Days", "Years"}}}`` or None.
- ``LoggingTarget``: ``{"Name", "Exists": bool, "Region", "EncryptionRules",
  "ObjectLockConfiguration"}`` or None when logging is off.
- ``CoveringTrails``: list of AWS.CloudTrail resources (below) whose selectors record any of the
  bucket's data events.
- ``AccountPublicAccessBlock``: the account's four Block Public Access flags, or None.

AWS.CloudTrail (Panther's shape): ``Name``, ``TrailARN``, ``HomeRegion``, ``IsMultiRegionTrail``,
``LogFileValidationEnabled``, ``KmsKeyId``, ``S3BucketName``, ``EventSelectors``,
``AdvancedEventSelectors``, ``Status: {"IsLogging": bool}``, plus ``Unknown``/``NotApplicable``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from policies.model import NOT_APPLICABLE, UNKNOWN

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
PUBLIC_GROUPS = (ALL_USERS, AUTHENTICATED_USERS)
BPA_FLAGS = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")


class CannotDecide(Exception):
    """Raised by a policy that needs a value the source could not determine."""


class NotApplicable(Exception):
    """Raised by a policy that has nothing to judge on this resource."""


def require(resource: dict[str, Any], *fields: str) -> None:
    """Raise when any of `fields` is marked not-applicable or unknown on `resource`."""
    for key, error in ((NOT_APPLICABLE, NotApplicable), (UNKNOWN, CannotDecide)):
        marks = resource.get(key) or {}
        reasons = [f"{field}: {marks[field]}" for field in fields if field in marks]
        if reasons:
            raise error("; ".join(reasons))


def deep_get(data: Any, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return default
        data = data.get(key)
    return default if data is None else data


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def policy_document(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The bucket policy as a dict (sources store it as a JSON string, like the S3 API)."""
    policy = resource.get("Policy")
    if not policy:
        return None
    if isinstance(policy, dict):
        return policy
    try:
        document = json.loads(policy)
    except (TypeError, ValueError) as exc:
        raise CannotDecide(f"bucket policy is not valid JSON: {exc}") from exc
    return document if isinstance(document, dict) else None


def statements(resource: dict[str, Any], effect: str | None = None) -> Iterator[dict[str, Any]]:
    """The bucket policy's statements, optionally only those with `effect`."""
    document = policy_document(resource)
    for statement in as_list((document or {}).get("Statement")):
        if isinstance(statement, dict) and (effect is None or statement.get("Effect") == effect):
            yield statement


def principal_values(principal: Any) -> list[str]:
    """Every principal string of a statement's Principal ("*" stays "*")."""
    if isinstance(principal, str):
        return [principal]
    if isinstance(principal, dict):
        return [str(v) for value in principal.values() for v in as_list(value)]
    return []


def is_public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))


def grants_to(resource: dict[str, Any], uris: tuple[str, ...], permissions: tuple[str, ...]) -> list[dict]:
    """ACL grants giving any of `permissions` to a grantee group in `uris`."""
    return [
        grant
        for grant in resource.get("Grants") or []
        if deep_get(grant, "Grantee", "URI") in uris and grant.get("Permission") in permissions
    ]


def sse_algorithms(encryption_rules: Any) -> list[str]:
    return [
        algorithm
        for rule in encryption_rules or []
        if (algorithm := deep_get(rule, "ApplyServerSideEncryptionByDefault", "SSEAlgorithm"))
    ]


def public_acl_grants(resource: dict[str, Any], permissions: tuple[str, ...]) -> list[dict[str, Any]]:
    """Grants of `permissions` to everyone / every AWS user that S3 honours: none when the
    bucket's IgnorePublicAcls setting makes S3 disregard them."""
    grants = grants_to(resource, PUBLIC_GROUPS, permissions)
    if grants:
        require(resource, "PublicAccessBlockConfiguration")
        if deep_get(resource, "PublicAccessBlockConfiguration", "IgnorePublicAcls") is True:
            return []
    return grants


def describe_grants(grants: list[dict[str, Any]]) -> str:
    return "ACL grants " + ", ".join(f"{g['Permission']} to {g['Grantee']['URI'].rsplit('/', 1)[-1]}" for g in grants)
