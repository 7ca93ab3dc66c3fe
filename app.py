#!/usr/bin/env python3
"""CDK app: Bucketwatch stages from `cdk.json` context `bucketwatch` (single-account deployments,
or an organization: a central security account and its members). See docs/infra.md.

Synthesis is gated by Bucketwatch's own posture policies and cdk-nag's AwsSolutions pack,
both CDK validation plugins: synthesis fails on any finding not acknowledged with a written
reason (see infra/waivers.py). Needs no AWS credentials (environment-agnostic by default).

`npx cdk synth` runs this file; `python app.py` works too and behaves the same: it reads
cdk.json's context itself (a `CDK_CONTEXT_JSON` in the environment overrides its keys, e.g.
`CDK_CONTEXT_JSON="$(cat examples/organization-context.json)" python app.py`) and writes ./cdk.out.

Exit codes: 0 synthesized; 1 the gate found unacknowledged findings (one line each, the full
report in cdk.out/validation-report.json); 2 unusable context (one line naming the key).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App

from detectors.common.errors import UserError
from infra.app import build_app, synthesize

HERE = Path(__file__).resolve().parent


def cli_context() -> dict[str, Any] | None:
    """cdk.json (and cdk.context.json) context, under any context the CDK CLI or the environment
    passes (`CDK_CONTEXT_JSON` / `CDK_CONTEXT_FILE` take precedence key by key)."""
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
    except UserError as error:
        print(f"bucketwatch app: error: {error}", file=sys.stderr)
        return error.exit_code
    return synthesize(app, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
