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

# A KMS key named only at deploy time (a parameter): which key it is decides no policy, whether
# KMS is used does (SSEAlgorithm), so the rule keeps this token instead of becoming unknown.
DEPLOY_TIME_KEY = "${KMSMasterKeyID}"


def _encryption(props: dict[str, Any], name: str | None) -> Any:
    config = props.get("BucketEncryption")
    rules = config.get("ServerSideEncryptionConfiguration") if isinstance(config, dict) else config
    if isinstance(rules, Unresolved) or not rules:
        return rules or None
    converted = []
    for rule in rules:
        default = known_part(known_part(rule).get("ServerSideEncryptionByDefault") or {})
        algorithm, key = known_part(default.get("SSEAlgorithm")), default.get("KMSMasterKeyID")
        bucket_key = rule.get("BucketKeyEnabled", False)
        converted.append({"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": algorithm, "KMSMasterKeyID": DEPLOY_TIME_KEY if isinstance(key, Unresolved) else key},
            "BucketKeyEnabled": None if isinstance(bucket_key, Unresolved) else _cfn_bool(bucket_key)})
    return converted


class _Deciding(Exception):
    """An unresolved part that decides the field (raised out of a conversion)."""

    def __init__(self, unresolved: Unresolved) -> None:
        super().__init__(unresolved.reason)
        self.unresolved = unresolved


def known_part(value: Any) -> Any:
    if isinstance(value, Unresolved):
        raise _Deciding(value)
    return value


def _logging(props: dict[str, Any], name: str | None) -> Any:
    config = props.get("LoggingConfiguration")
    if config is None:
        return None
    # No destination means the bucket logs into itself (CloudFormation's documented default).
    return {"TargetBucket": config.get("DestinationBucketName", name),
            "TargetPrefix": config.get("LogFilePrefix", "")}


def _object_lock_enabled(props: dict[str, Any]) -> bool | Unresolved:
    flag, config = props.get("ObjectLockEnabled", False), props.get("ObjectLockConfiguration") or {}
    state = config.get("ObjectLockEnabled") if isinstance(config, dict) else config
    if flag is True or state == "Enabled" or (isinstance(flag, str) and flag.lower() == "true"):
        return True
    return first_unresolved([flag, state]) or _cfn_bool(flag)


def _versioning(props: dict[str, Any], name: str | None) -> Any:
    """Versioning as S3 keeps it: Object Lock turns versioning on and never lets it be suspended,
    so an Object Lock bucket is versioned whatever VersioningConfiguration says."""
    config = props.get("VersioningConfiguration")
    status = config.get("Status") if isinstance(config, dict) else config
    lock = _object_lock_enabled(props)
    if lock is True or status == "Enabled":
        return "Enabled"
    if isinstance(status, Unresolved):
        return status
    if isinstance(lock, Unresolved):
        return Unresolved(f"ObjectLockEnabled: {lock.reason}")
    if config is not None and not isinstance(config, dict):
        raise TypeError("VersioningConfiguration must be a mapping")
    return status


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
    if not _object_lock_enabled(props):
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
    "Versioning": (("VersioningConfiguration", "ObjectLockEnabled", "ObjectLockConfiguration"), _versioning),
    "PublicAccessBlockConfiguration": (("PublicAccessBlockConfiguration",), _public_access_block),
    "Grants": (("AccessControl",), _grants),
    "OwnershipControls": (("OwnershipControls",), _ownership),
    "ObjectLockConfiguration": (("ObjectLockEnabled", "ObjectLockConfiguration"), _object_lock),
    "LifecycleRules": (("LifecycleConfiguration",), _lifecycle),
    "Tags": (("Tags",), _tags),
}
# Conversions that decide with some of their properties unresolved (they return Unresolved
# themselves when what is unresolved matters).
_DECIDE_PARTIALLY = frozenset({"Versioning", "EncryptionRules"})
PUBLIC_CANNED_ACLS = ("PublicRead", "PublicReadWrite", "AuthenticatedRead")
# AclConflict: a public canned ACL the template asks for, with the settings that make S3 reject
# the bucket at create time (the template still asks for public access: PublicRead / PublicWrite
# judge the request). Only the template source sets it.
OWN_FIELDS = frozenset({"Name", "Arn", "Region", "Location", "AccountId", "AclConflict", *BUCKET_PROPERTY_FIELDS})


