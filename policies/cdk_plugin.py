"""The synth-time gate: Bucketwatch's policies as a CDK policy-validation plugin.

    import aws_cdk as cdk
    from policies.cdk_plugin import BucketwatchValidationPlugin

    app = cdk.App()
    ...
    cdk.Validations.of(app).add_plugins(BucketwatchValidationPlugin(config_file="bucketwatch.yml"))

During `cdk synth` CDK hands the plugin the synthesized templates; the plugin judges them with
the template source and the runner — exactly what `bucketwatch check cdk.out` does — and
reports every unsuppressed FAIL at or above the threshold as a violation, which fails
synthesis. Acknowledge a finding with a reason (at least 10 characters) in the config file's
`posture.suppressions`, or on the resource itself:

    bucket.node.default_child.add_metadata(
        "bucketwatch", {"suppressions": [{"id": "BW.S3.Logging", "reason": "this IS the log bucket"}]})
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii

from detectors.common.severity import parse_severity
from detectors.common.version import __version__
from policies.config import PostureSettings, load_settings
from policies.registry import PolicyDef, load_policies
from policies.runner import Finding, blocking, evaluate, summarize
from policies.sources.template import collect_template_subjects


@jsii.implements(cdk.IPolicyValidationPlugin, cdk.IPolicyValidationPluginBeta1)
class BucketwatchValidationPlugin:
    """Runs the posture policies over the app's templates at the end of synthesis."""

    def __init__(self, *, config_file: str | Path | None = None, settings: PostureSettings | None = None,
                 fail_on: str | None = None, policy_dirs: Sequence[str | Path] = ()) -> None:
        self._settings = settings or load_settings(str(config_file) if config_file else None)
        self._threshold = parse_severity(fail_on, "fail_on") if fail_on else self._settings.severity_threshold
        self._policies: list[PolicyDef] = load_policies([*self._settings.policy_dirs, *policy_dirs])
        self.findings: list[Finding] = []  # the last run's findings, for callers that want them all

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
        # stacks), so the verdicts are those of `bucketwatch check cdk.out`.
        subjects = collect_template_subjects(list(context.template_paths), self._settings)
        self.findings = evaluate(self._policies, subjects, self._settings)
        failing = blocking(self.findings, self._threshold)
        summary = summarize(self.findings, self._threshold)
        return cdk.PolicyValidationPluginReport(
            success=not failing,
            violations=violations(failing),
            plugin_version=__version__,
            metadata={status.lower(): str(count) for status, count in summary["by_status"].items()},
        )


def violations(failing: Sequence[Finding]) -> list[cdk.PolicyViolation]:
    """One violation per policy, listing every resource that fails it."""
    by_policy: dict[str, list[Finding]] = defaultdict(list)
    for finding in failing:
        by_policy[finding.policy.id].append(finding)
    result = []
    for policy_id, findings in sorted(by_policy.items()):
        policy = findings[0].policy
        reasons = "; ".join(sorted({f"{f.ref.logical_id or f.ref.id}: {f.reason}" for f in findings}))
        result.append(cdk.PolicyViolation(
            rule_name=policy_id,
            description=f"[{policy_id}] {policy.title} — {reasons}",
            fix=policy.remediation or None,
            severity=policy.severity,
            rule_metadata={k: ", ".join(v) for k, v in (policy.reports or {}).items()} or None,
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
