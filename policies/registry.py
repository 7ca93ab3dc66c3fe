"""Finding and loading posture policies: Panther-format `.yml` specs beside `.py` bodies.

Built-in policies live in `policies/s3/` and `policies/cloudtrail/`; users add their own
directories in the same format (a `.py` with `policy(resource)` and a `.yml` whose
`Filename:` names it). Bucketwatch reads a few keys Panther does not have:

- ``PantherID``: the Panther policy this one is compatible with (its tests must pass).
- ``Fields``: the resource fields the policy always reads; the runner says UNKNOWN /
  NOT_APPLICABLE before calling the policy when any of them could not be determined.
- ``OptionalFields``: fields it reads only in some cases (it calls `helpers.require` for them).
- ``Remediation``: the one-paragraph fix shown with every failure.
- ``Reports``: compliance mappings, Panther's key (``AWS Security Hub``, ``CIS AWS Foundations ...``).

Packs (`policies/packs/*.yml`, or a user's pack file) say which built-in policies a run judges,
as data: ``Pack`` (name), ``Description``, ``Extends`` (another pack), ``Policies`` (id -> why it is
in the pack). `baseline` is the default; `strict` holds every built-in policy.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from detectors.common import validate
from detectors.common.errors import UserError
from detectors.common.severity import SEVERITIES, canonical_severity
from detectors.common.yamlsafe import load_yaml
from policies.model import BUCKET_RESOURCE_TYPE

if TYPE_CHECKING:
    from policies.config import PostureSettings

BUILTIN_DIRS = (Path(__file__).parent / "s3", Path(__file__).parent / "cloudtrail")
PACKS_DIR = Path(__file__).parent / "packs"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)



@dataclass
class PolicyDef:
    """One policy: its metadata, its Panther-format tests and its function."""

    id: str
    title: str
    severity: str
    resource_types: tuple[str, ...]
    func: Callable[..., Any]
    path: Path
    panther_id: str | None = None
    description: str = ""
    remediation: str = ""
    reference: str = ""
    reports: dict[str, list[str]] = field(default_factory=dict)
    fields: tuple[str, ...] | None = None
    optional_fields: tuple[str, ...] = ()
    tests: list[dict[str, Any]] = field(default_factory=list)
    enabled: bool = True
    builtin: bool = False
    reason_func: Callable[[dict[str, Any]], str] | None = None

    @cached_property
    def takes_config(self) -> bool:
        """Policies that read settings (e.g. an account allowlist) take `config` as 2nd argument."""
        return len(inspect.signature(self.func).parameters) >= 2

    def call(self, resource: dict[str, Any], config: dict[str, Any] | None = None) -> bool:
        if self.takes_config:
            return bool(self.func(resource, config or {}))
        return bool(self.func(resource))

    def run_test_resource(self, resource: dict[str, Any], config: dict[str, Any] | None = None) -> bool:
        """The policy's raw verdict on a Panther test resource: True = compliant."""
        return self.call(dict(resource), config)

    def run_test(self, test: dict[str, Any]) -> bool:
        """Whether one of the policy's own `Tests:` entries gives its ExpectedResult."""
        return self.run_test_resource(test["Resource"], test.get("Config")) == bool(test["ExpectedResult"])

    @cached_property
    def _reason_takes_config(self) -> bool:
        return self.reason_func is not None and len(inspect.signature(self.reason_func).parameters) >= 2

    def reason(self, resource: dict[str, Any], config: dict[str, Any] | None = None) -> str:
        """One line saying why the resource fails (the title when the policy has no `reason`)."""
        if self.reason_func is None:
            return f"not compliant: {self.title}"
        if self._reason_takes_config:
            return str(self.reason_func(resource, config or {}))
        return str(self.reason_func(resource))

    def applies_to(self, resource: dict[str, Any]) -> bool:
        return resource.get("ResourceType", BUCKET_RESOURCE_TYPE) in self.resource_types


def load_policies(dirs: Iterable[str | Path] = (), include_builtin: bool = True) -> list[PolicyDef]:
    """Built-in policies plus every Panther-format policy found under `dirs`, sorted by id."""
    policies: dict[str, PolicyDef] = {}
    sources = [(d, True) for d in BUILTIN_DIRS] if include_builtin else []
    sources += [(Path(d), False) for d in dirs]
    for directory, builtin in sources:
        if not directory.is_dir():
            raise UserError(f"policy directory not found: {directory}")
        for spec_path in sorted(directory.rglob("*.y*ml")):
            policy = _load_one(spec_path, builtin)
            if policy is None:
                continue
            if policy.id in policies:
                raise UserError(f"policy id {policy.id} is defined twice: {policies[policy.id].path} and {spec_path}")
            policies[policy.id] = policy
    return sorted(policies.values(), key=lambda p: p.id)


