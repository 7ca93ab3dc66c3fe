"""`bucketwatch demo`: the whole product on a local AWS endpoint, no AWS account (docs/demo.md)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run all of Bucketwatch locally on a generated account and attack (no AWS account)",
        description="Starts a local AWS endpoint (moto), provisions a demo account, replays a day of S3 "
                    "traffic with an attack, runs the detections, the posture scan and the tutorial's SQL, "
                    "and writes an HTML report. With --organization: AWS Organizations with a central "
                    "security account and three members, every member's logs in one central lake, and a "
                    "report by account.")
    from bucketwatch.demo.cli import add_arguments

    add_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from bucketwatch.demo.cli import main

    return main(args)
