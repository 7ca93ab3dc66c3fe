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
    parser.add_argument("--pack", metavar="PACK",
                        help="policy pack: baseline (default), strict (every built-in policy) or a pack file "
                        "(default: posture.pack)")
    parser.add_argument("--policies", metavar="IDS", action="append", default=[],
                        help="run only these policies (ids, Panther ids or globs; comma separated, repeatable), "
                        "instead of the pack")
    parser.add_argument("--skip-policies", metavar="IDS", action="append", default=[],
                        help="never run these policies (ids, Panther ids or globs; comma separated, repeatable)")
    parser.add_argument("--fail-on", metavar="SEVERITY", default=None,
                        help="lowest severity whose FAIL fails the run: info, low, medium, high, critical "
                        "(default: posture.severity_threshold, else info)")
    parser.add_argument("--config", metavar="FILE", help="Bucketwatch configuration file (posture: section)")
    parser.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--policy-dir", metavar="DIR", action="append", default=[],
                        help="extra Panther-format policy directory (repeatable)")


def _id_list(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def prepare(args: argparse.Namespace) -> tuple:
    """Settings (the config file, with the command line's pack and selection on top), the
    policies the run judges, the threshold, and every policy loaded (to tell a suppression that
    names no policy from one whose policy is not in the run)."""
    from detectors.common.severity import parse_severity
    from policies.config import load_settings
    from policies.registry import load_policies, select_policies

    settings = load_settings(args.config)
    if args.pack:
        settings.pack = args.pack
    if args.policies:
        settings.policies = _id_list(args.policies)
    settings.disabled_policies = [*settings.disabled_policies, *_id_list(args.skip_policies)]
    threshold = parse_severity(args.fail_on, "--fail-on") if args.fail_on else settings.severity_threshold
    loaded = load_policies([*settings.policy_dirs, *args.policy_dir])
    return settings, select_policies(loaded, settings), threshold, loaded


def run(args: argparse.Namespace) -> int:
    from policies.reporters import emit
    from policies.runner import evaluate, review_suppressions
    from policies.sources.template import collect_template_subjects

    settings, policies, threshold, loaded = prepare(args)
    subjects = collect_template_subjects(args.paths, settings)
    findings = evaluate(policies, subjects, settings)
    suppressions = review_suppressions(findings, subjects, settings, loaded, policies)
    return emit(args.format, findings, threshold, args.output, suppressions)
