"""`bucketwatch checkov-checks-dir`: print the directory to pass to checkov's --external-checks-dir."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "checkov-checks-dir",
        help="print the checkov --external-checks-dir holding Bucketwatch's bucket policies",
        description="Print the directory of Bucketwatch's checkov external checks (CKV_BW_*), e.g. "
        "checkov -d cdk.out --external-checks-dir \"$(bucketwatch checkov-checks-dir)\"",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from policies.checkov import checks_dir

    print(checks_dir())
    return 0
