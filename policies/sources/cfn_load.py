"""Reading CloudFormation templates: JSON and YAML files (short-form tags included) and whole
`cdk.out` cloud assemblies (every stack of every stage, nested stacks; assets ignored).

Everything unusable becomes a `UserError` with one line naming the file (and line) at fault.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from detectors.common.errors import UserError

TEMPLATE_SUFFIXES = (".json", ".yaml", ".yml", ".template")
_UNKNOWN_ENV = ("unknown-account", "unknown-region", "")


@dataclass
class Template:
    """One stack's template and what we know about where it deploys."""

    path: Path
    body: dict[str, Any]
    stack: str
    text: str = field(repr=False, default="")
    account: str | None = None
    region: str | None = None
    # For a nested stack: the values its parent passes for its parameters (unresolved CFN).
    parent: Template | None = None
    parent_parameters: dict[str, Any] = field(default_factory=dict)
    # Logical id → CDK construct path, from the assembly's metadata (when the resource itself
    # carries no aws:cdk:path, as with `app.synth()` outside the CDK CLI).
    construct_paths: dict[str, str] = field(default_factory=dict)
    # A cloud assembly names its stacks; a lone template's stack name is chosen at deploy time.
    stack_name_known: bool = False
    # The cloud assembly's CDK acknowledgements (`Validations.of(c).acknowledge`): construct path ->
    # {rule id: reason}, shared by every template of the assembly (construct paths are global).
    acknowledgements: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    # Construct path -> the frames of the stack that created it (`aws:cdk:creationStack`).
    creation_traces: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _lines: dict[str, int] | None = field(default=None, repr=False)

    @property
    def resources(self) -> dict[str, Any]:
        return self.body.get("Resources") or {}

    def line_of(self, logical_id: str) -> int | None:
        """The 1-based line where `logical_id` is defined under Resources, when findable."""
        if self._lines is None:
            self._lines = _resource_lines(self.text)
        return self._lines.get(logical_id)


# --- YAML with CloudFormation's short-form tags ------------------------------------------------

class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that keeps dates as strings (Version: 2012-10-17) and knows !Ref & co."""


_CfnLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _short_form(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [logical_id, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_form)


# CloudFormation does not accept YAML anchors and aliases at all, so a template using many is
# refused; a few hundred bytes of nested aliases ("billion laughs") would otherwise expand into
# a structure that takes minutes and gigabytes to walk (the loader shares the nodes; walking
# them does not).
MAX_ALIASES = 100
MAX_ALIAS_EXPANSION = 100_000  # nodes that aliases may add to the document
# Real templates nest a few dozen levels (a policy inside Fn::If inside Properties); deeper
# input is refused before anything recursive walks it.
MAX_NESTING = 100
_ALIAS_CANDIDATE = re.compile(r"(?:^|[\s\[{,:?-])\*[^\s\[\]{},]", re.M)
_ANCHOR_CANDIDATE = re.compile(r"(?:^|[\s\[{,:?-])&[^\s\[\]{},]", re.M)


def _check_aliases(text: str, path: Path) -> None:
    """UserError when the YAML in `text` uses more aliases than CloudFormation authors ever need.

    A regular expression rules out almost every template first (an alias needs an anchor); only
    then does libyaml's C parser count the aliases and the nodes they would add, so templates
    keep libyaml's speed."""
    if not (_ALIAS_CANDIDATE.search(text) and _ANCHOR_CANDIDATE.search(text)):
        return
    sizes: dict[str, int] = {}  # anchor -> nodes of the anchored subtree, aliases expanded
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, nodes so far) per open collection
    aliases = added = 0
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            size = 0
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                size = sizes.get(event.anchor, 1)
                added += size
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                open_nodes.append((event.anchor, 1))
                continue
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, size = open_nodes.pop()
                if anchor:
                    sizes[anchor] = size
            else:
                continue
            if aliases > MAX_ALIASES or added > MAX_ALIAS_EXPANSION:
                raise UserError(f"{path}: uses more than {MAX_ALIASES} YAML aliases (*name) or aliases expanding "
                                f"to more than {MAX_ALIAS_EXPANSION:,} nodes; CloudFormation does not accept YAML "
                                "aliases, and this may be an alias bomb")
            if open_nodes:
                anchor, count = open_nodes[-1]
                open_nodes[-1] = (anchor, count + size)
    except yaml.YAMLError:
        return  # the loader reports the syntax error with its line


