"""The template source: bucket and trail resources, as policies see them, from CloudFormation
templates and whole `cdk.out` assemblies — judged before anything is deployed.

Each bucket is assembled from several resources, across every stack given: its own
AWS::S3::Bucket properties, the AWS::S3::BucketPolicy whose Bucket resolves to it, the trails
whose data-event selectors cover it (`CoveringTrails`) and the bucket receiving its access logs
(`LoggingTarget`). A property that cannot be resolved before deployment marks its field unknown;
settings CloudFormation cannot express (MFA delete, the account's Block Public Access) are
marked not-applicable.

Suppressions may be written on the resource, e.g. in CDK
`bucket.node.default_child.add_metadata("bucketwatch", {"suppressions": [{"id": ..., "reason": ...}]})`,
or as CDK acknowledgements (`Validations.of(c).acknowledge(...)`); see `cfn_cdk`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.config import PostureSettings
from policies.coverage import trail_coverage
from policies.helpers import CannotDecide
from policies.model import (
    BUCKET_POLICY_RESOURCE_TYPE,
    NOT_APPLICABLE,
    PARTIAL,
    UNDETERMINED_KEY,
    UNKNOWN,
    mark_unknown,
)
from policies.runner import ResourceRef, Subject
from policies.sources.cfn_cdk import Acknowledgements, metadata_suppressions, source_location
from policies.sources.cfn_load import Template, load_paths
from policies.sources.cfn_resolve import NO_VALUE, Resolver, Unresolved, first_unresolved
from policies.sources.cfn_resources import bucket_from_properties, trail_from_properties
from policies.sources.cfn_worlds import World, enumerate_worlds
from policies.sources.live_trails import selectors_coverage

BUCKET_TYPE = "AWS::S3::Bucket"
BUCKET_POLICY_TYPE = "AWS::S3::BucketPolicy"
TRAIL_TYPE = "AWS::CloudTrail::Trail"


def _display_path(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path.resolve()) if relative.startswith("..") else relative


@dataclass
class _Definition:
    """One resource of one template, as the assembly goes through them."""

    template: Template
    logical_id: str
    resource: dict[str, Any]

    @property
    def properties(self) -> dict[str, Any]:
        props = self.resource.get("Properties")
        return props if isinstance(props, dict) else {}

    @property
    def key(self) -> tuple[int, str]:
        return id(self.template), self.logical_id


class _Assembly:
    """All templates of one `check` run, indexed for cross-resource assembly."""

    def __init__(self, templates: list[Template], settings: PostureSettings) -> None:
        self.templates = templates
        self.settings = settings
        self.resolvers: dict[int, Resolver] = {}
        self.buckets: list[Subject] = []
        self.trails: list[Subject] = []
        self.policies: list[Subject] = []  # bucket policies of buckets outside the templates
        self.by_name: dict[str, _Definition] = {}
        # Buckets whose name is only known at deploy time, by (template, logical id): a Ref to
        # one resolves to the token "${LogicalId}", which only means something in its template.
        self.by_token: dict[tuple[int, str], _Definition] = {}
        self.subject_of: dict[tuple[int, str], Subject] = {}  # bucket definition key -> its subject
        self.template_of: dict[int, Template] = {}  # id(bucket resource) -> its template
        self.acknowledgements = Acknowledgements()
        self._shown: dict[int, str] = {}  # id(template) -> its path as reports show it

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
        props = resource.get("Properties")
        explicit = props.get("BucketName") if isinstance(props, dict) else None
        if explicit is None:
            return _generated_name(template, logical_id)
        bare = Resolver(template, {}, parent=self.resolver(template.parent) if template.parent else None)
        return bare.resolve(explicit)

    def _ref(self, definition: _Definition) -> ResourceRef:
        template, logical_id, resource = definition.template, definition.logical_id, definition.resource
        metadata = resource.get("Metadata") if isinstance(resource.get("Metadata"), dict) else {}
        path = metadata.get("aws:cdk:path") or template.construct_paths.get(logical_id)
        construct_path = path if isinstance(path, str) else None
        resource_id = f"{template.stack}/{logical_id}"
        source = source_location(template, construct_path)
        return ResourceRef(
            id=resource_id, source="template", logical_id=logical_id, construct_path=construct_path,
            stack=template.stack, file=self._shown_path(template), line=template.line_of(logical_id),
            region=template.region, account=template.account,
            source_file=source[0] if source else None, source_line=source[1] if source else None,
            suppressions=[*metadata_suppressions(resource, f"{template.path}: {logical_id}", resource_id),
                          *self.acknowledgements.for_path(template, construct_path)],
        )

    def _shown_path(self, template: Template) -> str:
        if id(template) not in self._shown:
            self._shown[id(template)] = _display_path(template.path)
        return self._shown[id(template)]

    def share_exports(self) -> None:
        """Outputs with Export names, so Fn::ImportValue between stacks resolves (CDK cross-stack refs)."""
        exports: dict[str, Any] = {}
        for template in self.templates:
            resolver = self.resolver(template)
            resolver.exports = exports
            outputs = template.body.get("Outputs")
            for output in (outputs.values() if isinstance(outputs, dict) else ()):
                if not isinstance(output, dict) or not isinstance(output.get("Export"), dict):
                    continue
                name = resolver.resolve(output["Export"].get("Name"))
                value = resolver.resolve(output.get("Value"))
                if isinstance(name, str) and first_unresolved(value) is None:
                    exports[name] = value

    def collect(self) -> list[Subject]:
        self.share_exports()
        buckets: list[_Definition] = []
        policies: list[_Definition] = []
        for template in self.templates:
            resolver = self.resolver(template)
            for logical_id, resource in template.resources.items():
                if not isinstance(resource, dict) or self._condition_false(resource, resolver):
                    continue
                definition = _Definition(template, logical_id, resource)
                kind = resource.get("Type")
                if kind == BUCKET_TYPE:
                    buckets.append(definition)
                    self._index(definition)
                elif kind == TRAIL_TYPE:
                    self._add_trail(definition)
                elif kind == BUCKET_POLICY_TYPE:
                    policies.append(definition)
        attached, maybe = self._policy_targets(policies)
        for definition in buckets:
            self._add_bucket(definition, attached.get(definition.key, []), maybe.get(definition.key, []))
        for subject in self.buckets:
            for _, bucket in subject.worlds():
                self._attach_logging_target(bucket)
                self._attach_trails(bucket)
        return self.buckets + self.policies + self.trails

    @staticmethod
    def _condition_false(resource: dict[str, Any], resolver: Resolver) -> bool:
        condition = resource.get("Condition")
        return bool(condition) and resolver.condition(condition) is False

    def _index(self, definition: _Definition) -> None:
        resolver = self.resolver(definition.template)
        name = resolver.bucket_names.get(definition.logical_id)
        if name:
            self.by_name[name] = definition
        else:
            self.by_token[(id(definition.template), "${" + definition.logical_id + "}")] = definition

    def _find_bucket(self, template: Template, name: Any) -> _Definition | None:
        if not isinstance(name, str):
            return None
        return self.by_name.get(name) or self.by_token.get((id(template), name))

    def _add_trail(self, definition: _Definition) -> None:
        template = definition.template
        # Inside a resource with a Condition, that condition holds.
        resolver = self.resolver(template).in_world(None, holds=_own_condition(definition.resource))
        trail = trail_from_properties(definition.logical_id, definition.properties, template, resolver)
        ref = self._ref(definition)
        ref.name, ref.arn = trail["Name"], trail["TrailARN"]
        self.trails.append(Subject(trail, ref))

    # -- buckets, in every world they can deploy as ------------------------------------------------

    def _add_bucket(self, definition: _Definition, policies: list[_Definition], maybe: list[str]) -> None:
        template = definition.template

        def build(world: World) -> dict[str, Any] | None:
            resolver = _resolver_within(self.resolver(template), definition.resource, world)
            if resolver is None:
                return None  # the bucket does not exist in this world
            bucket = own_bucket(definition, resolver, self.settings)
            self._attach_policies(bucket, policies, maybe, world)
            return bucket

        variants = [(world.described(), bucket) for world, bucket in enumerate_worlds(build) if bucket is not None]
        if not variants:
            return
        ref = self._ref(definition)
        ref.name, ref.arn = variants[0][1].get("Name"), variants[0][1].get("Arn")
        subject = Subject(variants[0][1], ref, variants if len(variants) > 1 else None)
        self.buckets.append(subject)
        self.subject_of[definition.key] = subject
        for _, bucket in variants:
            self.template_of[id(bucket)] = template

    def _policy_targets(self, policies: list[_Definition]) -> tuple[dict[tuple[int, str], list[_Definition]],
                                                                      dict[tuple[int, str], list[str]]]:
        """Bucket definition -> the BucketPolicy resources attached to it, and -> reasons why a
        policy whose target is only known at deploy time may be attached to it. A policy on a
        bucket outside the templates becomes a subject of its own."""
        attached: dict[tuple[int, str], list[_Definition]] = {}
        maybe: dict[tuple[int, str], list[str]] = {}
        for policy in policies:
            resolver = self.resolver(policy.template).in_world(None, holds=_own_condition(policy.resource))
            raw_target = policy.properties.get("Bucket")
            target = resolver.resolve(raw_target)
            bucket = self._find_bucket(policy.template, target) or self._same_expression(policy.template, raw_target)
            if bucket is not None:
                attached.setdefault(bucket.key, []).append(policy)
                continue
            if isinstance(target, str):
                self._add_external_policy(policy, target, None)
                continue
            reason = target.reason if isinstance(target, Unresolved) else "Bucket is not a string"
            self._add_external_policy(policy, None, reason)
            for candidate in self._candidates(policy.template):
                maybe.setdefault(candidate.key, []).append(
                    f"BucketPolicy {policy.logical_id} targets a bucket only known at deploy time ({reason}), "
                    "which may be this one")
        return attached, maybe

    def _same_expression(self, template: Template, raw_target: Any) -> _Definition | None:
        """The bucket whose BucketName is written exactly as the policy's Bucket (both the same
        parameter, say): the same bucket, whatever the value is at deploy time."""
        if raw_target is None:
            return None
        for logical_id, resource in template.resources.items():
            props = resource.get("Properties") if isinstance(resource, dict) else None
            if resource.get("Type") == BUCKET_TYPE and isinstance(props, dict) and props.get("BucketName") == raw_target:
                return self.by_token.get((id(template), "${" + logical_id + "}")) or self._find_bucket(
                    template, self.resolver(template).bucket_names.get(logical_id))
        return None

    def _candidates(self, template: Template) -> list[_Definition]:
        """Buckets of `template` a deploy-time bucket name could designate: those with a
        BucketName (a generated name is random, so no parameter can name it in advance)."""
        found = []
        for definition in [*self.by_name.values(), *self.by_token.values()]:
            props = definition.properties
            if definition.template is template and "BucketName" in props:
                found.append(definition)
        return found

    def _attach_policies(self, bucket: dict[str, Any], policies: list[_Definition], maybe: list[str],
                         world: World) -> None:
        documents = []
        for policy in policies:
            resolver = _resolver_within(self.resolver(policy.template), policy.resource, world)
            if resolver is not None:
                documents.append((policy.logical_id, _policy_document(resolver.resolve(policy.properties.get("PolicyDocument")))))
        if len(documents) > 1:
            mark_unknown(bucket, "Policy", f"several BucketPolicy resources ({', '.join(d[0] for d in documents)}) target "
                                           "this bucket; only one can apply")
        elif documents:
            set_policy(bucket, *documents[0])
        elif maybe:
            mark_unknown(bucket, "Policy", maybe[0])
        else:
            bucket["Policy"] = None

    def _add_external_policy(self, policy: _Definition, name: str | None, reason: str | None) -> None:
        """A bucket policy whose bucket is not in the templates: the policy-only checks judge it."""
        template = policy.template
        base = self.resolver(template)

        def build(world: World) -> dict[str, Any] | None:
            resolver = _resolver_within(base, policy.resource, world)
            if resolver is None:
                return None
            resource = {"ResourceType": BUCKET_POLICY_RESOURCE_TYPE, "Name": name, UNKNOWN: {}, NOT_APPLICABLE: {},
                        "Arn": f"arn:aws:s3:::{name}" if name else None,
                        "AccountId": base.pseudo("AWS::AccountId"), "Region": base.pseudo("AWS::Region")}
            if name is None:
                mark_unknown(resource, ["Name", "Arn"], f"Bucket: {reason}")
            set_policy(resource, policy.logical_id,
                       _policy_document(resolver.resolve(policy.properties.get("PolicyDocument"))))
            return resource

        variants = [(world.described(), resource) for world, resource in enumerate_worlds(build) if resource is not None]
        if not variants:
            return
        ref = self._ref(policy)
        ref.name, ref.arn = name, variants[0][1]["Arn"]
        ref.context = (f"bucket policy of bucket {name}, which is not in the checked templates" if name else
                       f"bucket policy of a bucket only known at deploy time ({reason})")
        self.policies.append(Subject(variants[0][1], ref, variants if len(variants) > 1 else None))

    # -- what one bucket's judgement needs from other resources ------------------------------------

    def _attach_logging_target(self, bucket: dict[str, Any]) -> None:
        logging = bucket.get("LoggingPolicy")
        if "LoggingTarget" in bucket[UNKNOWN]:
            return
        if "LoggingPolicy" in bucket[UNKNOWN] or not logging:
            bucket["LoggingTarget"] = None
            return
        name = logging.get("TargetBucket")
        definition = self._find_bucket(self.template_of[id(bucket)], name)
        target = self.subject_of.get(definition.key) if definition else None
        if target is None:
            shown = name if isinstance(name, str) else "(name not known)"
            mark_unknown(bucket, "LoggingTarget", f"target bucket {shown} is not defined in the checked templates")
            return
        fields: dict[str, Any] = {}
        for field in ("Region", "EncryptionRules", "ObjectLockConfiguration"):
            value, problem = _agreed(target, field)
            if problem:
                mark_unknown(bucket, "LoggingTarget", f"target bucket {target.ref.name or name}: {field}: {problem}")
                return
            fields[field] = value
        self_logging = any(variant is bucket for _, variant in target.worlds())
        bucket["LoggingTarget"] = {"Name": target.ref.name or name, "Exists": True, "Self": self_logging, **fields}

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


def _generated_name(template: Template, logical_id: str) -> str:
    # CloudFormation generates "<stack>-<logicalid>-<random>", lowercase, never with periods.
    return f"{template.stack.replace('/', '-')}-{logical_id}-generated".lower()


def _own_condition(resource: dict[str, Any]) -> tuple[str, ...]:
    condition = resource.get("Condition")
    return (condition,) if isinstance(condition, str) else ()


def _resolver_within(base: Resolver, resource: dict[str, Any], world: World) -> Resolver | None:
    """`base` in `world`, inside `resource`: None when its Condition is false in this world;
    when the world cannot decide that condition (too many choices), the condition holds."""
    resolver = base.in_world(world)
    condition = resource.get("Condition")
    if not isinstance(condition, str):
        return resolver
    exists = resolver.condition(condition)
    if exists is False:
        return None
    return resolver if exists is True else base.in_world(world, holds=(condition,))


def _agreed(subject: Subject, field: str) -> tuple[Any, str | None]:
    """The value of `field` on every world of `subject`, or why there is no single one."""
    values = []
    for _, resource in subject.worlds():
        if field in resource[UNKNOWN]:
            return None, resource[UNKNOWN][field]
        values.append(resource.get(field))
    if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
        return None, "differs between the ways the template can deploy"
    return values[0], None


def own_bucket(definition: _Definition, resolver: Resolver, settings: PostureSettings) -> dict[str, Any]:
    """The bucket from its own properties, resolved by `resolver` (one world)."""
    logical_id = definition.logical_id
    name = resolver.bucket_names.get(logical_id) or resolver.unresolved_names.get(logical_id)
    if isinstance(name, Unresolved) and resolver.world is not None:  # this world may decide it
        chosen = resolver.resolve(definition.properties.get("BucketName"))
        name = _generated_name(definition.template, logical_id) if chosen is NO_VALUE else \
            chosen if isinstance(chosen, str) else name
    return bucket_from_properties(name, definition.properties, resolver, resolver.pseudo("AWS::AccountId"),
                                  resolver.pseudo("AWS::Region"), settings.template_assume_aws_defaults,
                                  self_name="${" + logical_id + "}")


def own_bucket_variants(template: Template, resolver: Resolver, logical_id: str, resource: dict[str, Any],
                        settings: PostureSettings) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """The bucket from its own properties in every world it can deploy as (the checkov adapter's view)."""
    definition = _Definition(template, logical_id, resource)

    def build(world: World) -> dict[str, Any] | None:
        within = _resolver_within(resolver, resource, world)
        return own_bucket(definition, within, settings) if within is not None else None

    return [(world.described(), bucket) for world, bucket in enumerate_worlds(build) if bucket is not None]


def set_policy(resource: dict[str, Any], logical_id: str, document: Any) -> None:
    """Put a bucket policy on `resource` as the S3 API returns it (a JSON string). Parts only known
    at deploy time become undetermined markers (`Partial`), so statements that settle a verdict
    on their own still do; a document that is unusable as a whole makes the field unknown."""
    if isinstance(document, Unresolved):
        mark_unknown(resource, "Policy", f"BucketPolicy {logical_id}: {document.reason}")
        return
    blocked = first_unresolved(document)
    resource["Policy"] = json.dumps(document if blocked is None else _marked(document, logical_id))
    if blocked is not None:
        resource.setdefault(PARTIAL, {})["Policy"] = f"BucketPolicy {logical_id}: {blocked.reason}"


def _marked(value: Any, logical_id: str) -> Any:
    if isinstance(value, Unresolved):
        return {UNDETERMINED_KEY: f"BucketPolicy {logical_id}: {value.reason}"}
    if isinstance(value, dict):
        return {key: _marked(item, logical_id) for key, item in value.items()}
    if isinstance(value, list):
        return [_marked(item, logical_id) for item in value]
    return value


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


def collect_template_subjects(paths: list[str | Path], settings: PostureSettings | None = None,
                              acknowledgements: dict[str, dict[str, str]] | None = None) -> list[Subject]:
    """Buckets, trails and bucket policies of buckets elsewhere, from the templates / cdk.out
    directories at `paths`; `acknowledgements` adds CDK acknowledgements the assembly does not
    record (on a Stage or the App: construct path -> {rule id: reason})."""
    templates = load_paths(paths)
    for template in templates:
        for path, rules in (acknowledgements or {}).items():
            template.acknowledgements.setdefault(path.strip("/"), {}).update(rules)
    return _Assembly(templates, settings or PostureSettings()).collect()


def resolvers_for(templates: list[Template]) -> dict[Path, Resolver]:
    """Template path → the resolver `bucketwatch check` uses for it among `templates` (exports
    shared, nested-stack parameters from the parent): the checkov adapter's view of a template."""
    assembly = _Assembly(templates, PostureSettings())
    assembly.share_exports()
    return {template.path.resolve(): assembly.resolver(template) for template in templates}
