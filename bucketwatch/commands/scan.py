"""`bucketwatch scan`: judge live buckets and trails with the same policies `check` uses.

Exit codes as for `check`: 0 nothing blocks, 1 an unsuppressed FAIL at or above --fail-on,
2 unusable input, an organization that cannot be listed, or no account that can be scanned at
all (one line saying why). An account that cannot be scanned among others that can is an UNKNOWN
result (named on stderr too), which does not fail the run.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading

from bucketwatch.commands.check import add_report_arguments

REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
ROLE_NAME = re.compile(r"^[\w+=,.@/-]{1,512}$")  # IAM's characters; a path may precede the name


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="judge live S3 buckets and CloudTrail trails with the posture policies",
        description="Read every bucket's configuration with boto3 (each in its own region, concurrently) "
        "and run the posture policies. A denied API call makes only the policies that need it UNKNOWN. "
        "Exit 1 on an unsuppressed FAIL at or above --fail-on, 2 on unusable input.",
    )
    parser.add_argument("--regions", nargs="+", action="extend", metavar="REGION",
                        help="only buckets in these regions (space or comma separated; default: all)")
    parser.add_argument("--buckets", nargs="+", action="extend", metavar="GLOB",
                        help="only buckets whose name matches one of these globs")
    parser.add_argument("--profile", help="AWS profile to scan with")
    parser.add_argument("--role-arn", nargs="+", action="extend", dest="role_arns", metavar="ARN",
                        help="scan the account of each role (sts:AssumeRole from the profile's credentials)")
    parser.add_argument("--organization", action="store_true",
                        help="scan every ACTIVE account AWS Organizations lists, each through --role-name "
                        "(the caller's own account through it too when it can be assumed, else with the "
                        "caller's credentials)")
    parser.add_argument("--role-name", metavar="NAME",
                        help="with --organization: the read-only role to assume in each account "
                        "(default: the config file's organization.audit_role_name)")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="custom AWS endpoint for every service (e.g. moto); default AWS_ENDPOINT_URL")
    parser.add_argument("--workers", type=int, default=32, metavar="N",
                        help="concurrent API calls (default: 32)")
    add_report_arguments(parser)
    parser.set_defaults(func=run)


def _regions(values: list[str] | None) -> list[str] | None:
    from detectors.common.errors import UserError

    regions = [r.strip() for value in values or [] for r in value.split(",") if r.strip()]
    bad = [r for r in regions if not REGION.match(r)]
    if bad:
        raise UserError(f"--regions: not an AWS region name: {', '.join(bad)} (expected e.g. us-east-1)")
    return regions or None


def run(args: argparse.Namespace) -> int:
    from bucketwatch.commands.check import prepare
    from bucketwatch.progress import Progress
    from detectors.common.errors import UserError
    from policies.reporters import emit
    from policies.runner import review_suppressions
    from policies.sources.live_clients import LiveSourceError
    from policies.sources.live_scan import LiveScanRequest, run_live_scan

    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    regions = _regions(args.regions)
    settings, policies, threshold, loaded = prepare(args)
    role_name = _role_name(args, settings.organization.audit_role_name)
    request = LiveScanRequest(regions=regions, bucket_globs=args.buckets, profile=args.profile,
                              role_arns=args.role_arns, endpoint_url=args.endpoint_url, workers=args.workers,
                              settings=settings, policies=policies, organization=args.organization,
                              role_name=role_name)
    progress = Progress("scan", unit="buckets")
    lock = threading.Lock()

    def bucket_done(count: int) -> None:
        with lock:  # called from the collector's worker threads
            progress.update(count)

    try:
        result = run_live_scan(request, on_bucket=bucket_done)
    except LiveSourceError as exc:
        raise UserError(str(exc)) from exc
    finally:
        progress.close()
    for account in result.stats.not_scanned:
        print(f"bucketwatch scan: warning: account {account.account_id or '?'} not scanned "
              f"(UNKNOWN, does not fail the run): {account.error}", file=sys.stderr)
    # Live buckets carry no suppressions of their own: the config file's are the ones to review.
    suppressions = review_suppressions(result.findings, [], settings, loaded, policies)
    return emit(args.format, result.findings, threshold, args.output, suppressions,
                accounts=[account.to_dict() for account in result.accounts])


def _role_name(args: argparse.Namespace, configured: str | None) -> str | None:
    from detectors.common.errors import UserError

    if not args.organization:
        if args.role_name:
            raise UserError("--role-name applies to --organization scans; use --role-arn for given accounts")
        return None
    if args.role_arns:
        raise UserError("--organization and --role-arn cannot be combined: the organization's accounts are "
                        "each reached through --role-name")
    name = args.role_name or configured
    if not name:
        raise UserError("--organization needs --role-name (or organization.audit_role_name in --config)")
    if not ROLE_NAME.match(name):
        raise UserError(f"--role-name: not an IAM role name, got {name!r} (e.g. BucketwatchAudit)")
    return name