def _nesting_depth(value: Any, limit: int) -> int:
    """How deep `value` nests (stops counting past `limit`); level by level, so no recursion."""
    depth, level = 0, [value] if isinstance(value, dict | list) else []
    while level and depth <= limit:
        depth += 1
        children: list[Any] = []
        for node in level:
            children.extend(child for child in (node.values() if type(node) is dict else node)
                            if type(child) is dict or type(child) is list)
        level = children
    return depth


def parse_text(text: str, path: Path) -> Any:
    """JSON or YAML (CloudFormation flavour) from `text`; UserError with the line on failure."""
    body = _parse(text, path)
    if _nesting_depth(body, MAX_NESTING) > MAX_NESTING:
        raise UserError(f"{path}: nested more than {MAX_NESTING} levels deep; no CloudFormation template is")
    return body


def _parse(text: str, path: Path) -> Any:
    too_deep = UserError(f"{path}: nested more than {MAX_NESTING} levels deep; no CloudFormation template is")
    if path.suffix == ".json" or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except RecursionError:
            raise too_deep from None
        except json.JSONDecodeError as exc:
            if path.suffix == ".json":
                raise UserError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    _check_aliases(text, path)
    try:
        return yaml.load(text, Loader=_CfnLoader)
    except RecursionError:
        raise too_deep from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from exc


def is_template(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("Resources"), dict)


def _read_text(path: Path) -> str:
    # utf-8-sig: editors on Windows save templates with a byte-order mark, which CloudFormation accepts.
    return path.read_text(encoding="utf-8-sig")


_MAPPING_SECTIONS = ("Properties", "Metadata")


# Transforms AWS runs that never change an AWS::S3::Bucket, BucketPolicy or Trail written in the
# template (SAM adds functions and APIs; LanguageExtensions' functions are evaluated here, and
# Fn::ForEach is refused below). Any other transform is a macro that may rewrite anything.
KNOWN_TRANSFORMS = ("AWS::Serverless-2016-10-31", "AWS::LanguageExtensions", "AWS::SecretsManager-2020-07-23",
                    "AWS::CodeDeployBlueGreen", "AWS::CodeStar", "AWS::ServiceCatalog")
PROCESSED = ("check the processed template (`aws cloudformation get-template --template-stage Processed`, "
             "or the CDK / SAM output) instead")


def transform_name(spec: Any) -> str:
    """`Transform: X`, `Fn::Transform: {Name: X, Parameters: {Location: L}}` as "X (L)"."""
    if isinstance(spec, list):
        return ", ".join(transform_name(item) for item in spec)
    if isinstance(spec, dict):
        location = (spec.get("Parameters") or {}).get("Location") if isinstance(spec.get("Parameters"), dict) else None
        return f"{spec.get('Name')}" + (f" ({json.dumps(location)[1:-1] if isinstance(location, str) else location})"
                                        if location else "")
    return str(spec)


def check_transforms(body: dict[str, Any], path: Path) -> None:
    """UserError for a template that a macro rewrites at deploy time: what gets deployed is not
    what is written, so no verdict on what is written would be true."""
    declared = body.get("Transform")
    for spec in declared if isinstance(declared, list) else [declared] if declared else []:
        name = spec.get("Name") if isinstance(spec, dict) else spec
        if name not in KNOWN_TRANSFORMS:
            raise UserError(f"{path}: Transform {transform_name(spec)} rewrites the template at deploy time, so "
                            f"bucketwatch cannot see what it deploys; {PROCESSED}")
    if "Fn::Transform" in body["Resources"]:
        raise UserError(f"{path}: Resources: Fn::Transform {transform_name(body['Resources']['Fn::Transform'])} adds "
                        f"resources at deploy time, which bucketwatch cannot see; {PROCESSED}")


def check_resources(body: dict[str, Any], path: Path) -> None:
    """UserError for a resource CloudFormation itself would reject before reading its values:
    not a mapping, no string Type, or Properties / Metadata / a Condition name of the wrong kind;
    and for templates a macro rewrites at deploy time."""
    check_transforms(body, path)
    for logical_id, resource in body["Resources"].items():
        where = f"{path}: resource {logical_id}"
        if str(logical_id).startswith("Fn::ForEach::"):
            # Expanding it needs the collection, often a deploy-time parameter: judging the
            # other resources without the ones it makes would hide them.
            raise UserError(f"{where}: Fn::ForEach (Transform AWS::LanguageExtensions) is not expanded by "
                            "bucketwatch; check the processed template (`aws cloudformation get-template "
                            "--template-stage Processed`, or the CDK / SAM output) instead")
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise UserError(f"{where} must be a mapping with a string Type")
        for section in _MAPPING_SECTIONS:
            if resource.get(section) is not None and not isinstance(resource[section], dict):
                raise UserError(f"{where}: {section} must be a mapping, not {type(resource[section]).__name__}")
        if "Condition" in resource and not isinstance(resource["Condition"], str):
            raise UserError(f"{where}: Condition must be the name of a condition")


