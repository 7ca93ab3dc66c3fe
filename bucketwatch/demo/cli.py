"""Command-line glue for the demo: arguments, the run, the printed report.

`bucketwatch demo` (bucketwatch/commands/demo.py) and `python -m bucketwatch.demo` both use
`add_arguments` and `main`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bucketwatch.demo.detection import DemoError
from bucketwatch.demo.report import render_text
from bucketwatch.demo.run import DEFAULT_SEED, DemoOptions, run_demo
from detectors.common.errors import UserError

DEFAULT_OUT = Path(".bucketwatch") / "demo"  # beside the default lake of `detect`; git-ignored
DEFAULT_ORG_OUT = Path(".bucketwatch") / "demo-organization"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder for the local lake, the alerts and the HTML report (default: ./{DEFAULT_OUT}, "
                             f"with --organization ./{DEFAULT_ORG_OUT})")
    parser.add_argument("--organization", action="store_true",
                        help="an AWS organization instead of one account: a central security account and three "
                             "members, their logs replicated and delivered into one central lake (docs/demo.md)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="seed of the generated traffic; the same seed gives the same story (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="print only the report, no progress")


def main(args: argparse.Namespace) -> int:
    out = args.out or (DEFAULT_ORG_OUT if args.organization else DEFAULT_OUT)
    try:
        result = run_demo(DemoOptions(out_dir=out, seed=args.seed, progress=False if args.quiet else None,
                                      quiet=args.quiet, organization=args.organization))
    except DemoError as exc:
        raise UserError(f"the demo failed: {exc}", exit_code=1) from exc
    if args.organization:
        from bucketwatch.demo.org_report import render_org_text

        print(render_org_text(result))  # type: ignore[arg-type]  (an OrgDemoResult)
    else:
        print(render_text(result))
    return 0 if result.counts.reconciled else 1


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bucketwatch.demo", description="Bucketwatch, all of it, locally.")
    add_arguments(parser)
    try:
        return main(parser.parse_args(argv))
    except UserError as exc:
        print(f"bucketwatch demo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bucketwatch demo: interrupted", file=sys.stderr)
        return 130
