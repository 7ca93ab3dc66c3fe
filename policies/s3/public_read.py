"""S3 bucket ACL does not let everyone (or every AWS user) read it."""

from __future__ import annotations

from typing import Any

from policies.helpers import describe_grants, public_acl_grants

READ_PERMISSIONS = ("READ", "FULL_CONTROL")


def policy(resource: dict[str, Any]) -> bool:
    return not public_acl_grants(resource, READ_PERMISSIONS)


def reason(resource: dict[str, Any]) -> str:
    return describe_grants(public_acl_grants(resource, READ_PERMISSIONS), resource)
