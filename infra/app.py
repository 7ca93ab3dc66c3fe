"""Builds the Bucketwatch app: stages from context, plus the synth-time validation plugins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from aws_cdk import App, Stage, Validations
from cdk_nag import AwsSolutionsChecks

from detectors.common import exitcodes
from infra.central import CentralStage
from infra.config import CONTEXT_KEY, AppPlan, plan_from_context
from infra.member import MemberStage
from infra.stack import BucketwatchStage
from policies.cdk_plugin import BucketwatchValidationPlugin
from policies.config import PostureSettings

GATE_PACK = "strict"  # our own infrastructure is held to every policy


def build_app(app: App, *, validate: bool = True) -> list[Stage]:
    plan = plan_from_context(app.node.try_get_context(CONTEXT_KEY))
    stages = build_stages(app, plan)
    if validate:
        add_validation_plugins(app, plan)
    return stages


def build_stages(app: App, plan: AppPlan) -> list[Stage]:
    """Single-account stages, or the central stage then one stage per member region."""
    organization = plan.organization
    if organization is None:
        return [BucketwatchStage(app, deployment) for deployment in plan.deployments]
    stages: list[Stage] = [CentralStage(app, organization)]
    for member in organization.members:
        stages += [MemberStage(app, organization, member, region) for region in member.regions]
    return stages


def add_validation_plugins(app: App, plan: AppPlan | None = None) -> None:
    """cdk-nag's AwsSolutions pack and Bucketwatch's own posture policies."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), _bucketwatch_plugin(app, plan or AppPlan()))


def _bucketwatch_plugin(app: App, plan: AppPlan) -> BucketwatchValidationPlugin:
    # scope=app: acknowledgements on the App or a Stage reach the plugin's own report too.
    return BucketwatchValidationPlugin(settings=gate_settings(plan), scope=app)


def gate_settings(plan: AppPlan) -> PostureSettings:
    """The posture settings the gate judges the app with: every policy (the strict pack, not just
    the default baseline: each exception is a written waiver in infra/waivers.py), plus the
    organization when there is one, so its own accounts are inside, not cross-account principals
    to flag, should a bucket policy name one (the archive's grants are keyed on the organization
    and name none today)."""
    if plan.organization is None:
        return PostureSettings(pack=GATE_PACK)
    return PostureSettings(pack=GATE_PACK, organization=plan.organization.settings())


REPORT_NAME = "validation-report.json"


def synthesize(app: App, stderr: TextIO, *, name: str = "bucketwatch app") -> int:
    """`app.synth()`; 0, or 1 with one line per unacknowledged finding of the validation plugins
    (rule, plugin, construct path) and where the full report is, instead of jsii's traceback."""
    try:
        app.synth()
    except RuntimeError as error:  # jsii wraps the plugins' verdict; anything else is a real bug
        if "ValidationFailed" not in str(error):
            raise
        report = Path(app.outdir) / REPORT_NAME
        findings = gate_findings(report)
        print(f"{name}: synthesis failed the gate with {len(findings)} unacknowledged finding(s):", file=stderr)
        for finding in findings:
            print(f"  {finding}", file=stderr)
        print(f"{name}: full report: {report}", file=stderr)
        return exitcodes.FINDINGS
    return exitcodes.OK


def gate_findings(report: Path) -> list[str]:
    """`<rule> (<plugin>): <construct path>` for each violating construct in a validation report."""
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        return []
    return [
        f"{violation.get('ruleName')} ({plugin.get('pluginName')}): {construct.get('constructPath')}"
        for plugin in data.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]