def _load_one(spec_path: Path, builtin: bool) -> PolicyDef | None:
    try:
        spec = yaml.load(spec_path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise UserError(f"policy spec {spec_path} is not valid YAML: {exc}") from exc
    if not isinstance(spec, dict) or spec.get("AnalysisType") != "policy":
        return None  # rules, data models and unrelated YAML may share the directory
    for key in ("PolicyID", "Filename", "Severity"):
        if not spec.get(key):
            raise UserError(f"policy spec {spec_path}: missing required key {key}")
    severity = canonical_severity(spec["Severity"])
    if severity is None:
        raise UserError(f"policy spec {spec_path}: Severity must be one of {', '.join(SEVERITIES)}")
    module = _import_body(spec_path.parent / spec["Filename"], builtin)
    func = getattr(module, "policy", None)
    if not callable(func):
        raise UserError(f"policy body {spec_path.parent / spec['Filename']} has no policy(resource) function")
    fields = spec.get("Fields")
    return PolicyDef(
        id=str(spec["PolicyID"]),
        title=str(spec.get("DisplayName") or spec["PolicyID"]),
        severity=severity,
        resource_types=tuple(spec.get("ResourceTypes") or [BUCKET_RESOURCE_TYPE]),
        func=func,
        path=spec_path,
        panther_id=spec.get("PantherID") or (None if builtin else str(spec["PolicyID"])),
        description=str(spec.get("Description") or "").strip(),
        remediation=str(spec.get("Remediation") or spec.get("Runbook") or "").strip(),
        reference=str(spec.get("Reference") or "").strip(),
        reports={str(k): [str(v) for v in vs or []] for k, vs in (spec.get("Reports") or {}).items()},
        fields=tuple(fields) if fields is not None else None,
        optional_fields=tuple(spec.get("OptionalFields") or ()),
        tests=list(spec.get("Tests") or []),
        enabled=bool(spec.get("Enabled", True)),
        builtin=builtin,
        reason_func=getattr(module, "reason", None),
    )


def _import_body(body: Path, builtin: bool) -> Any:
    if not body.is_file():
        raise UserError(f"policy body not found: {body}")
    if builtin:
        package = body.parent.name
        return importlib.import_module(f"policies.{package}.{body.stem}")
    name = f"bucketwatch_user_policy_{abs(hash(str(body.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, body)
    if module_spec is None or module_spec.loader is None:
        raise UserError(f"cannot import policy body {body}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UserError(f"policy body {body} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


# --- packs: which policies a run judges -----------------------------------------------------------

@dataclass(frozen=True)
class Pack:
    name: str
    description: str
    policies: dict[str, str]  # policy id -> why it is in the pack (its own and those of Extends)
    path: Path


def builtin_packs() -> list[str]:
    return sorted(path.stem for path in PACKS_DIR.glob("*.yml"))


def load_pack(name: str, _seen: tuple[str, ...] = ()) -> Pack:
    """A built-in pack by name, or a pack file by path; UserError naming what is wrong."""
    path = PACKS_DIR / f"{name}.yml" if name in builtin_packs() else Path(name)
    if path.suffix.lower() not in (".yml", ".yaml") or not path.is_file():
        raise UserError(f"pack {name!r} is neither a built-in pack ({', '.join(builtin_packs())}) nor a pack file")
    if str(path.resolve()) in _seen:
        raise UserError(f"pack {path}: Extends comes back to itself")
    where = f"pack {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{where} cannot be read: {exc}") from None
    spec = validate.section(load_yaml(text, where), ("Pack", "Description", "Extends", "Policies"), where)
    policies = validate.mapping(spec.get("Policies") or {}, f"{where}: Policies")
    own = {validate.string(key, f"{where}: Policies"): str(why or "") for key, why in policies.items()}
    inherited = {}
    if spec.get("Extends") is not None:
        parent = validate.string(spec["Extends"], f"{where}: Extends")
        base = path.parent / parent if parent.endswith((".yml", ".yaml")) else parent
        inherited = load_pack(str(base), (*_seen, str(path.resolve()))).policies
    return Pack(name=validate.string(spec.get("Pack") or path.stem, f"{where}: Pack"),
                description=" ".join(str(spec.get("Description") or "").split()),
                policies={**inherited, **own}, path=path)


def _names(policy: PolicyDef, pattern: str) -> bool:
    return fnmatchcase(policy.id, pattern) or bool(policy.panther_id and fnmatchcase(policy.panther_id, pattern))


def _check_patterns(policies: Sequence[PolicyDef], patterns: Iterable[str], where: str) -> None:
    """UserError for a policy id or glob that names no loaded policy (a typo must not run nothing)."""
    for pattern in patterns:
        if not any(_names(policy, pattern) for policy in policies):
            close = difflib.get_close_matches(pattern, [p.id for p in policies], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(f"{where}: {pattern!r} names no policy{hint}")


def select_policies(policies: Sequence[PolicyDef], settings: PostureSettings) -> list[PolicyDef]:
    """The policies a run judges: the pack's built-in ones and every user policy, or exactly
    `settings.policies` when given; never `settings.disabled_policies`."""
    _check_patterns(policies, settings.disabled_policies, "posture.disabled_policies / --skip-policies")
    if settings.policies:
        _check_patterns(policies, settings.policies, "posture.policies / --policies")
        chosen = [p for p in policies if any(_names(p, pattern) for pattern in settings.policies)]
    else:
        pack = load_pack(settings.pack)
        known = {p.id for p in policies}
        missing = [policy_id for policy_id in pack.policies if policy_id not in known]
        if missing:
            raise UserError(f"pack {pack.name}: {', '.join(missing)} is not a loaded policy")
        chosen = [p for p in policies if p.id in pack.policies or not p.builtin]
    return [p for p in chosen if not any(_names(p, pattern) for pattern in settings.disabled_policies)]


def policies_for(settings: PostureSettings, extra_dirs: Iterable[str | Path] = ()) -> list[PolicyDef]:
    """Every policy a run with `settings` judges: built-ins and user directories, pack applied."""
    return select_policies(load_policies([*settings.policy_dirs, *extra_dirs]), settings)