def _resource_lines(text: str) -> dict[str, int]:
    """Logical id → line, from keys one level under `Resources` (same indentation as the first)."""
    found = re.search(r'^([ \t]*)"?Resources"?[ \t]*:', text, re.M)
    if not found:
        return {}
    start = found.end()
    base_line = text.count("\n", 0, start) + 1
    lines: dict[str, int] = {}
    indent = None
    line, counted = base_line, start  # count newlines incrementally: one pass over the text
    for match in re.finditer(r'^([ \t]*)"?([A-Za-z0-9]+)"?[ \t]*:', text[start:], re.M):
        if indent is None:
            indent = match.group(1)
        if match.group(1) == indent:
            line += text.count("\n", counted, start + match.start())
            counted = start + match.start()
            lines.setdefault(match.group(2), line)
        elif len(match.group(1)) < len(indent):
            break  # left the Resources section
    return lines


# --- Files, directories and cloud assemblies ---------------------------------------------------

def load_template_file(path: Path, stack: str | None = None) -> Template:
    try:
        text = _read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    body = parse_text(text, path)
    if not is_template(body):
        raise UserError(f"{path}: not a CloudFormation template (no Resources mapping)")
    check_resources(body, path)
    return Template(path=path, body=body, stack=stack or path.name.split(".")[0], text=text)


def _environment(artifact: dict[str, Any]) -> tuple[str | None, str | None]:
    match = re.match(r"^aws://([^/]*)/(.*)$", str(artifact.get("environment") or ""))
    if not match:
        return None, None
    account, region = match.groups()
    return (None if account in _UNKNOWN_ENV else account), (None if region in _UNKNOWN_ENV else region)


def _asset_paths(directory: Path) -> dict[str, str]:
    """Asset hash → file name, from the assembly's *.assets.json manifests."""
    found: dict[str, str] = {}
    for manifest in directory.glob("*.assets.json"):
        try:
            files = json.loads(manifest.read_text(encoding="utf-8")).get("files") or {}
        except (OSError, ValueError):
            continue
        for asset_hash, entry in files.items():
            path = (entry.get("source") or {}).get("path")
            if path:
                found[asset_hash] = path
    return found


def _nested_template_file(resource: dict[str, Any], directory: Path, assets: dict[str, str]) -> str | None:
    """The nested template's file: aws:asset:path metadata, else the asset hash in TemplateURL."""
    asset = (resource.get("Metadata") or {}).get("aws:asset:path")
    if asset:
        return asset
    url = json.dumps((resource.get("Properties") or {}).get("TemplateURL"))
    match = re.search(r"([0-9a-f]{64})\.json", url)
    return assets.get(match.group(1)) if match else None


def _nested(template: Template, directory: Path, assets: dict[str, str] | None = None,
            chain: tuple[Path, ...] = ()) -> list[Template]:
    """Nested stack templates CDK wrote beside the parent (`chain`: the files above it)."""
    assets = _asset_paths(directory) if assets is None else assets
    chain = (*chain, template.path.resolve())
    children = []
    for logical_id, resource in template.resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::CloudFormation::Stack":
            continue
        asset = _nested_template_file(resource, directory, assets)
        if not isinstance(asset, str) or not (directory / asset).is_file():
            continue
        if (directory / asset).resolve() in chain:
            raise UserError(f"{template.path}: nested stack {logical_id} uses template {asset}, which contains "
                            "this stack (a cycle CloudFormation could never deploy)")
        child = load_template_file(directory / asset, stack=f"{template.stack}/{logical_id}")
        child.account, child.region, child.parent = template.account, template.region, template
        parameters = (resource.get("Properties") or {}).get("Parameters") or {}
        child.parent_parameters = parameters if isinstance(parameters, dict) else {}
        children.append(child)
        children.extend(_nested(child, directory, assets, chain))
    return children


