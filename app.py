#!/usr/bin/env python3
"""CDK app: one Bucketwatch stage per account/region listed in `cdk.json` (context `bucketwatch`).

Synthesis is gated by Bucketwatch's own posture policies and cdk-nag's AwsSolutions pack,
both CDK validation plugins: synthesis fails on any finding not acknowledged with a written
reason (see infra/waivers.py). Needs no AWS credentials (environment-agnostic by default).

`npx cdk synth` runs this file; `python app.py` works too and behaves the same (it reads
cdk.json's context itself and writes ./cdk.out).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App

from infra.app import build_app
from infra.config import ConfigError

HERE = Path(__file__).resolve().parent


def cli_context() -> dict[str, Any] | None:
    """cdk.json (and cdk.context.json) context when not run by the CDK CLI, which passes its own."""
    if os.environ.get("CDK_CONTEXT_JSON") or os.environ.get("CDK_CONTEXT_FILE"):
        return None
    context: dict[str, Any] = {}
    for name in ("cdk.json", "cdk.context.json"):
        path = HERE / name
        if path.is_file():
            data = json.loads(path.read_text())
            context.update(data.get("context", {}) if name == "cdk.json" else data)
    return context


def main() -> int:
    outdir = None if os.environ.get("CDK_OUTDIR") else str(HERE / "cdk.out")
    app = App(outdir=outdir, context=cli_context())
    try:
        build_app(app)
    except ConfigError as error:
        print(f"bucketwatch app: error: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
