"""S3 bucket ACL does not let everyone (or every AWS user) write to it."""

from __future__ import annotations

from typing import Any

from policies.helpers import PUBLIC_GROUPS, deep_get, grants_to, require

WRITE_PERMISSIONS = ("WRITE", "WRITE_ACP", "FULL_CONTROL")


def public_grants(resource: dict[str, Any]) -> list[dict[str, Any]]:
    grants = grants_to(resource, PUBLIC_GROUPS, WRITE_PERMISSIONS)
    if grants:
        require(resource, "PublicAccessBlockConfiguration")
        if deep_get(resource, "PublicAccessBlockConfiguration", "IgnorePublicAcls") is True:
            return []
    return grants


def policy(resource: dict[str, Any]) -> bool:
    return not public_grants(resource)


def reason(resource: dict[str, Any]) -> str:
    grants = public_grants(resource)
    return "ACL grants " + ", ".join(f"{g['Permission']} to {g['Grantee']['URI'].rsplit('/', 1)[-1]}" for g in grants)