def _artifact_metadata(artifact: dict[str, Any], directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Construct path -> metadata entries ({type, data, trace}) of one stack artifact: the
    manifest's own and those CDK moves into `additionalMetadataFile`. Malformed parts are skipped."""
    metadata = dict(artifact.get("metadata") or {}) if isinstance(artifact.get("metadata"), dict) else {}
    extra = artifact.get("additionalMetadataFile")
    if isinstance(extra, str) and (directory / extra).is_file():
        with contextlib.suppress(ValueError, OSError):
            loaded = json.loads((directory / extra).read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                metadata.update(loaded)
    return {str(path): [e for e in entries if isinstance(e, dict)] for path, entries in metadata.items()
            if isinstance(entries, list)}


ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"  # cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
CREATION_STACK = "aws:cdk:creationStack"


def _assign_cdk_metadata(templates: list[Template], metadata: dict[str, list[dict[str, Any]]],
                         acknowledgements: dict[str, dict[str, str]]) -> None:
    """Share the stack's acknowledgements (into the assembly-wide map) and creation traces."""
    traces: dict[str, list[str]] = {}
    for path, entries in metadata.items():
        for entry in entries:
            data = entry.get("data")
            if entry.get("type") == ACKNOWLEDGED_RULES and isinstance(data, dict):
                acknowledgements.setdefault(path.strip("/"), {}).update({str(k): str(v) for k, v in data.items()})
            elif entry.get("type") == CREATION_STACK and isinstance(data, list):
                traces[path.strip("/")] = [str(frame) for frame in data]
    for template in templates:
        template.acknowledgements = acknowledgements
        template.creation_traces = traces


def _report_acknowledgements(directory: Path, acknowledgements: dict[str, dict[str, str]]) -> None:
    """Acknowledgements CDK applied to Bucketwatch's violations, from the validation report it
    writes after `cdk synth` runs the plugins. Those made on a Stage or the App appear only here:
    CDK records construct metadata per stack."""
    report = directory / "validation-report.json"
    if not report.is_file():
        return
    try:
        plugins = json.loads(report.read_text(encoding="utf-8")).get("pluginReports") or []
    except (OSError, ValueError, AttributeError):
        return
    for plugin in plugins if isinstance(plugins, list) else []:
        if not isinstance(plugin, dict) or plugin.get("pluginName") != "bucketwatch":
            continue
        for violation in plugin.get("suppressedViolations") or []:
            if isinstance(violation, dict) and isinstance(violation.get("acknowledgedId"), str):
                path = str(violation.get("acknowledgedAt") or "").strip("/")
                acknowledgements.setdefault(path, {}).setdefault(violation["acknowledgedId"],
                                                                 str(violation.get("reason") or ""))


def _assign_construct_paths(templates: list[Template], metadata: dict[str, list[dict[str, Any]]]) -> None:
    """Give each template the construct paths of its logical ids (nested stacks have their own scope)."""
    scopes = {entry["data"]: path for path, entries in metadata.items() for entry in entries
              if entry.get("type") == "aws:cdk:templateFile" and isinstance(entry.get("data"), str)}
    by_file = {t.path.name: t for t in templates}
    for path, entries in metadata.items():
        for entry in entries:
            if entry.get("type") != "aws:cdk:logicalId":
                continue
            owner = max((f for f, scope in scopes.items() if path.startswith(scope + "/")),
                        key=lambda f: len(scopes[f]), default=None)
            if owner in by_file:
                by_file[owner].construct_paths.setdefault(str(entry["data"]), path.lstrip("/"))


def _read_manifest(directory: Path) -> dict[str, Any]:
    manifest_path = directory / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{manifest_path}: unreadable cloud assembly manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise UserError(f"{manifest_path}: unreadable cloud assembly manifest: not a JSON object")
    return manifest


def _artifacts(directory: Path, kind: str, key: str) -> dict[Path, tuple[str, dict[str, Any]]]:
    """Artifacts of `kind` in the assembly at `directory`: the resolved path their `key` property
    names → (artifact id, artifact); empty when the directory holds no readable manifest."""
    if not (directory / "manifest.json").is_file():
        return {}
    try:
        artifacts = _read_manifest(directory).get("artifacts") or {}
    except UserError:
        return {}
    return {(directory / artifact["properties"][key]).resolve(): (artifact_id, artifact)
            for artifact_id, artifact in artifacts.items()
            if isinstance(artifact, dict) and artifact.get("type") == kind
            and isinstance(artifact.get("properties"), dict) and artifact["properties"].get(key)}


def _load_stack(directory: Path, artifact_id: str, artifact: dict[str, Any],
                acknowledgements: dict[str, dict[str, str]]) -> list[Template]:
    """One stack artifact's template, with its environment, construct paths and CDK metadata,
    and its nested stacks."""
    properties = artifact.get("properties") or {}
    stack = properties.get("stackName") or artifact.get("displayName") or artifact_id
    template = load_template_file(directory / properties["templateFile"], stack=str(stack))
    template.account, template.region = _environment(artifact)
    template.stack_name_known = True
    stack_templates = [template, *_nested(template, directory)]
    metadata = _artifact_metadata(artifact, directory)
    _assign_construct_paths(stack_templates, metadata)
    _assign_cdk_metadata(stack_templates, metadata, acknowledgements)
    return stack_templates


def load_assembly(directory: Path, only: set[Path] | None = None, _outer: tuple[Path, ...] = (),
                  _acknowledgements: dict[str, dict[str, str]] | None = None) -> list[Template]:
    """Every stack template of a cdk.out (and of the stages nested in it), in manifest order;
    with `only`, just the stacks whose template files (resolved) are in it, and their nested stacks."""
    templates: list[Template] = []
    outer = (*_outer, directory.resolve())
    acknowledgements: dict[str, dict[str, str]] = {} if _acknowledgements is None else _acknowledgements
    if not _outer:
        _report_acknowledgements(directory, acknowledgements)
    artifacts = _read_manifest(directory).get("artifacts") or {}
    if not isinstance(artifacts, dict):
        raise UserError(f"{directory / 'manifest.json'}: unreadable cloud assembly manifest: artifacts is not a mapping")
    for artifact_id, artifact in artifacts.items():
        properties = (artifact.get("properties") if isinstance(artifact, dict) else None) or {}
        if not isinstance(properties, dict) or not properties:
            continue  # not an artifact this reader needs (or not one CDK writes)
        if artifact.get("type") == "aws:cloudformation:stack" and isinstance(properties.get("templateFile"), str):
            if only is None or (directory / properties["templateFile"]).resolve() in only:
                templates.extend(_load_stack(directory, artifact_id, artifact, acknowledgements))
        elif artifact.get("type") == "cdk:cloud-assembly" and isinstance(properties.get("directoryName"), str):
            nested = directory / properties["directoryName"]
            if nested.resolve() in outer:
                raise UserError(f"{directory / 'manifest.json'}: artifact {artifact_id} nests the assembly in "
                                f"{properties['directoryName']}, which contains it (a cycle)")
            templates.extend(load_assembly(nested, only, outer, acknowledgements))
    return templates


def enclosing_assembly(path: Path) -> Path | None:
    """The outermost cloud assembly whose manifest (or a stage's nested one) lists the template
    file at `path` as a stack; None for a template that belongs to no assembly.

    CDK's validation plugins are handed bare template paths, but a stack's account and region,
    its deployed name and its construct paths live in the manifest beside the template (written
    before the plugins run); a stage's templates sit in `assembly-<stage>/` under the app's."""
    file = path.resolve()
    directory = file.parent
    if file not in _artifacts(directory, "aws:cloudformation:stack", "templateFile"):
        return None
    while directory.parent != directory and directory in _artifacts(directory.parent, "cdk:cloud-assembly", "directoryName"):
        directory = directory.parent
    return directory


def load_directory(directory: Path) -> list[Template]:
    if (directory / "manifest.json").is_file():
        return load_assembly(directory)
    templates = []
    for path in sorted(p for p in directory.rglob("*") if p.suffix in TEMPLATE_SUFFIXES and p.is_file()):
        try:
            text = _read_text(path)
        except (OSError, UnicodeDecodeError):
            continue
        body = parse_text(text, path)
        if is_template(body):
            check_resources(body, path)
            templates.append(Template(path=path, body=body, stack=path.name.split(".")[0], text=text))
    return templates


def load_paths(paths: list[str | Path]) -> list[Template]:
    """Templates from files and directories; UserError when a path is unusable or holds none.

    A template file that belongs to a cloud assembly is read as `check <cdk.out>` reads it (its
    environment, stack name, construct paths and nested stacks from the manifest); the files of
    one assembly come in the assembly's order, at the place of the first of them."""
    if not paths:
        raise UserError("no template path given")
    parts: list[list[Template] | Path] = []  # loaded templates, or an assembly root to load
    wanted: dict[Path, set[Path]] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UserError(f"path not found: {path}")
        if path.is_dir():
            found = load_directory(path)
            if not found:
                raise UserError(f"{path}: no CloudFormation templates found (expected a cdk.out or .json/.yaml templates)")
            parts.append(found)
        elif (root := enclosing_assembly(path)) is not None:
            if root not in wanted:
                parts.append(root)
            wanted.setdefault(root, set()).add(path.resolve())
        else:
            parts.append([load_template_file(path)])
    templates: list[Template] = []
    for part in parts:
        templates.extend(load_assembly(part, wanted[part]) if isinstance(part, Path) else part)
    return templates
