"""Calls the live source does not make, because another call's answer already fixes their fields.

A per-bucket call is skipped only when AWS documents what it would answer, given an answer the
scan already has; the skipped call's fields then get exactly that value (never a guess), and the
bucket's ``Decided`` map says which call was not made and why, e.g.
``{"Grants": "GetBucketAcl not called: ObjectOwnership is BucketOwnerEnforced, ..."}``. Policies
need no change: the value is the one the call would have returned. When the deciding answer is
missing (its call was denied or failed) or does not settle the question, the call is made.

| call not made | decided by | when | fields become | why it is certain |
|---|---|---|---|---|
| GetBucketPolicyStatus | GetBucketPolicy | no bucket policy | ``PolicyStatus: None`` | GetBucketPolicyStatus answers NoSuchBucketPolicy for a bucket without a policy |
| GetBucketPolicyStatus | GetBucketPolicy | every statement is a Deny | ``PolicyStatus: {"IsPublic": False}`` | a policy is public only if it grants access ("The meaning of public"); a Deny grants nothing |
| GetBucketAcl | GetBucketOwnershipControls | BucketOwnerEnforced | ``Owner`` and ``Grants``: the owner's FULL_CONTROL | GetBucketAcl: with BucketOwnerEnforced it returns "the bucket-owner-full-control ACL with the owner being the account that created the bucket"; S3 refuses to enforce ownership while the ACL grants anyone else (InvalidBucketAclWithObjectOwnership) and refuses ACL changes afterwards |
| GetObjectLockConfiguration | GetBucketVersioning | versioning never enabled, or Suspended | ``ObjectLockConfiguration: None`` | Object Lock works only with versioning Enabled, and once it is on, versioning cannot be suspended |

The owner's grant for the BucketOwnerEnforced rule is copied from a GetBucketAcl answer of another
bucket of the same account in the same region (every bucket ListBuckets lists has the same
owner; the owner's DisplayName is returned in some regions only, hence per region). Until such an
answer exists, the call is made.

GetBucketLocation is replaced the same way by ListBuckets' ``BucketRegion`` (see
``policies.sources.live.AccountCollector.locate``).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from policies.model import UNKNOWN

DECIDED = "Decided"
ENFORCED = "BucketOwnerEnforced"


@dataclass(frozen=True)
class Decision:
    """The fields a skipped call would have filled, and why that is certain."""

    values: dict[str, Any]
    why: str


@dataclass
class AccountFacts:
    """What one account's answers teach about its other buckets (shared by the pool's threads)."""

    # region -> (Owner, the owner's FULL_CONTROL grant) as GetBucketAcl answered there.
    owner_acl: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def learn_acl(self, region: str | None, owner: Any, grants: Any) -> None:
        """Remember the owner's own grant from an ACL answer (when it has one)."""
        if region is None or not isinstance(owner, dict) or not owner.get("ID"):
            return
        own = [g for g in grants or [] if g.get("Permission") == "FULL_CONTROL"
               and (g.get("Grantee") or {}).get("Type") == "CanonicalUser"
               and (g.get("Grantee") or {}).get("ID") == owner["ID"]]
        if own:
            with self._lock:
                self.owner_acl.setdefault(region, (copy.deepcopy(owner), copy.deepcopy(own[0])))

    def owner_full_control(self, region: str | None) -> dict[str, Any] | None:
        with self._lock:
            known = self.owner_acl.get(region) if region else None
        if known is None:
            return None
        owner, grant = copy.deepcopy(known)
        return {"Owner": owner, "Grants": [grant]}


@dataclass(frozen=True)
class SkipRule:
    """`api` is not called when `decide`, run once `after` has answered, returns a Decision."""

    api: str
    after: str
    decide: Callable[[dict[str, Any], AccountFacts], Decision | None]


def _answered(resource: dict[str, Any], *fields: str) -> bool:
    return not any(name in (resource.get(UNKNOWN) or {}) for name in fields)


def _only_deny_statements(policy: Any) -> bool:
    """True only for a policy document whose statements are all, unmistakably, Deny."""
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except ValueError:
        return False
    statements = document.get("Statement") if isinstance(document, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements
    return bool(statements) and isinstance(statements, list) and all(
        isinstance(s, dict) and s.get("Effect") == "Deny" for s in statements)


def policy_status(resource: dict[str, Any], _: AccountFacts) -> Decision | None:
    if not _answered(resource, "Policy"):
        return None
    if resource.get("Policy") is None:
        return Decision({"PolicyStatus": None}, "GetBucketPolicyStatus not called: the bucket has no policy "
                        "(GetBucketPolicy: NoSuchBucketPolicy), and GetBucketPolicyStatus then answers "
                        "NoSuchBucketPolicy")
    if _only_deny_statements(resource["Policy"]):
        return Decision({"PolicyStatus": {"IsPublic": False}}, "GetBucketPolicyStatus not called: every "
                        "statement of the bucket policy is a Deny, which grants no access, so the policy is "
                        "not public")
    return None


def bucket_acl(resource: dict[str, Any], facts: AccountFacts) -> Decision | None:
    if not _answered(resource, "OwnershipControls", "Region"):
        return None
    rules = (resource.get("OwnershipControls") or {}).get("Rules") or []
    if not rules or any(rule.get("ObjectOwnership") != ENFORCED for rule in rules):
        return None
    values = facts.owner_full_control(resource.get("Region"))
    if values is None:
        return None  # the owner's grant is not known yet in this region: ask
    return Decision(values, "GetBucketAcl not called: ObjectOwnership is BucketOwnerEnforced, so ACLs are "
                    "disabled and the ACL is the bucket owner's FULL_CONTROL only")


def object_lock(resource: dict[str, Any], _: AccountFacts) -> Decision | None:
    if not _answered(resource, "Versioning"):
        return None
    status = resource.get("Versioning")
    if status not in (None, "Suspended"):
        return None
    state = "Suspended" if status else "never enabled"
    return Decision({"ObjectLockConfiguration": None}, f"GetObjectLockConfiguration not called: versioning is "
                    f"{state}, and Object Lock needs versioning Enabled (which it keeps from being suspended)")


SKIP_RULES: dict[str, SkipRule] = {rule.api: rule for rule in (
    SkipRule("GetBucketPolicyStatus", "GetBucketPolicy", policy_status),
    SkipRule("GetBucketAcl", "GetBucketOwnershipControls", bucket_acl),
    SkipRule("GetObjectLockConfiguration", "GetBucketVersioning", object_lock),
)}


def apply_decision(resource: dict[str, Any], decision: Decision) -> None:
    """Set the decided fields and say why they were not fetched."""
    for name, value in decision.values.items():
        resource[name] = value
        resource.setdefault(DECIDED, {})[name] = decision.why