def bucket_from_properties(name: Any, properties: dict[str, Any], resolver: Resolver | None,
                           account: str, region: str, assume_aws_defaults: bool = True,
                           self_name: str | None = None) -> dict[str, Any]:
    """A bucket resource from one AWS::S3::Bucket's own properties (intrinsics via `resolver`).
    `self_name` stands for the bucket's own name when `name` is only known at deploy time."""
    unresolved_name = name if isinstance(name, Unresolved) else None
    bucket = new_bucket(name if isinstance(name, str) else None, ResourceType="AWS.S3.Bucket",
                        AccountId=account, Region=region, Location=region)
    bucket["Arn"] = f"arn:aws:s3:::{bucket['Name']}" if bucket["Name"] else None
    if unresolved_name:
        mark_unknown(bucket, ["Name", "Arn"], f"BucketName: {unresolved_name.reason}")
    for field, reason in NOT_EXPRESSIBLE.items():
        mark_not_applicable(bucket, field, reason)
    properties = _whole_properties(properties, resolver)
    if isinstance(properties, Unresolved):
        mark_unknown(bucket, [*BUCKET_PROPERTY_FIELDS, "AclConflict"], f"Properties: {properties.reason}")
        return bucket
    defaulted = set()
    for field, (keys, convert) in BUCKET_PROPERTY_FIELDS.items():
        raw = {key: properties[key] for key in keys if key in properties}
        resolved = resolver.resolve(raw) if resolver else raw
        if field == "LoggingPolicy" and _logging_partly_known(resolved):
            # Logging is on; only where the logs go (or their prefix) is known at deploy time.
            config = resolved["LoggingConfiguration"]
            target, prefix = config.get("DestinationBucketName", self_name), config.get("LogFilePrefix", "")
            bucket[field] = {"TargetBucket": None if isinstance(target, Unresolved) else target,
                             "TargetPrefix": None if isinstance(prefix, Unresolved) else prefix}
            if isinstance(target, Unresolved):
                mark_unknown(bucket, "LoggingTarget", f"LoggingConfiguration.DestinationBucketName: {target.reason}")
            continue
        if field not in _DECIDE_PARTIALLY and (blocked := first_unresolved(resolved)) is not None:
            mark_unknown(bucket, field, f"{'/'.join(k for k in keys if k in resolved)}: {blocked.reason}")
            continue
        value = _convert(convert, resolved, bucket["Name"] or self_name, keys)
        if isinstance(value, Unresolved):
            mark_unknown(bucket, field, value.reason)
            continue
        if value is None and assume_aws_defaults and field in AWS_DEFAULTS:
            value = json.loads(json.dumps(AWS_DEFAULTS[field]))
            defaulted.add(field)
        bucket[field] = value
    acl = properties.get("AccessControl")
    bucket["AclConflict"] = _acl_conflict(bucket, resolver.resolve(acl) if resolver and acl is not None else acl,
                                          defaulted)
    return bucket


def _whole_properties(properties: Any, resolver: Resolver | None) -> dict[str, Any] | Unresolved:
    """Properties given as one intrinsic (Fn::If between two mappings) or filled by a macro
    (Fn::Transform / AWS::Include), resolved as a whole; a plain mapping as it is."""
    if not isinstance(properties, dict):
        return {}
    if resolver is None or not ("Fn::Transform" in properties or any(str(k).startswith("Fn::") for k in properties)):
        return properties
    resolved = resolver.resolve(properties)
    if isinstance(resolved, Unresolved | dict):
        return resolved
    return Unresolved(f"Properties resolve to a {type(resolved).__name__}, not a mapping")


def _acl_conflict(bucket: dict[str, Any], acl: Any, defaulted: set[str]) -> str | None:
    """Why S3 would reject the public canned ACL the template asks for, or None."""
    if acl not in PUBLIC_CANNED_ACLS or bucket[UNKNOWN].keys() & {"PublicAccessBlockConfiguration", "OwnershipControls"}:
        return None
    blocks = bucket.get("PublicAccessBlockConfiguration") or {}
    ownership = ((bucket.get("OwnershipControls") or {}).get("Rules") or [{}])[0].get("ObjectOwnership")
    conflicts = []
    if blocks.get("BlockPublicAcls") is True:
        conflicts.append("Block Public Access is not turned off (BlockPublicAcls"
                         f"{', the S3 default since April 2023' if 'PublicAccessBlockConfiguration' in defaulted else ''})")
    if ownership == "BucketOwnerEnforced":
        conflicts.append("object ownership is BucketOwnerEnforced, which disables ACLs"
                         f"{' (the S3 default since April 2023)' if 'OwnershipControls' in defaulted else ''}")
    if not conflicts:
        return None
    return f"AccessControl {acl} asks for public access, but {' and '.join(conflicts)}, so S3 rejects the bucket at create time"


def _convert(convert: Callable[[dict[str, Any], str | None], Any], resolved: dict[str, Any],
             name: str | None, keys: tuple[str, ...]) -> Any:
    """`convert`'s result, or Unresolved when a property has a shape CloudFormation would reject
    (a string where a mapping belongs, a mapping where a list does): no verdict from a guess."""
    try:
        return convert(resolved, name)
    except _Deciding as deciding:
        present = "/".join(key for key in keys if key in resolved)
        return Unresolved(f"{present}: {deciding.unresolved.reason}")
    except (AttributeError, TypeError, KeyError, ValueError):
        shapes = ", ".join(f"{key} is {type(resolved[key]).__name__}" for key in keys if key in resolved)
        present = "/".join(key for key in keys if key in resolved) or "/".join(keys)
        return Unresolved(f"{present} has an unexpected shape ({shapes}); CloudFormation would reject it")


def _logging_partly_known(resolved: dict[str, Any]) -> bool:
    """LoggingConfiguration is there (so logging is on) with only its destination or prefix unresolved."""
    config = resolved.get("LoggingConfiguration")
    if not isinstance(config, dict) or first_unresolved(config) is None:
        return False
    return first_unresolved({k: v for k, v in config.items() if k not in ("DestinationBucketName", "LogFilePrefix")}) is None



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
