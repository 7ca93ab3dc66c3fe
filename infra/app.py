"""Builds the Bucketwatch app: stages from context, plus the synth-time validation plugins."""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import CONTEXT_KEY, deployments_from_context
from infra.stack import BucketwatchStage
from policies.cdk_plugin import BucketwatchValidationPlugin
from policies.config import PostureSettings


def build_app(app: App, *, validate: bool = True) -> list[BucketwatchStage]:
    stages = [BucketwatchStage(app, deployment) for deployment in deployments_from_context(app.node.try_get_context(CONTEXT_KEY))]
    if validate:
        add_validation_plugins(app)
    return stages


def add_validation_plugins(app: App) -> None:
    """cdk-nag's AwsSolutions pack and Bucketwatch's own posture policies."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), _bucketwatch_plugin(app))


def _bucketwatch_plugin(app: App) -> BucketwatchValidationPlugin:
    # Our own infrastructure is held to every policy (the strict pack), not just the default
    # baseline: each exception is a written waiver in infra/waivers.py.
    return BucketwatchValidationPlugin(settings=PostureSettings(pack="strict"), scope=app)
