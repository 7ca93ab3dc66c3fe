"""One generic checkov check class; one instance per eligible Bucketwatch policy.

checkov hands a check one resource's raw configuration (intrinsics unresolved) and the
entity path `/file:Type:LogicalId`. The adapter loads that template once (cached), resolves
the bucket's properties with the template source's resolver, builds the same bucket resource
`bucketwatch check` builds from those properties, and judges it with the same runner function.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from checkov.cloudformation.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

from detectors.common.errors import UserError
from policies.checkov import checkov_id
from policies.config import PostureSettings, load_settings
from policies.registry import PolicyDef, policies_for
from policies.runner import FAIL, PASS, judge_variants
from policies.sources.cfn_load import Template, load_assembly, load_template_file
from policies.sources.cfn_resolve import Resolver
from policies.sources.cfn_resources import NOT_EXPRESSIBLE, OWN_FIELDS
from policies.sources.template import own_bucket_variants, resolvers_for

RESULTS = {PASS: CheckResult.PASSED, FAIL: CheckResult.FAILED}


def eligible(policy: PolicyDef) -> bool:
    """Policies judging a bucket from its own properties only (and expressible in CloudFormation)."""
    reads = set(policy.fields or ()) | set(policy.optional_fields)
    return (policy.fields is not None and "AWS.S3.Bucket" in policy.resource_types
            and reads <= OWN_FIELDS and not reads & set(NOT_EXPRESSIBLE))


@lru_cache(maxsize=1)
def settings() -> PostureSettings:
    try:
        return load_settings(os.environ.get("BUCKETWATCH_CONFIG"))
    except UserError:
        return PostureSettings()


@lru_cache(maxsize=32)
def _templates_in(directory: str, file_name: str) -> dict[Path, tuple[Template, Resolver]]:
    """The templates a file belongs with: its whole cloud assembly when it is in one, else itself."""
    try:
        if (Path(directory) / "manifest.json").is_file():
            templates = load_assembly(Path(directory))
        else:
            templates = [load_template_file(Path(directory) / file_name)]
    except UserError:
        return {}
    resolvers = resolvers_for(templates)
    return {t.path.resolve(): (t, resolvers[t.path.resolve()]) for t in templates}


def _template(path: str) -> tuple[Template, Resolver] | None:
    file = Path(path).resolve()
    return _templates_in(str(file.parent), file.name).get(file)


def _marked_file(conf: Any) -> str | None:
    """The `__file__` checkov's parser stamps on configuration nodes (the path as checkov opened it)."""
    if isinstance(conf, dict):
        if isinstance(conf.get("__file__"), str):
            return conf["__file__"]
        values: Any = conf.values()
    elif isinstance(conf, list):
        values = conf
    else:
        return None
    return next((found for value in values if (found := _marked_file(value))), None)


def _locate(entity_path: str, conf: dict[str, Any]) -> tuple[str, str]:
    """(template file, logical id) from checkov's entity path `/file:AWS::S3::Bucket:Logical`."""
    file_part, _, logical_id = entity_path.rpartition(":")
    file_name = file_part.rsplit(":AWS::", 1)[0]
    for candidate in (_marked_file(conf), file_name, file_name.lstrip("/")):
        if candidate and os.path.isfile(candidate):
            return candidate, logical_id
    return file_name, logical_id


def _plain(value: Any) -> Any:
    """checkov's nodes without its __file__/__startline__/__endline__ bookkeeping."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class BucketwatchCheck(BaseResourceCheck):
    def __init__(self, policy: PolicyDef) -> None:
        self.policy = policy
        super().__init__(name=f"{policy.title} (Bucketwatch {policy.id})", id=checkov_id(policy.id),
                         categories=[CheckCategories.GENERAL_SECURITY], supported_resources=["AWS::S3::Bucket"],
                         guideline=policy.reference or None)

    def buckets(self, conf: dict[str, Any]) -> list[tuple[dict[str, str], dict[str, Any]]]:
        """The bucket in every world it can deploy as, exactly as `bucketwatch check` builds it."""
        file_name, logical_id = _locate(self.entity_path or "", conf)
        loaded = _template(file_name)
        template, resolver = loaded if loaded else (None, Resolver(Template(Path(file_name), {}, "template"), {}))
        resource = (template.resources.get(logical_id) if template else None) or _plain(conf)
        return own_bucket_variants(resolver.template, resolver, logical_id, resource, settings())

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        status, reason = judge_variants(self.policy, self.buckets(conf), settings().policy_config())
        self.details = [reason] if reason else []
        return RESULTS.get(status, CheckResult.UNKNOWN)


def checks_for(posture: PostureSettings) -> list[PolicyDef]:
    """The policies that become checks: the eligible ones of the configured pack and selection
    (`posture.pack`, `policies`, `disabled_policies`), as `bucketwatch check` would run them."""
    return [policy for policy in policies_for(posture) if eligible(policy)]


def register_all() -> list[BucketwatchCheck]:
    """Instantiate (and so register with checkov) one check per eligible policy."""
    return [BucketwatchCheck(policy) for policy in checks_for(settings())]
