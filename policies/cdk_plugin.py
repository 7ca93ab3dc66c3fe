"""The synth-time gate: Bucketwatch's policies as a CDK policy-validation plugin.

    import aws_cdk as cdk
    from policies.cdk_plugin import BucketwatchValidationPlugin

    app = cdk.App()
    ...
    cdk.Validations.of(app).add_plugins(BucketwatchValidationPlugin(scope=app, config_file="bucketwatch.yml"))

During `cdk synth` CDK hands the plugin the synthesized templates; the plugin judges them with
the template source and the runner — exactly what `bucketwatch check cdk.out` does, with the same
pack, policy selection and suppressions — and reports every unsuppressed FAIL at or above the
threshold as a violation (severity "error"), which fails synthesis. Acknowledge a finding with a
reason (at least 10 characters) in any of the ways `bucketwatch check` honours too:

- the way CDK's report suggests: `cdk.Validations.of(construct).acknowledge(
  cdk.Acknowledgment(id="bucketwatch::BW.S3.Logging", reason="this IS the log bucket"))`;
- on the resource: `bucket.node.default_child.add_metadata("bucketwatch", {"suppressions":
  [{"id": "BW.S3.Logging", "reason": "this IS the log bucket"}]})`;
- in the config file's `posture.suppressions`.

CDK records acknowledgements made on a Stage or the App in no stack of the cloud assembly; with
`scope=app` the plugin reads them from the construct tree, so its own findings show them as
SUPPRESSED (CDK applies them to the report either way, and `check` reads them from CDK's
validation report).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii

from detectors.common.severity import parse_severity
from detectors.common.version import __version__
from policies.config import CDK, PostureSettings, load_settings
from policies.registry import PolicyDef, load_policies, select_policies
from policies.runner import Finding, SuppressionUse, blocking, evaluate, review_suppressions, summarize
from policies.sources.cfn_load import ACKNOWLEDGED_RULES
from policies.sources.template import collect_template_subjects


@jsii.implements(cdk.IPolicyValidationPlugin, cdk.IPolicyValidationPluginBeta1)
class BucketwatchValidationPlugin:
    """Runs the posture policies over the app's templates at the end of synthesis."""

    def __init__(self, *, config_file: str | Path | None = None, settings: PostureSettings | None = None,
                 fail_on: str | None = None, policy_dirs: Sequence[str | Path] = (),
                 scope: Any = None) -> None:
        self._settings = settings or load_settings(str(config_file) if config_file else None)
        self._threshold = parse_severity(fail_on, "fail_on") if fail_on else self._settings.severity_threshold
        self._loaded: list[PolicyDef] = load_policies([*self._settings.policy_dirs, *policy_dirs])
        self._policies = select_policies(self._loaded, self._settings)
        self._scope = scope
        self.findings: list[Finding] = []  # the last run's findings, for callers that want them all
        self.suppressions: list[SuppressionUse] = []  # the last run's suppressions, with their use

    @property
    def name(self) -> str:
        return "bucketwatch"

    @property
    def version(self) -> str:
        return __version__

    @property
    def rule_ids(self) -> list[str]:
        return [policy.id for policy in self._policies if policy.enabled]

    def validate(self, context: Any) -> cdk.PolicyValidationPluginReport:
        # CDK passes bare template paths, but writes the cloud assembly's manifest first:
        # load_paths reads each template through it (account, region, stack name, nested
        # stacks, acknowledgements), so the verdicts are those of `bucketwatch check cdk.out`.
        above = acknowledgements_above_stacks(self._scope)
        subjects = collect_template_subjects(list(context.template_paths), self._settings, acknowledgements=above)
        self.findings = evaluate(self._policies, subjects, self._settings)
        self.suppressions = review_suppressions(self.findings, subjects, self._settings, self._loaded, self._policies)
        failing = blocking(self.findings, self._threshold)
        # Failures acknowledged on a Stage or the App are reported all the same: CDK suppresses
        # them by the same rule and records them in validation-report.json, the only place
        # `bucketwatch check cdk.out` can learn of those acknowledgements from.
        recorded = {path.strip("/") or "*" for path in above}
        acknowledged_above = [f for f in blocking(_as_verdicts(self.findings), self._threshold)
                              if f.suppression is not None and f.suppression.origin == CDK
                              and f.suppression.resource in recorded]
        summary = summarize(self.findings, self._threshold)
        metadata = {status.lower(): str(count) for status, count in summary["by_status"].items()}
        problems = [f"{use.suppression.policy} ({use.suppression.where}): {use.problem}"
                    for use in self.suppressions if use.problem]
        if problems:
            metadata["suppression_problems"] = "; ".join(problems)
        return cdk.PolicyValidationPluginReport(
            success=not failing,
            violations=violations([*failing, *acknowledged_above]),
            plugin_version=__version__,
            metadata=metadata,
        )


def _as_verdicts(findings: Sequence[Finding]) -> list[Finding]:
    """The findings with their verdict as status (suppressed ones as what they were)."""
    return [replace(f, status=f.verdict) for f in findings]


def acknowledgements_above_stacks(scope: Any) -> dict[str, dict[str, str]]:
    """Construct path -> {rule id: reason} of the acknowledgements on `scope` and the constructs
    between it and its stacks (a Stack's own and its children's are in the assembly already)."""
    found: dict[str, dict[str, str]] = {}
    pending = [scope] if scope is not None else []
    while pending:
        construct = pending.pop()
        for entry in construct.node.metadata:
            if entry.type == ACKNOWLEDGED_RULES and isinstance(entry.data, dict):
                found.setdefault(construct.node.path, {}).update({str(k): str(v) for k, v in entry.data.items()})
        pending.extend(child for child in construct.node.children if not cdk.Stack.is_stack(child))
    return found


def violations(failing: Sequence[Finding]) -> list[cdk.PolicyViolation]:
    """One violation per policy, listing every resource that fails it. The severity is "error":
    CDK re-decides success from severities once anything is acknowledged, and only "error" (or
    "fatal") keeps failing it; the policy's own severity is in the description and metadata."""
    by_policy: dict[str, list[Finding]] = defaultdict(list)
    for finding in failing:
        by_policy[finding.policy.id].append(finding)
    result = []
    for policy_id, findings in sorted(by_policy.items()):
        policy = findings[0].policy
        reasons = "; ".join(sorted({f"{f.ref.logical_id or f.ref.id}: {f.reason}" for f in findings}))
        result.append(cdk.PolicyViolation(
            rule_name=policy_id,
            description=f"[{policy_id}] ({policy.severity}) {policy.title} — {reasons}",
            fix=policy.remediation or None,
            severity="error",
            rule_metadata={"severity": policy.severity, **{k: ", ".join(v) for k, v in (policy.reports or {}).items()}},
            violating_resources=[_resource(f) for f in findings],
        ))
    return result


def _resource(finding: Finding) -> cdk.PolicyViolatingResource:
    ref = finding.ref
    return cdk.PolicyViolatingResource(
        resource_logical_id=ref.logical_id or ref.id,
        template_path=ref.file or "",
        construct_path=ref.construct_path,
        locations=[f"line {ref.line}" if ref.line else ref.id],
    )
