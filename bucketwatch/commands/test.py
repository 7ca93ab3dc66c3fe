"""`bucketwatch test`: run rules' and policies' YAML tests, and a Panther pack's tests."""

from __future__ import annotations

import argparse

from bucketwatch.analysis_runner import format_report, run_all


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "test", help="run the Tests: of rules and policies (Panther analysis format)",
        description="Run every rule's and policy's own YAML tests (built-in ones, or those under DIR), "
                    "and with --panther-pack the test cases of a Panther analysis pack against our "
                    "implementation of the same ids. Ends with 'N passed, M failed'; exit 1 on failures.")
    parser.add_argument("dirs", nargs="*", metavar="DIR",
                        help="rule/policy pack directories to test instead of the built-in ones")
    parser.add_argument("--panther-pack", metavar="DIR",
                        help="a panther-analysis checkout (or part of it) whose tests to run against our rules/policies")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every test case, not only failures")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = run_all(args.dirs, args.panther_pack)
    for line in format_report(report, verbose=args.verbose):
        print(line)
    return 1 if report.failed else 0
