"""Running a real synthesis through the Bucketwatch gate, for the tests that compare it with `check`."""

from __future__ import annotations

from typing import Any


def synth_gated(app: Any, plugin: Any) -> tuple[Any, Exception | None]:
    """Synthesize `app` with `plugin` added; (the plugin, with its findings, and the error that
    failed synthesis, if any)."""
    import aws_cdk as cdk

    cdk.Validations.of(app).add_plugins(plugin)
    try:
        app.synth()
    except Exception as error:  # jsii raises the plugins' verdict as a plain Exception
        return plugin, error
    return plugin, None
