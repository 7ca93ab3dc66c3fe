"""`bucketwatch check PATH...`: judge the buckets and trails in templates before deploying.

Exit codes: 0 nothing blocks, 1 an unsuppressed FAIL at or above --fail-on, 2 unusable input.
Imports stay inside the handler: `bucketwatch --help` and friends must not pay for them.
"""

from __future__ import annotations

import argparse

FORMATS = ("text", "json", "sarif", "junit")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="judge S3 buckets and CloudTrail trails in CloudFormation templates or a cdk.out",
        description="Run the posture policies over CloudFormation templates (JSON/YAML) and cdk.out "
        "assemblies. Exit 1 on an unsuppressed FAIL at or above --fail-on, 2 on unusable input.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="template files, directories or cdk.out")
    add_report_arguments(parser)
    parser.set_defaults(func=run)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Options `check` and `scan` share."""
    parser.add_argument("--format", choices=FORMATS, default="text", help="report format (default: text)")
    parser.add_argument("--fail-on", metavar="SEVERITY", default=None,
                        help="lowest severity whose FAIL fails the run: info, low, medium, high, critical "
                        "(default: posture.severity_threshold, else info)")
    parser.add_argument("--config", metavar="FILE", help="Bucketwatch configuration file (posture: section)")
    parser.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--policy-dir", metavar="DIR", action="append", default=[],
                        help="extra Panther-format policy directory (repeatable)")


def prepare(args: argparse.Namespace) -> tuple:
    """Settings, policies and threshold from the shared options."""
    from detectors.common.severity import parse_severity
    from policies.config import load_settings
    from policies.registry import load_policies

    settings = load_settings(args.config)
    threshold = parse_severity(args.fail_on, "--fail-on") if args.fail_on else settings.severity_threshold
    policies = load_policies([*settings.policy_dirs, *args.policy_dir])
    return settings, policies, threshold


def run(args: argparse.Namespace) -> int:
    from policies.reporters import emit
    from policies.runner import evaluate
    from policies.sources.template import collect_template_subjects

    settings, policies, threshold = prepare(args)
    subjects = collect_template_subjects(args.paths, settings)
    return emit(args.format, evaluate(policies, subjects, settings), threshold, args.output)
