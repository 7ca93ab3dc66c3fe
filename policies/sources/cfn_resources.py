"""From one CloudFormation resource's properties to the resource shape policies read.

CloudFormation spells settings differently from the S3 API (`BucketEncryption` vs
`GetBucketEncryption`'s rules, canned ACLs vs grants); these conversions give policies the
API's shape, so one policy judges templates and live buckets alike. Each field comes from
named properties; a property that does not resolve marks only its field unknown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from policies.model import TRAIL_RESOURCE_TYPE, UNKNOWN, mark_not_applicable, mark_unknown, new_bucket
from policies.sources.cfn_load import Template
from policies.sources.cfn_resolve import Resolver, Unresolved, first_unresolved

# What S3 applies to every new bucket when the template says nothing (since January / April
# 2023): SSE-S3 encryption, all four Block Public Access settings, ACLs disabled.
AWS_DEFAULTS: dict[str, Any] = {
    "EncryptionRules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": None},
                         "BucketKeyEnabled": False}],
    "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
}
NOT_EXPRESSIBLE = {
    "MFADelete": "CloudFormation cannot set MFA delete (only the root user can, through the API); the live scan judges it",
    "AccountPublicAccessBlock": "account-level Block Public Access is not a CloudFormation resource; the live scan judges it",
}
_OWNER_GRANT = {"Grantee": {"Type": "CanonicalUser", "ID": "${CanonicalUserId}", "URI": None},
                "Permission": "FULL_CONTROL"}
_GROUP = "http://acs.amazonaws.com/groups/"
CANNED_ACL_GRANTS: dict[str, list[tuple[str, str]]] = {
    "Private": [],
    "BucketOwnerRead": [],
    "BucketOwnerFullControl": [],
    "PublicRead": [(_GROUP + "global/AllUsers", "READ")],
    "PublicReadWrite": [(_GROUP + "global/AllUsers", "READ"), (_GROUP + "global/AllUsers", "WRITE")],
    "AuthenticatedRead": [(_GROUP + "global/AuthenticatedUsers", "READ")],
    "LogDeliveryWrite": [(_GROUP + "s3/LogDelivery", "WRITE"), (_GROUP + "s3/LogDelivery", "READ_ACP")],
    "AwsExecRead": [],
}


# --- property → field conversions (CloudFormation shape → API/Panther shape) ----------------

def _encryption(props: dict[str, Any], name: str | None) -> Any:
    rules = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
    if not rules:
        return None
    return [
        {"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": (rule.get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm"),
            "KMSMasterKeyID": (rule.get("ServerSideEncryptionByDefault") or {}).get("KMSMasterKeyID")},
         "BucketKeyEnabled": _cfn_bool(rule.get("BucketKeyEnabled", False))}
        for rule in rules
    ]


def _logging(props: dict[str, Any], name: str | None) -> Any:
    config = props.get("LoggingConfiguration")
    if config is None:
        return None
    # No destination means the bucket logs into itself (CloudFormation's documented default).
    return {"TargetBucket": config.get("DestinationBucketName", name),
            "TargetPrefix": config.get("LogFilePrefix", "")}


def _versioning(props: dict[str, Any], name: str | None) -> Any:
    return (props.get("VersioningConfiguration") or {}).get("Status")


def _cfn_bool(value: Any) -> bool:
    """A CloudFormation Boolean: JSON templates often spell it "true" / "false", which
    CloudFormation accepts (any case); anything else it would reject."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TypeError(f"not a Boolean: {value!r}")


def _public_access_block(props: dict[str, Any], name: str | None) -> Any:
    config = props.get("PublicAccessBlockConfiguration")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise TypeError("PublicAccessBlockConfiguration must be a mapping")
    return {key: _cfn_bool(value) for key, value in config.items()}


def _grants(props: dict[str, Any], name: str | None) -> Any:
    acl = props.get("AccessControl", "Private")
    if acl not in CANNED_ACL_GRANTS:
        return Unresolved(f"unknown canned ACL {acl!r}")
    extra = [{"Grantee": {"Type": "Group", "URI": uri, "ID": None}, "Permission": p} for uri, p in CANNED_ACL_GRANTS[acl]]
    return [_OWNER_GRANT, *extra]


def _ownership(props: dict[str, Any], name: str | None) -> Any:
    rules = (props.get("OwnershipControls") or {}).get("Rules")
    return {"Rules": [{"ObjectOwnership": r.get("ObjectOwnership")} for r in rules]} if rules else None


