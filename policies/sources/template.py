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
from pathlib import Path
from typing import Any

from detectors.common.errors import UserError
from policies.config import MIN_REASON, PostureSettings
from policies.coverage import trail_coverage
from policies.helpers import CannotDecide
from policies.model import UNKNOWN, mark_unknown
from policies.runner import ResourceRef, Subject
from policies.sources.cfn_load import Template, load_paths
from policies.sources.cfn_resolve import Resolver, Unresolved, first_unresolved
from policies.sources.cfn_resources import bucket_from_properties, trail_from_properties
from policies.sources.live_trails import selectors_coverage

BUCKET_TYPE = "AWS::S3::Bucket"
BUCKET_POLICY_TYPE = "AWS::S3::BucketPolicy"
TRAIL_TYPE = "AWS::CloudTrail::Trail"


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
        # Buckets whose name is only known at deploy time, by (template, logical id): a Ref to
        # one resolves to the token "${LogicalId}", which only means something in its template.
        self.by_token: dict[tuple[int, str], dict[str, Any]] = {}
        self.template_of: dict[int, int] = {}  # id(bucket) → id(its template)

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

    def _ref(self, template: Template, logical_id: str, resource: dict[str, Any]) -> ResourceRef:
        metadata = resource.get("Metadata") or {}
        return ResourceRef(
            id=f"{template.stack}/{logical_id}", source="template", logical_id=logical_id,
            construct_path=metadata.get("aws:cdk:path") or template.construct_paths.get(logical_id), stack=template.stack,
            file=_display_path(template.path), line=template.line_of(logical_id),
            region=template.region, account=template.account,
            suppressions=_suppressions(resource, f"{template.path}: {logical_id}"),
        )

    def share_exports(self) -> None:
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
        self.share_exports()
        for template in self.templates:
            resolver = self.resolver(template)
            for logical_id, resource in template.resources.items():
                if not isinstance(resource, dict) or self._condition_false(resource, resolver):
                    continue
                kind, props = resource.get("Type"), resource.get("Properties") or {}
                if kind == BUCKET_TYPE:
                    self._add_bucket(template, logical_id, resource, props, resolver)
                elif kind == TRAIL_TYPE:
                    trail = trail_from_properties(logical_id, props, template, resolver)
                    ref = self._ref(template, logical_id, resource)
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
        ref = self._ref(template, logical_id, resource)
        ref.name, ref.arn = bucket.get("Name"), bucket.get("Arn")
        self.buckets.append(Subject(bucket, ref))
        self.template_of[id(bucket)] = id(template)
        if bucket.get("Name"):
            self.by_name[bucket["Name"]] = bucket
        else:
            self.by_token[(id(template), "${" + logical_id + "}")] = bucket

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
            bucket = self.by_name.get(target) or self.by_token.get((id(template), target))
            if bucket is None:
                continue  # a bucket defined elsewhere
            document = _policy_document(resolver.resolve(props.get("PolicyDocument")))
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
        target = None
        if isinstance(name, str):
            target = self.by_name.get(name) or self.by_token.get((self.template_of[id(bucket)], name))
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
        try:
            fully = all(trail_coverage(bucket))
        except CannotDecide:
            fully = False
        if not fully:
            mark_unknown(bucket, "CoveringTrails",
                         "no trail in the checked templates records all of its data events, and trails defined "
                         "elsewhere (e.g. an organization trail) are not visible at synth time; "
                         "`bucketwatch scan` decides, or set posture.synth_trails_complete")


def _policy_document(document: Any) -> Any:
    """The policy as a mapping: CloudFormation also takes a JSON-typed property as a JSON string
    (e.g. from a parameter or a Fn::Sub over a whole document); any other shape is Unresolved."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return Unresolved("PolicyDocument is a string that is not a JSON document")
    if isinstance(document, Unresolved | dict):
        return document
    return Unresolved(f"PolicyDocument is a {type(document).__name__}, not a policy document")


def collect_template_subjects(paths: list[str | Path], settings: PostureSettings | None = None) -> list[Subject]:
    """Buckets and trails from the templates / cdk.out directories at `paths`."""
    return _Assembly(load_paths(paths), settings or PostureSettings()).collect()


def resolvers_for(templates: list[Template]) -> dict[Path, Resolver]:
    """Template path → the resolver `bucketwatch check` uses for it among `templates` (exports
    shared, nested-stack parameters from the parent): the checkov adapter's view of a template."""
    assembly = _Assembly(templates, PostureSettings())
    assembly.share_exports()
    return {template.path.resolve(): assembly.resolver(template) for template in templates}
