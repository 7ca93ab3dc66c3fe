#!/usr/bin/env python3
"""CDK app: one Bucketwatch stage per account/region listed in `cdk.json` (context `bucketwatch`).

Synthesis is gated by Bucketwatch's own posture policies and cdk-nag's AwsSolutions pack,
both CDK validation plugins: `cdk synth` fails on any finding not acknowledged with a reason
(see infra/waivers.py). Works with no AWS credentials (environment-agnostic by default).
"""

from __future__ import annotations

import os
import sys

from aws_cdk import App

from infra.app import build_app
from infra.config import ConfigError


def main() -> int:
    # The CDK CLI passes CDK_OUTDIR; run directly (`python app.py`), write ./cdk.out like it would.
    app = App(outdir=None if os.environ.get("CDK_OUTDIR") else "cdk.out")
    try:
        build_app(app)
    except ConfigError as error:
        print(f"bucketwatch app: error: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
