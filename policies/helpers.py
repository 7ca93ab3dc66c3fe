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

from policies.model import NOT_APPLICABLE, UNDETERMINED_KEY, UNKNOWN

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
PUBLIC_GROUPS = (ALL_USERS, AUTHENTICATED_USERS)
BPA_FLAGS = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")


class CannotDecide(Exception):
    """Raised by a policy that needs a value the source could not determine."""


class NotApplicable(Exception):
    """Raised by a policy that has nothing to judge on this resource."""


class Undetermined:
    """A part of a bucket policy only known at deploy time (a statement naming a parameter).

    Any use of it that could change a verdict (comparing, testing, iterating, printing) raises
    `CannotDecide` with the reason, so a policy decides only where it never looked at one. The
    quantifier helpers below catch that per statement: a decided statement that settles the
    verdict (a complete TLS deny; an Allow to everyone) settles it whatever the others say."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise CannotDecide(self.reason)

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _refuse  # type: ignore[assignment]
    __bool__ = __len__ = __iter__ = __contains__ = __getitem__ = __str__ = __format__ = _refuse  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe for optional hooks
            raise AttributeError(name)
        raise CannotDecide(self.reason)

    def __repr__(self) -> str:
        return f"Undetermined({self.reason!r})"


def known(value: Any) -> Any:
    """`value`, or CannotDecide when it is undetermined (before an isinstance test would hide it)."""
    if isinstance(value, Undetermined):
        raise CannotDecide(value.reason)
    return value


def _undetermined_hook(mapping: dict[str, Any]) -> Any:
    return Undetermined(str(mapping[UNDETERMINED_KEY])) if len(mapping) == 1 and UNDETERMINED_KEY in mapping else mapping


def require(resource: dict[str, Any], *fields: str) -> None:
    """Raise when any of `fields` is marked not-applicable or unknown on `resource`."""
    for key, error in ((NOT_APPLICABLE, NotApplicable), (UNKNOWN, CannotDecide)):
        marks = resource.get(key) or {}
        reasons = [f"{field}: {marks[field]}" for field in fields if field in marks]
        if reasons:
            raise error("; ".join(reasons))


def deep_get(data: Any, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(known(data), dict):
            return default
        data = data.get(key)
    return default if data is None else data


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def policy_document(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The bucket policy as a dict (sources store it as a JSON string, like the S3 API); parts
    the source could not determine are `Undetermined`."""
    policy = resource.get("Policy")
    if not policy:
        return None
    if isinstance(policy, dict):
        return policy
    try:
        # The hook costs a Python call per JSON object: only documents with markers need it.
        document = json.loads(policy, object_hook=_undetermined_hook) if UNDETERMINED_KEY in policy \
            else json.loads(policy)
    except (TypeError, ValueError) as exc:
        raise CannotDecide(f"bucket policy is not valid JSON: {exc}") from exc
    return document if isinstance(known(document), dict) else None


def _statement_list(resource: dict[str, Any]) -> list[Any]:
    document = policy_document(resource)
    return as_list(known(document.get("Statement"))) if document else []


def statements(resource: dict[str, Any], effect: str | None = None) -> Iterator[dict[str, Any]]:
    """The bucket policy's statements, optionally only those with `effect` (CannotDecide at an
    undetermined one: use the quantifiers below to decide despite those)."""
    for statement in _statement_list(resource):
        if isinstance(known(statement), dict) and (effect is None or statement.get("Effect") == effect):
            yield statement


def each_statement(resource: dict[str, Any], effect: str, measure: Any) -> tuple[list[tuple[dict[str, Any], Any]],
                                                                                 CannotDecide | None]:
    """(statement, measure(statement)) for each `effect` statement whose parts `measure` reads are
    determined, and the first CannotDecide of one whose parts are not (left out of the list)."""
    results: list[tuple[dict[str, Any], Any]] = []
    undecided: CannotDecide | None = None
    try:
        found = _statement_list(resource)
    except CannotDecide as exc:  # the whole Statement list is undetermined
        return [], exc
    for statement in found:
        try:
            if not isinstance(known(statement), dict) or known(statement.get("Effect")) != effect:
                continue
            results.append((statement, measure(statement)))
        except CannotDecide as exc:
            undecided = undecided or exc
    return results, undecided


def any_statement(resource: dict[str, Any], effect: str, test: Any) -> bool:
    """Whether some `effect` statement passes `test`; statements with undetermined parts matter
    only when no determined one does (then CannotDecide)."""
    results, undecided = each_statement(resource, effect, test)
    if any(result for _, result in results):
        return True
    if undecided is not None:
        raise undecided
    return False


def matching_statements(resource: dict[str, Any], effect: str, test: Any) -> list[dict[str, Any]]:
    """The determined `effect` statements passing `test` (for failure reasons)."""
    return [statement for statement, result in each_statement(resource, effect, test)[0] if result]


def any_of(values: Any, test: Any) -> bool:
    """Whether some of `values` passes `test`; undetermined values matter only when no other does."""
    undecided: CannotDecide | None = None
    for value in as_list(values):
        try:
            if test(known(value)):
                return True
        except CannotDecide as exc:
            undecided = undecided or exc
    if undecided is not None:
        raise undecided
    return False


def principal_values(principal: Any) -> list[str]:
    """Every principal string of a statement's Principal ("*" stays "*")."""
    if isinstance(known(principal), str):
        return [principal]
    if isinstance(principal, dict):
        return [str(v) for value in principal.values() for v in as_list(known(value))]
    return []


def is_public_principal(principal: Any) -> bool:
    if known(principal) == "*":
        return True
    return isinstance(principal, dict) and any_of(principal.get("AWS"), lambda value: value == "*")


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
    bucket's IgnorePublicAcls setting makes S3 disregard them. A template that asks for a public
    ACL S3 would reject (`AclConflict`) still asks for public access: its grants count."""
    grants = grants_to(resource, PUBLIC_GROUPS, permissions)
    if grants and not resource.get("AclConflict"):
        require(resource, "PublicAccessBlockConfiguration")
        if deep_get(resource, "PublicAccessBlockConfiguration", "IgnorePublicAcls") is True:
            return []
    return grants


def describe_grants(grants: list[dict[str, Any]], resource: dict[str, Any] | None = None) -> str:
    text = "ACL grants " + ", ".join(f"{g['Permission']} to {g['Grantee']['URI'].rsplit('/', 1)[-1]}" for g in grants)
    conflict = (resource or {}).get("AclConflict")
    return f"{text}: {conflict}" if conflict else text
