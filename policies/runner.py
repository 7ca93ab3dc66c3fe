"""Judging resources with policies: verdicts, suppressions, the summary and the exit decision.

Source-agnostic: the template source (`check`) and the live source (`scan`) both hand over
`Subject`s (a resource dict in the model's shape plus a `ResourceRef` saying where it came
from) and get `Finding`s back, which the reporters format.

Order of judgement for one (policy, resource):
1. a declared field marked not-applicable / unknown → NOT_APPLICABLE / UNKNOWN (the policy is
   not called, so an undetermined field can never produce a guessed PASS or FAIL);
2. the policy runs; `CannotDecide` / `NotApplicable` raised inside → UNKNOWN / NOT_APPLICABLE;
   any other exception → UNKNOWN naming the error (one broken policy never stops a run);
3. policies without declared fields (user packs) are watched: reading an unknown field → UNKNOWN;
4. a resource the template source built once per *world* (each way deploy-time choices can go,
   see `policies.sources.cfn_worlds`) is judged in every world: PASS when all pass, FAIL when
   all fail, UNKNOWN naming the choices when they disagree;
5. a non-PASS verdict matching a suppression becomes SUPPRESSED, keeping the verdict and reason.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from detectors.common.severity import severity_rank
from policies.config import PostureSettings, Suppression, SuppressionIndex
from policies.helpers import CannotDecide, NotApplicable
from policies.model import undecidable
from policies.registry import PolicyDef

PASS, FAIL, UNKNOWN, NOT_APPLICABLE, SUPPRESSED = "PASS", "FAIL", "UNKNOWN", "NOT_APPLICABLE", "SUPPRESSED"
STATUSES = (FAIL, UNKNOWN, SUPPRESSED, NOT_APPLICABLE, PASS)


@dataclass
class ResourceRef:
    """Where a resource came from: enough to find it and to show it."""

    id: str  # what reports show: "Stack/LogicalId" at synth time, the ARN at runtime
    source: str  # "template" | "live"
    name: str | None = None
    arn: str | None = None
    logical_id: str | None = None
    construct_path: str | None = None
    stack: str | None = None
    file: str | None = None
    line: int | None = None
    region: str | None = None
    account: str | None = None
    # Where the user's code created it (a CDK construct's creation stack trace), when recorded.
    source_file: str | None = None
    source_line: int | None = None
    # Suppressions bound to this resource: its template metadata, CDK acknowledgements over it.
    suppressions: list[Suppression] = field(default_factory=list)
    # What is judged, when the resource id alone does not say (e.g. "bucket policy of bucket x,
    # which is not in the checked templates"): prefixes every non-PASS reason.
    context: str | None = None

    def names(self) -> tuple[str, ...]:
        """Every name a suppression's resource glob may match."""
        return tuple(n for n in (self.id, self.name, self.arn, self.logical_id, self.construct_path) if n)


Facts = dict[str, str]  # a world's deploy-time choices, e.g. {"condition IsProd": "true"}


@dataclass
class Subject:
    resource: dict[str, Any]
    ref: ResourceRef
    # The resource in each world it can deploy as, when deploy-time choices change it.
    variants: list[tuple[Facts, dict[str, Any]]] | None = None

    def worlds(self) -> list[tuple[Facts, dict[str, Any]]]:
        return self.variants or [({}, self.resource)]


@dataclass
class Finding:
    policy: PolicyDef
    ref: ResourceRef
    status: str
    reason: str
    verdict: str  # the status before suppression
    suppression: Suppression | None = None
    resource_type: str | None = None  # the subject's (a policy may judge several types)

    @property
    def severity(self) -> str:
        return self.policy.severity

    def to_dict(self) -> dict[str, Any]:
        ref = self.ref
        return {
            "policy": self.policy.id,
            "panther_id": self.policy.panther_id,
            "title": self.policy.title,
            "resource": ref.id,
            "resource_type": self.resource_type or self.policy.resource_types[0],
            "status": self.status,
            "severity": self.severity,
            "reason": self.reason,
            "remediation": self.policy.remediation if self.verdict == FAIL else None,
            "source": ref.source,
            "name": ref.name,
            "arn": ref.arn,
            "logical_id": ref.logical_id,
            "construct_path": ref.construct_path,
            "stack": ref.stack,
            "file": ref.file,
            "line": ref.line,
            "source_file": ref.source_file,
            "source_line": ref.source_line,
            "region": ref.region,
            "account_id": ref.account,
            "verdict": self.verdict,
            "suppression": self.suppression.to_dict() if self.suppression else None,
        }


