"""The template source: bucket and trail resources, as policies see them, from CloudFormation
templates and whole `cdk.out` assemblies — judged before anything is deployed.

Each bucket is assembled from several resources, across every stack given: its own
AWS::S3::Bucket properties, the AWS::S3::BucketPolicy whose Bucket resolves to it, the trails
whose data-event selectors cover it (`CoveringTrails`) and the bucket receiving its access logs
(`LoggingTarget`). A property that cannot be resolved before deployment marks its field unknown;
settings CloudFormation cannot express (MFA delete, the account's Block Public Access) are
marked not-applicable.

Suppressions may be written on the resource, e.g. in CDK
`bucket.node.default_child.add_metadata("bucketwatch", {"suppressions": [{"id": ..., "reason": ...}]})`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bucketwatch.errors import UserError
from policies.config import MIN_REASON, PostureSettings
from policies.model import (
    TRAIL_RESOURCE_TYPE,
    UNKNOWN,
    mark_not_applicable,
    mark_unknown,
    new_bucket,
)
from policies.runner import ResourceRef, Subject
from policies.sources.cfn_load import Template, load_paths
from policies.sources.cfn_resolve import Resolver, Unresolved, first_unresolved
from policies.sources.live_trails import selectors_coverage

BUCKET_TYPE = "AWS::S3::Bucket"
BUCKET_POLICY_TYPE = "AWS::S3::BucketPolicy"
TRAIL_TYPE = "AWS::CloudTrail::Trail"

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

def _encryption(props: dict[str, Any]) -> Any:
    rules = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
    if not rules:
        return None
    return [
        {"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": (rule.get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm"),
            "KMSMasterKeyID": (rule.get("ServerSideEncryptionByDefault") or {}).get("KMSMasterKeyID")},
         "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False))}
        for rule in rules
    ]


def _logging(props: dict[str, Any]) -> Any:
    config = props.get("LoggingConfiguration")
    if config is None:
        return None
    # No destination means the bucket logs into itself (CloudFormation's documented default).
    return {"TargetBucket": config.get("DestinationBucketName", props.get("__name__")),
            "TargetPrefix": config.get("LogFilePrefix", "")}


def _versioning(props: dict[str, Any]) -> Any:
    return (props.get("VersioningConfiguration") or {}).get("Status")


def _grants(props: dict[str, Any]) -> Any:
    acl = props.get("AccessControl", "Private")
    if acl not in CANNED_ACL_GRANTS:
        return Unresolved(f"unknown canned ACL {acl!r}")
    extra = [{"Grantee": {"Type": "Group", "URI": uri, "ID": None}, "Permission": p} for uri, p in CANNED_ACL_GRANTS[acl]]
    return [_OWNER_GRANT, *extra]


def _ownership(props: dict[str, Any]) -> Any:
    rules = (props.get("OwnershipControls") or {}).get("Rules")
    return {"Rules": [{"ObjectOwnership": r.get("ObjectOwnership")} for r in rules]} if rules else None


def _object_lock(props: dict[str, Any]) -> Any:
    config = props.get("ObjectLockConfiguration") or {}
    enabled = props.get("ObjectLockEnabled") in (True, "true", "True") or config.get("ObjectLockEnabled") == "Enabled"
    if not enabled:
        return None
    return {"ObjectLockEnabled": "Enabled", "Rule": config.get("Rule")}


def _lifecycle(props: dict[str, Any]) -> Any:
    rules = (props.get("LifecycleConfiguration") or {}).get("Rules")
    if not rules:
        return None
    converted = []
    for rule in rules:
        noncurrent = rule.get("NoncurrentVersionExpiration") or (
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
            "Transitions": rule.get("Transitions"),
            "AbortIncompleteMultipartUpload": rule.get("AbortIncompleteMultipartUpload"),
        })
    return converted


def _tags(props: dict[str, Any]) -> Any:
    return {t.get("Key"): t.get("Value") for t in props.get("Tags") or []}


# Field → (the properties it comes from, conversion). Only these are "own properties".
BUCKET_PROPERTY_FIELDS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Any]]] = {
    "EncryptionRules": (("BucketEncryption",), _encryption),
    "LoggingPolicy": (("LoggingConfiguration",), _logging),
    "Versioning": (("VersioningConfiguration",), _versioning),
    "PublicAccessBlockConfiguration": (("PublicAccessBlockConfiguration",),
                                       lambda p: p.get("PublicAccessBlockConfiguration")),
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
        value = convert({**resolved, "__name__": bucket["Name"]})
        if isinstance(value, Unresolved):
            mark_unknown(bucket, field, value.reason)
            continue
        if value is None and assume_aws_defaults and field in AWS_DEFAULTS:
            value = json.loads(json.dumps(AWS_DEFAULTS[field]))
        bucket[field] = value
    for field, reason in NOT_EXPRESSIBLE.items():
        mark_not_applicable(bucket, field, reason)
    return bucket


def _unresolved_destination_only(resolved: dict[str, Any]) -> bool:
    config = resolved.get("LoggingConfiguration")
    if not isinstance(config, dict) or not isinstance(config.get("DestinationBucketName"), Unresolved):
        return False
    return first_unresolved({k: v for k, v in config.items() if k != "DestinationBucketName"}) is None


# --- assembling across resources and stacks ---------------------------------------------------

def _resolved_or_unknown(resource: dict[str, Any], field: str, resolver: Resolver, value: Any) -> Any:
    resolved = resolver.resolve(value)
    if (blocked := first_unresolved(resolved)) is not None:
        mark_unknown(resource, field, blocked.reason)
        return None
    return resolved


def _trail(logical_id: str, props: dict[str, Any], template: Template, resolver: Resolver) -> dict[str, Any]:
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


def _suppressions(resource: dict[str, Any], where: str) -> list[dict[str, str]]:
    entries = ((resource.get("Metadata") or {}).get("bucketwatch") or {}).get("suppressions") or []
    if not isinstance(entries, list):
        raise UserError(f"{where}: Metadata.bucketwatch.suppressions must be a list of {{id, reason}}")
    found = []
    for entry in entries:
        reason = str((entry or {}).get("reason") or "").strip()
        if not isinstance(entry, dict) or not entry.get("id") or len(reason) < MIN_REASON:
            raise UserError(f"{where}: each suppression needs an id and a reason of at least {MIN_REASON} characters")
        found.append({"id": str(entry["id"]), "reason": reason})
    return found


def _display_path(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path.resolve()) if relative.startswith("..") else relative


class _Assembly:
    """All templates of one `check` run, indexed for cross-resource assembly."""

    def __init__(self, templates: list[Template], settings: PostureSettings) -> None:
        self.templates = templates
        self.settings = settings
        self.resolvers: dict[int, Resolver] = {}
        self.buckets: list[Subject] = []
        self.trails: list[Subject] = []
        self.by_name: dict[str, dict[str, Any]] = {}

    def resolver(self, template: Template) -> Resolver:
        key = id(template)
        if key not in self.resolvers:
            names = {lid: self._bucket_name(template, lid, res) for lid, res in template.resources.items()
                     if isinstance(res, dict) and res.get("Type") == BUCKET_TYPE}
            parent = self.resolver(template.parent) if template.parent else None
            resolver = Resolver(template, {k: v for k, v in names.items() if isinstance(v, str)}, parent=parent)
            resolver.unresolved_names = {k: v for k, v in names.items() if not isinstance(v, str)}
            self.resolvers[key] = resolver
        return self.resolvers[key]

    def _bucket_name(self, template: Template, logical_id: str, resource: dict[str, Any]) -> Any:
        explicit = (resource.get("Properties") or {}).get("BucketName")
        if explicit is None:
            # CloudFormation generates "<stack>-<logicalid>-<random>", lowercase, never with periods.
            return f"{template.stack.replace('/', '-')}-{logical_id}-generated".lower()
        bare = Resolver(template, {}, parent=self.resolver(template.parent) if template.parent else None)
        return bare.resolve(explicit)

    def _ref(self, template: Template, logical_id: str, resource: dict[str, Any], resolver: Resolver) -> ResourceRef:
        metadata = resource.get("Metadata") or {}
        return ResourceRef(
            id=f"{template.stack}/{logical_id}", source="template", logical_id=logical_id,
            construct_path=metadata.get("aws:cdk:path") or template.construct_paths.get(logical_id), stack=template.stack,
            file=_display_path(template.path), line=template.line_of(logical_id),
            region=template.region, account=template.account,
            suppressions=_suppressions(resource, f"{template.path}: {logical_id}"),
        )

    def _share_exports(self) -> None:
        """Outputs with Export names, so Fn::ImportValue between stacks resolves (CDK cross-stack refs)."""
        exports: dict[str, Any] = {}
        for template in self.templates:
            resolver = self.resolver(template)
            resolver.exports = exports
            for output in (template.body.get("Outputs") or {}).values():
                name = resolver.resolve(((output or {}).get("Export") or {}).get("Name"))
                value = resolver.resolve((output or {}).get("Value"))
                if isinstance(name, str) and first_unresolved(value) is None:
                    exports[name] = value

    def collect(self) -> list[Subject]:
        policies: list[tuple[Template, str, dict[str, Any]]] = []
        self._share_exports()
        for template in self.templates:
            resolver = self.resolver(template)
            for logical_id, resource in template.resources.items():
                if not isinstance(resource, dict) or self._condition_false(resource, resolver):
                    continue
                kind, props = resource.get("Type"), resource.get("Properties") or {}
                if kind == BUCKET_TYPE:
                    self._add_bucket(template, logical_id, resource, props, resolver)
                elif kind == TRAIL_TYPE:
                    trail = _trail(logical_id, props, template, resolver)
                    ref = self._ref(template, logical_id, resource, resolver)
                    ref.name, ref.arn = trail["Name"], trail["TrailARN"]
                    self.trails.append(Subject(trail, ref))
                elif kind == BUCKET_POLICY_TYPE:
                    policies.append((template, logical_id, props))
        self._attach_policies(policies)
        for subject in self.buckets:
            self._attach_logging_target(subject.resource)
            self._attach_trails(subject.resource)
        return self.buckets + self.trails

    @staticmethod
    def _condition_false(resource: dict[str, Any], resolver: Resolver) -> bool:
        condition = resource.get("Condition")
        return bool(condition) and resolver.condition(condition) is False

    def _add_bucket(self, template: Template, logical_id: str, resource: dict[str, Any],
                    props: dict[str, Any], resolver: Resolver) -> None:
        name = resolver.bucket_names.get(logical_id) or resolver.unresolved_names.get(logical_id)
        bucket = bucket_from_properties(name, props, resolver, resolver.pseudo("AWS::AccountId"),
                                        resolver.pseudo("AWS::Region"), self.settings.template_assume_aws_defaults)
        bucket["Policy"] = None
        ref = self._ref(template, logical_id, resource, resolver)
        ref.name, ref.arn = bucket.get("Name"), bucket.get("Arn")
        self.buckets.append(Subject(bucket, ref))
        if bucket.get("Name"):
            self.by_name[bucket["Name"]] = bucket

    def _attach_policies(self, policies: list[tuple[Template, str, dict[str, Any]]]) -> None:
        for template, logical_id, props in policies:
            resolver = self.resolver(template)
            target = resolver.resolve(props.get("Bucket"))
            if not isinstance(target, str):
                reason = target.reason if isinstance(target, Unresolved) else "Bucket is not a string"
                for subject in self.buckets:  # it may belong to any bucket without a known policy
                    if subject.ref.file == _display_path(template.path) and not subject.resource.get("Policy"):
                        mark_unknown(subject.resource, "Policy", f"BucketPolicy {logical_id} targets an unresolvable bucket: {reason}")
                continue
            bucket = self.by_name.get(target)
            if bucket is None:
                continue  # a bucket defined elsewhere
            document = resolver.resolve(props.get("PolicyDocument"))
            if (blocked := first_unresolved(document)) is not None:
                mark_unknown(bucket, "Policy", f"BucketPolicy {logical_id}: {blocked.reason}")
            elif bucket.get("Policy"):
                mark_unknown(bucket, "Policy", f"several BucketPolicy resources target {target}; only one can apply")
            elif "Policy" not in bucket[UNKNOWN]:
                bucket["Policy"] = json.dumps(document)

    def _attach_logging_target(self, bucket: dict[str, Any]) -> None:
        logging = bucket.get("LoggingPolicy")
        if "LoggingTarget" in bucket[UNKNOWN]:
            return
        if "LoggingPolicy" in bucket[UNKNOWN] or not logging:
            bucket["LoggingTarget"] = None
            return
        name = logging.get("TargetBucket")
        target = self.by_name.get(name) if isinstance(name, str) else None
        if target is None:
            mark_unknown(bucket, "LoggingTarget", f"target bucket {name} is not defined in the checked templates")
            return
        needed = ("Region", "EncryptionRules", "ObjectLockConfiguration")
        unknown = [f"{f}: {target[UNKNOWN][f]}" for f in needed if f in target[UNKNOWN]]
        if unknown:
            mark_unknown(bucket, "LoggingTarget", f"target bucket {name}: {'; '.join(unknown)}")
            return
        bucket["LoggingTarget"] = {"Name": name, "Exists": True, **{f: target.get(f) for f in needed}}

    def _attach_trails(self, bucket: dict[str, Any]) -> None:
        name = bucket.get("Name")
        covering = []
        for subject in self.trails:
            trail = subject.resource
            undecided = any(f in trail[UNKNOWN] for f in ("EventSelectors", "AdvancedEventSelectors"))
            if undecided or any(selectors_coverage(trail.get("EventSelectors"), trail.get("AdvancedEventSelectors"), name)):
                covering.append(trail)
        bucket["CoveringTrails"] = covering
        if self.settings.synth_trails_complete or bucket.get("LoggingPolicy"):
            return
        from policies.s3.monitoring_coverage import trail_coverage  # the policy's own definition of "covered"

        try:
            fully = all(trail_coverage(bucket))
        except Exception:
            fully = False
        if not fully:
            mark_unknown(bucket, "CoveringTrails",
                         "no trail in the checked templates records all of its data events, and trails defined "
                         "elsewhere (e.g. an organization trail) are not visible at synth time; "
                         "`bucketwatch scan` decides, or set posture.synth_trails_complete")


def collect_template_subjects(paths: list[str | Path], settings: PostureSettings | None = None) -> list[Subject]:
    """Buckets and trails from the templates / cdk.out directories at `paths`."""
    return _Assembly(load_paths(paths), settings or PostureSettings()).collect()


def resolver_for(template: Template) -> Resolver:
    """The resolver `bucketwatch check` uses for `template` on its own (the checkov adapter's view)."""
    return _Assembly([template], PostureSettings()).resolver(template)
