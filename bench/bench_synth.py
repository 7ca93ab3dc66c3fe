#!/usr/bin/env python3
"""Synthesis time of the Bucketwatch CDK app, against a one-bucket baseline in the same run.

    .venv/bin/python bench/bench_synth.py [--repeat N]

Each case runs in a fresh interpreter (as `cdk synth` does): the time to import aws_cdk and
start the jsii runtime is part of every case, and the baseline (one stack, one bucket) shows
how much of it is fixed cost. Cases:

  baseline        one stack with one bucket
  app-stub        the Bucketwatch app, placeholder Lambda code, no validation plugins
  app-bundle      the same with the real Lambda bundle (what deploys)
  app-gated       `python app.py`: real bundle, cdk-nag + Bucketwatch policy plugins
  org-gated       the same with examples/organization-context.json (a central stage and five
                  member-region stages)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

PRELUDE = """
import json, sys, time
start = time.perf_counter()
from aws_cdk import App
"""
CASES = {
    "baseline": """
from aws_cdk import Stack, aws_s3 as s3
app = App(outdir=sys.argv[1])
s3.Bucket(Stack(app, "Baseline"), "Bucket")
""",
    "app-stub": """
from infra.app import build_app
app = App(outdir=sys.argv[1], context={"bucketwatch:stubLambdaCode": "true"})
build_app(app, validate=False)
""",
    "app-bundle": """
from infra.app import build_app
app = App(outdir=sys.argv[1])
build_app(app, validate=False)
""",
    "app-gated": """
from infra.app import build_app
app = App(outdir=sys.argv[1])
build_app(app)
""",
    "org-gated": """
from infra.app import build_app
context = json.loads(open("examples/organization-context.json").read())
app = App(outdir=sys.argv[1], context={**context, "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True})
build_app(app)
""",
}
EPILOGUE = """
built = time.perf_counter()
app.synth()
done = time.perf_counter()
print(json.dumps({"construct": built - start, "synth": done - built, "total": done - start}))
"""


def run_case(name: str) -> dict[str, float]:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1"}
    with tempfile.TemporaryDirectory(prefix=f"bench-synth-{name}-") as outdir:
        wall = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", PRELUDE + CASES[name] + EPILOGUE, outdir],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False,
        )
        wall = time.perf_counter() - wall
    if result.returncode != 0:
        raise SystemExit(f"bench_synth: case {name} failed:\n{result.stderr[-3000:]}")
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    return {**timings, "wall": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported (default 3)")
    args = parser.parse_args()
    medians: dict[str, dict[str, float]] = {}
    for name in CASES:
        runs = [run_case(name) for _ in range(args.repeat)]
        medians[name] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    base = medians["baseline"]["wall"]
    print(f"{'case':<12} {'wall s':>8} {'build s':>8} {'synth s':>8} {'vs baseline':>12}")
    for name, m in medians.items():
        print(f"{name:<12} {m['wall']:8.2f} {m['construct']:8.2f} {m['synth']:8.2f} {m['wall'] / base:11.2f}x")
    print(f"(median of {args.repeat} runs each, fresh interpreter per run; 'build' includes importing aws_cdk)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