def _object_lock(props: dict[str, Any], name: str | None) -> Any:
    config = props.get("ObjectLockConfiguration") or {}
    enabled = _cfn_bool(props.get("ObjectLockEnabled", False)) or config.get("ObjectLockEnabled") == "Enabled"
    if not enabled:
        return None
    return {"ObjectLockEnabled": "Enabled", "Rule": config.get("Rule")}


_LIFECYCLE_INTEGERS = ("ExpirationInDays", "NoncurrentVersionExpirationInDays")


def _cfn_int(value: Any) -> int:
    """A CloudFormation Integer: "30" is accepted as 30; anything else it would reject."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise TypeError(f"not an Integer: {value!r}")


def _with_integers(mapping: Any, keys: tuple[str, ...]) -> Any:
    """`mapping` with its Integer properties among `keys` as ints (None stays None)."""
    if mapping is None:
        return None
    if not isinstance(mapping, dict):
        raise TypeError(f"expected a mapping, got {type(mapping).__name__}")
    return {**mapping, **{key: _cfn_int(mapping[key]) for key in keys if mapping.get(key) is not None}}


def _lifecycle(props: dict[str, Any], name: str | None) -> Any:
    rules = (props.get("LifecycleConfiguration") or {}).get("Rules")
    if not rules:
        return None
    converted = []
    for rule in rules:
        rule = _with_integers(rule, _LIFECYCLE_INTEGERS)
        noncurrent = _with_integers(rule.get("NoncurrentVersionExpiration"), ("NoncurrentDays", "NewerNoncurrentVersions")) or (
            {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]}
            if "NoncurrentVersionExpirationInDays" in rule else None)
        converted.append({
            "ID": rule.get("Id"),
            "Status": rule.get("Status"),
            "Expiration": {"Days": rule.get("ExpirationInDays"), "Date": rule.get("ExpirationDate"),
                           "ExpiredObjectDeleteMarker": rule.get("ExpiredObjectDeleteMarker")}
            if any(k in rule for k in ("ExpirationInDays", "ExpirationDate", "ExpiredObjectDeleteMarker")) else None,
            "NoncurrentVersionExpiration": noncurrent,
            "Filter": {"Prefix": rule.get("Prefix", "")},
            "Transitions": [_with_integers(t, ("TransitionInDays",)) for t in rule["Transitions"]]
            if rule.get("Transitions") is not None else None,
            "AbortIncompleteMultipartUpload": _with_integers(rule.get("AbortIncompleteMultipartUpload"),
                                                             ("DaysAfterInitiation",)),
        })
    return converted


def _tags(props: dict[str, Any], name: str | None) -> Any:
    return {t.get("Key"): t.get("Value") for t in props.get("Tags") or []}


# Field → (the properties it comes from, conversion). Only these are "own properties".
BUCKET_PROPERTY_FIELDS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any], str | None], Any]]] = {
    "EncryptionRules": (("BucketEncryption",), _encryption),
    "LoggingPolicy": (("LoggingConfiguration",), _logging),
    "Versioning": (("VersioningConfiguration",), _versioning),
    "PublicAccessBlockConfiguration": (("PublicAccessBlockConfiguration",), _public_access_block),
    "Grants": (("AccessControl",), _grants),
    "OwnershipControls": (("OwnershipControls",), _ownership),
    "ObjectLockConfiguration": (("ObjectLockEnabled", "ObjectLockConfiguration"), _object_lock),
    "LifecycleRules": (("LifecycleConfiguration",), _lifecycle),
    "Tags": (("Tags",), _tags),
}
OWN_FIELDS = frozenset({"Name", "Arn", "Region", "Location", "AccountId", *BUCKET_PROPERTY_FIELDS})


def bucket_from_properties(name: Any, properties: dict[str, Any], resolver: Resolver | None,
                           account: str, region: str, assume_aws_defaults: bool = True) -> dict[str, Any]:
    """A bucket resource from one AWS::S3::Bucket's own properties (intrinsics via `resolver`)."""
    unresolved_name = name if isinstance(name, Unresolved) else None
    bucket = new_bucket(name if isinstance(name, str) else None, ResourceType="AWS.S3.Bucket",
                        AccountId=account, Region=region, Location=region)
    bucket["Arn"] = f"arn:aws:s3:::{bucket['Name']}" if bucket["Name"] else None
    if unresolved_name:
        mark_unknown(bucket, ["Name", "Arn"], f"BucketName: {unresolved_name.reason}")
    for field, (keys, convert) in BUCKET_PROPERTY_FIELDS.items():
        raw = {key: properties[key] for key in keys if key in properties}
        resolved = resolver.resolve(raw) if resolver else raw
        if field == "LoggingPolicy" and _unresolved_destination_only(resolved):
            # Logging is on; only where the logs go is unknown (e.g. a bucket imported from elsewhere).
            reason = resolved["LoggingConfiguration"]["DestinationBucketName"].reason
            bucket[field] = {"TargetBucket": None, "TargetPrefix": resolved["LoggingConfiguration"].get("LogFilePrefix", "")}
            mark_unknown(bucket, "LoggingTarget", f"LoggingConfiguration.DestinationBucketName: {reason}")
            continue
        if (blocked := first_unresolved(resolved)) is not None:
            mark_unknown(bucket, field, f"{'/'.join(keys)}: {blocked.reason}")
            continue
        value = _convert(convert, resolved, bucket["Name"], keys)
        if isinstance(value, Unresolved):
            mark_unknown(bucket, field, value.reason)
            continue
        if value is None and assume_aws_defaults and field in AWS_DEFAULTS:
            value = json.loads(json.dumps(AWS_DEFAULTS[field]))
        bucket[field] = value
    for field, reason in NOT_EXPRESSIBLE.items():
        mark_not_applicable(bucket, field, reason)
    return bucket


