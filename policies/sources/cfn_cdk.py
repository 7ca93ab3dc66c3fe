"""What a CDK cloud assembly records about the user's code, read for the template source:
suppressions (template metadata and CDK acknowledgements) and where each construct was created.

- `Metadata.bucketwatch.suppressions[{id, reason, owner?, expires?}]` on a resource.
- `Validations.of(construct).acknowledge(Acknowledgment(id="bucketwatch::BW.S3.Logging", reason=...))`:
  CDK records it as `aws:cdk:acknowledged-rules` metadata of that construct, in the stack
  artifact's metadata (manifest.json or its `additionalMetadataFile`); acknowledgements on a
  Stage or the App appear only in `validation-report.json`, for the violations the synth gate
  reported (see `cfn_load`). CDK applies an acknowledgement to the construct and everything under
  it, the closest one per rule winning, and only when its id is the plugin's rule name with the
  plugin's prefix: exactly so here, so `bucketwatch check cdk.out` and the synth gate agree.
- `aws:cdk:creationStack`: the frames that created a construct. With `JSII_HOST_STACK_TRACES=1`
  (Python, Java, .NET apps) or in TypeScript apps they include the user's own file and line.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

from detectors.common import validate
from policies.config import CDK, METADATA, Suppression, suppression
from policies.sources.cfn_load import Template

PLUGIN_PREFIX = "bucketwatch::"
ANNOTATION_PREFIX = "Annotation::"  # what CDK makes of an id written without a prefix
_POLICY_ID = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){2,}$")  # BW.S3.Logging, AWS.S3.Bucket.Versioning
_FRAME = re.compile(r"\((?P<file>[^()]+?):(?P<line>\d+)(?::\d+)?\)\s*$")
_NOT_USER_CODE = ("node_modules", "site-packages", "dist-packages", "node:", "<frozen", "/jsii/", "\\jsii\\")


def metadata_suppressions(resource: dict[str, Any], where: str, resource_id: str) -> list[Suppression]:
    """`Metadata.bucketwatch.suppressions` of one resource, validated (one-line errors naming the key)."""
    metadata = resource.get("Metadata")
    section = metadata.get("bucketwatch") if isinstance(metadata, dict) else None
    if section is None:
        return []
    where = f"{where}: Metadata.bucketwatch"
    section = validate.mapping(section, where)  # other keys are others' (infra marks log buckets' role)
    for key in section:
        if key != "suppressions" and difflib.get_close_matches(str(key), ["suppressions"], cutoff=0.8):
            raise validate.fail(where, f"unknown key {key} (did you mean suppressions?)")
    entries = validate.optional(section, "suppressions", lambda v, at: validate.listed(v, at, lambda e, _: e), where, [])
    return [suppression(entry, f"{where}.suppressions[{index}]", METADATA, resource_id, id_key="id")
            for index, entry in enumerate(entries)]


class Acknowledgements:
    """CDK acknowledgements as suppressions, one object per (construct path, rule), shared by
    every resource under that path (so a Stack-wide acknowledgement is reported once)."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str], Suppression] = {}

    def for_path(self, template: Template, construct_path: str | None) -> list[Suppression]:
        """The acknowledgements that apply to the resource at `construct_path`: per rule, the one
        on the closest construct at or above it."""
        if construct_path is None or not template.acknowledgements:
            return []
        found: dict[str, Suppression] = {}
        for path in _self_and_ancestors(construct_path.strip("/")):
            for rule, reason in template.acknowledgements.get(path, {}).items():
                if rule not in found and (made := self._suppression(path, rule, reason)) is not None:
                    found[rule] = made
        return list(found.values())

    def _suppression(self, path: str, rule: str, reason: str) -> Suppression | None:
        key = (path, rule)
        if key not in self._made:
            made = _acknowledgement(path, rule, reason)
            if made is None:
                return None
            self._made[key] = made
        return self._made[key]


def _acknowledgement(path: str, rule: str, reason: str) -> Suppression | None:
    where = f"Validations.of({path or 'the app'}).acknowledge({rule!r})"
    if rule.startswith(PLUGIN_PREFIX):
        return Suppression(rule[len(PLUGIN_PREFIX):], path or "*", reason, origin=CDK, where=where, panther_ids=False)
    name = rule[len(ANNOTATION_PREFIX):] if rule.startswith(ANNOTATION_PREFIX) else None
    if name and _POLICY_ID.match(name):  # meant for us, but CDK will not apply it to our findings
        return Suppression(name, path or "*", reason, origin=CDK, where=where, panther_ids=False,
                           problem=f"CDK applies an id without a prefix to construct annotations only; "
                                   f"acknowledge '{PLUGIN_PREFIX}{name}' instead")
    return None  # another plugin's rule (cdk-nag's AwsSolutions-S1, CloudFormation-Validate::W3045, ...)


def _self_and_ancestors(path: str) -> list[str]:
    parts = path.split("/") if path else []
    return ["/".join(parts[:end]) for end in range(len(parts), -1, -1)]


def source_location(template: Template, construct_path: str | None) -> tuple[str, int] | None:
    """(file, line) of the user's code that created the construct at `construct_path` (or the
    closest construct above it), when CDK recorded a creation stack trace with user frames."""
    if construct_path is None:
        return None
    for path in _self_and_ancestors(construct_path.strip("/"))[:-1]:
        for frame in template.creation_traces.get(path, []):
            match = _FRAME.search(frame)
            if match and not any(marker in match["file"] for marker in _NOT_USER_CODE):
                return _shown(match["file"]), int(match["line"])
    return None


def _shown(file: str) -> str:
    """The file relative to the working directory (the repository root in CI) when inside it."""
    try:
        relative = os.path.relpath(file)
    except ValueError:
        return file
    return file if relative.startswith("..") else Path(relative).as_posix()
