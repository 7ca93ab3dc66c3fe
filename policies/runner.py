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
4. a non-PASS verdict matching a suppression becomes SUPPRESSED, keeping the verdict and reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from detectors.common.severity import severity_rank
from policies.config import PostureSettings, Suppression
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
    # Suppressions written on the resource itself (template metadata): [{"id", "reason"}].
    suppressions: list[dict[str, str]] = field(default_factory=list)

    def names(self) -> tuple[str, ...]:
        """Every name a suppression's resource glob may match."""
        return tuple(n for n in (self.id, self.name, self.arn, self.logical_id, self.construct_path) if n)


@dataclass
class Subject:
    resource: dict[str, Any]
    ref: ResourceRef


@dataclass
class Finding:
    policy: PolicyDef
    ref: ResourceRef
    status: str
    reason: str
    verdict: str  # the status before suppression
    suppression: Suppression | None = None

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
            "resource_type": self.policy.resource_types[0],
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
            "region": ref.region,
            "account_id": ref.account,
            "verdict": self.verdict,
            "suppression": {"reason": self.suppression.reason, "origin": self.suppression.origin}
            if self.suppression
            else None,
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
    """(status, reason) of one policy on one resource, before suppressions."""
    if policy.fields is not None and (blocked := undecidable(resource, policy.fields)):
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
    if isinstance(subject, _Watched) and (blocked := undecidable(resource, sorted(subject.read))):
        return blocked
    if compliant:
        return PASS, ""
    try:
        return FAIL, policy.reason(resource, config)
    except Exception as exc:
        return FAIL, f"not compliant: {policy.title} (reason unavailable: {type(exc).__name__})"


def _suppression_for(policy: PolicyDef, ref: ResourceRef, config_rules: Sequence[Suppression]) -> Suppression | None:
    ids = (policy.id, policy.panther_id or "")
    for entry in ref.suppressions:
        if entry.get("id") in ids:
            return Suppression(entry["id"], ref.id, entry["reason"], origin="resource metadata")
    for rule in config_rules:
        if rule.matches(ids, ref.names()):
            return rule
    return None


def evaluate(policies: Iterable[PolicyDef], subjects: Iterable[Subject],
             settings: PostureSettings | None = None) -> list[Finding]:
    """Every applicable (policy, subject) verdict, suppressions applied."""
    settings = settings or PostureSettings()
    active = [p for p in policies if p.enabled and p.id not in settings.disabled_policies]
    config = settings.policy_config()
    findings = []
    for subject in subjects:
        for policy in active:
            if not policy.applies_to(subject.resource):
                continue
            status, reason = judge(policy, subject.resource, config)
            finding = Finding(policy, subject.ref, status, reason, verdict=status)
            if status in (FAIL, UNKNOWN):
                finding.suppression = _suppression_for(policy, subject.ref, settings.suppressions)
                if finding.suppression:
                    finding.status = SUPPRESSED
            findings.append(finding)
    return findings


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