class _Watched(dict):
    """A resource that remembers which top-level fields a policy read."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def judge(policy: PolicyDef, resource: dict[str, Any], config: dict[str, Any] | None = None) -> tuple[str, str]:
    """(status, reason) of one policy on one resource, before suppressions. Only built-in
    policies read partly determined fields (through `policies.helpers`); for others they are unknown."""
    partial = not policy.builtin
    if policy.fields is not None and (blocked := undecidable(resource, policy.fields, partial)):
        return blocked
    subject = resource if policy.fields is not None else _Watched(resource)
    try:
        compliant = policy.call(subject, config)
    except CannotDecide as exc:
        return UNKNOWN, str(exc)
    except NotApplicable as exc:
        return NOT_APPLICABLE, str(exc)
    except Exception as exc:  # a broken policy is reported, never crashes the run
        return UNKNOWN, f"policy raised {type(exc).__name__}: {exc}"
    if isinstance(subject, _Watched) and (blocked := undecidable(resource, sorted(subject.read), partial)):
        return blocked
    if compliant:
        return PASS, ""
    try:
        return FAIL, policy.reason(resource, config)
    except Exception as exc:
        return FAIL, f"not compliant: {policy.title} (reason unavailable: {type(exc).__name__})"


def judge_variants(policy: PolicyDef, variants: Sequence[tuple[Facts, dict[str, Any]]],
                   config: dict[str, Any] | None = None) -> tuple[str, str]:
    """(status, reason) of one policy over every world a resource can deploy as."""
    if len(variants) == 1:
        return judge(policy, variants[0][1], config)
    outcomes = [(facts, judge(policy, resource, config)) for facts, resource in variants]
    if not outcomes:
        return NOT_APPLICABLE, "the resource is never created (its Condition is false)"
    if len(outcomes) == 1:
        return outcomes[0][1]
    statuses = {status for _, (status, _) in outcomes}
    applicable = statuses - {NOT_APPLICABLE}
    if not applicable:
        return NOT_APPLICABLE, _unique_reasons(outcomes)
    if applicable == {PASS}:
        return PASS, ""
    if statuses in ({FAIL}, {UNKNOWN}):
        return statuses.pop(), _unique_reasons(outcomes)
    return UNKNOWN, _depends(outcomes)


def _unique_reasons(outcomes: Sequence[tuple[Facts, tuple[str, str]]], shown: int = 3) -> str:
    reasons = list(dict.fromkeys(reason for _, (_, reason) in outcomes if reason))
    more = f"; and {len(reasons) - shown} more" if len(reasons) > shown else ""
    return "; ".join(reasons[:shown]) + more


def _depends(outcomes: Sequence[tuple[Facts, tuple[str, str]]]) -> str:
    """"depends on condition IsProd (parameter Env is given at deploy time): PASS when IsProd is
    true; FAIL (reason) when IsProd is false", naming the fewest facts that explain the verdicts."""
    keys = sorted({key for facts, _ in outcomes for key in facts if not key.startswith("why ")})
    deciding = _deciding_facts(outcomes, keys)
    why = "; ".join(dict.fromkeys(part for facts, _ in outcomes for key in deciding
                                  for part in facts.get(f"why {key}", "").split("; ") if part))
    cases: dict[str, list[str]] = {}
    for facts, (status, reason) in outcomes:
        when = ", ".join(f"{key.split(' ', 1)[-1]} is {facts.get(key, 'not used')}" for key in deciding)
        cases.setdefault(f"{status}{f' ({reason})' if reason else ''}", []).append(when)
    described = "; ".join(f"{verdict} when {' or '.join(dict.fromkeys(whens))}" for verdict, whens in cases.items())
    return f"depends on {', '.join(deciding) or 'a deploy-time choice'}{f' ({why})' if why else ''}: {described}"


def _deciding_facts(outcomes: Sequence[tuple[Facts, tuple[str, str]]], keys: list[str]) -> list[str]:
    """One fact, known in every world, whose value alone tells the verdict, when there is one;
    else every fact that varies."""
    for key in keys:
        if any(key not in facts for facts, _ in outcomes):
            continue
        verdict_of: dict[str | None, tuple[str, str]] = {}
        if all(verdict_of.setdefault(facts.get(key), outcome) == outcome for facts, outcome in outcomes):
            return [key]
    return [key for key in keys if len({facts.get(key) for facts, _ in outcomes}) > 1] or keys


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Run the block with Python's cyclic garbage collector paused (then as it was).

    Templates, resources and findings are trees of dicts and lists without reference cycles:
    reference counting frees them. The cyclic collector would find nothing, yet each of its full
    passes walks every object alive, and a run keeps all of them alive until it reports: at
    10,000 buckets those passes were a quarter of `check`'s time, and made it superlinear.

    On the way out, what the block built moves to the oldest generation (freeze then unfreeze:
    two list splices, and the young generation's count reset). Only re-enabled, the collector
    would start, at its next allocation, a young collection over everything allocated while it
    was paused: one more walk of the run's objects."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _suppression_for(policy: PolicyDef, ref: ResourceRef, config_rules: SuppressionIndex,
                     today: dt.date) -> Suppression | None:
    """The resource's own suppressions first (metadata, CDK acknowledgements), then the config file's."""
    for entry in ref.suppressions:
        if entry.problem is None and not entry.expired(today) and entry.names_policy(policy.id, policy.panther_id):
            return entry
    return config_rules.first(policy.id, policy.panther_id or None, ref.names())