def _convert(convert: Callable[[dict[str, Any], str | None], Any], resolved: dict[str, Any],
             name: str | None, keys: tuple[str, ...]) -> Any:
    """`convert`'s result, or Unresolved when a property has a shape CloudFormation would reject
    (a string where a mapping belongs, a mapping where a list does): no verdict from a guess."""
    try:
        return convert(resolved, name)
    except (AttributeError, TypeError, KeyError, ValueError):
        shapes = ", ".join(f"{key} is {type(resolved[key]).__name__}" for key in keys if key in resolved)
        return Unresolved(f"{'/'.join(keys)} has an unexpected shape ({shapes}); CloudFormation would reject it")


def _unresolved_destination_only(resolved: dict[str, Any]) -> bool:
    config = resolved.get("LoggingConfiguration")
    if not isinstance(config, dict) or not isinstance(config.get("DestinationBucketName"), Unresolved):
        return False
    return first_unresolved({k: v for k, v in config.items() if k != "DestinationBucketName"}) is None



def _resolved_or_unknown(resource: dict[str, Any], field: str, resolver: Resolver, value: Any) -> Any:
    resolved = resolver.resolve(value)
    if (blocked := first_unresolved(resolved)) is not None:
        mark_unknown(resource, field, blocked.reason)
        return None
    return resolved


def trail_from_properties(logical_id: str, props: dict[str, Any], template: Template, resolver: Resolver) -> dict[str, Any]:
    region = resolver.pseudo("AWS::Region")
    trail: dict[str, Any] = {"ResourceType": TRAIL_RESOURCE_TYPE, UNKNOWN: {}, "NotApplicable": {}, "HomeRegion": region}
    name = resolver.resolve(props.get("TrailName", f"{template.stack}-{logical_id}"))
    trail["Name"] = name if isinstance(name, str) else f"{template.stack}-{logical_id}"
    trail["TrailARN"] = f"arn:aws:cloudtrail:{region}:{resolver.pseudo('AWS::AccountId')}:trail/{trail['Name']}"
    simple = {"IsMultiRegionTrail": ("IsMultiRegionTrail", False),
              "LogFileValidationEnabled": ("EnableLogFileValidation", False),
              "KmsKeyId": ("KMSKeyId", None), "S3BucketName": ("S3BucketName", None),
              "EventSelectors": ("EventSelectors", None), "AdvancedEventSelectors": ("AdvancedEventSelectors", None)}
    for field, (key, default) in simple.items():
        value = _resolved_or_unknown(trail, field, resolver, props.get(key, default))
        if field not in trail[UNKNOWN]:
            trail[field] = _as_bool(value) if isinstance(default, bool) else value
    logging = _resolved_or_unknown(trail, "Status", resolver, props.get("IsLogging", True))
    if "Status" not in trail[UNKNOWN]:
        trail["Status"] = {"IsLogging": _as_bool(logging)}
    return trail


def _as_bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