def evaluate(policies: Iterable[PolicyDef], subjects: Iterable[Subject],
             settings: PostureSettings | None = None, today: dt.date | None = None) -> list[Finding]:
    """Every applicable (policy, subject) verdict, suppressions applied (an expired one does not)."""
    settings = settings or PostureSettings()
    today = today or dt.date.today()
    active = [p for p in policies if p.enabled and p.id not in settings.disabled_policies]
    config = settings.policy_config()
    config_rules = SuppressionIndex(settings.suppressions, today)
    findings = []
    with no_cycle_collection():
        for subject in subjects:
            worlds = subject.worlds()
            for policy in active:
                if not policy.applies_to(subject.resource):
                    continue
                status, reason = judge_variants(policy, worlds, config)
                if status != PASS and subject.ref.context:
                    reason = f"{subject.ref.context}: {reason}"
                finding = Finding(policy, subject.ref, status, reason, verdict=status,
                                  resource_type=subject.resource.get("ResourceType"))
                if status in (FAIL, UNKNOWN):
                    finding.suppression = _suppression_for(policy, subject.ref, config_rules, today)
                    if finding.suppression:
                        finding.status = SUPPRESSED
                findings.append(finding)
    return findings


@dataclass
class SuppressionUse:
    """One suppression after a run: how many findings it suppressed, and what is wrong with it."""

    suppression: Suppression
    used: int
    problem: str | None  # None: it suppressed something, as written

    def to_dict(self) -> dict[str, Any]:
        return {**self.suppression.to_dict(), "used": self.used, "problem": self.problem}


def review_suppressions(findings: Sequence[Finding], subjects: Iterable[Subject], settings: PostureSettings,
                        loaded: Sequence[PolicyDef], judged: Sequence[PolicyDef] | None = None,
                        today: dt.date | None = None) -> list[SuppressionUse]:
    """Every suppression of the run (config file, resource metadata, CDK acknowledgements) with
    its use; a problem for those that name no policy, have expired, or matched nothing."""
    today = today or dt.date.today()
    judged = loaded if judged is None else judged
    used = Counter(id(f.suppression) for f in findings if f.suppression is not None)
    every: dict[int, Suppression] = {id(s): s for s in settings.suppressions}
    for subject in subjects:
        every.update((id(s), s) for s in subject.ref.suppressions)
    return [SuppressionUse(s, used[key], _problem(s, used[key], loaded, judged, today)) for key, s in every.items()]


def _problem(suppression: Suppression, used: int, loaded: Sequence[PolicyDef], judged: Sequence[PolicyDef],
             today: dt.date) -> str | None:
    if suppression.problem:
        return suppression.problem
    if not any(suppression.names_policy(p.id, p.panther_id) for p in loaded):
        return f"names no policy: {suppression.policy}"
    if suppression.expired(today):
        return f"expired on {suppression.expires.isoformat() if suppression.expires else '?'}; it no longer applies"
    if not any(suppression.names_policy(p.id, p.panther_id) for p in judged):
        return f"{suppression.policy} is not judged in this run (see the pack, --policies and --skip-policies)"
    if not used:
        return "unused: it matched no FAIL or UNKNOWN finding"
    return None


def blocking(findings: Iterable[Finding], threshold: str) -> list[Finding]:
    """Unsuppressed FAILs at or above `threshold`: any of them means exit code 1."""
    floor = severity_rank(threshold)
    return [f for f in findings if f.status == FAIL and severity_rank(f.severity) >= floor]


def summarize(findings: Sequence[Finding], threshold: str) -> dict[str, Any]:
    statuses = Counter(f.status for f in findings)
    failing = blocking(findings, threshold)
    return {
        "resources": len({(f.ref.source, f.ref.id) for f in findings}),
        "policies": len({f.policy.id for f in findings}),
        "results": len(findings),
        "by_status": {status: statuses.get(status, 0) for status in STATUSES},
        "failures_by_severity": dict(Counter(f.severity for f in findings if f.status == FAIL)),
        "fail_on": threshold.lower(),
        "blocking": len(failing),
        "exit_code": 1 if failing else 0,
    }
