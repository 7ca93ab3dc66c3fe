"""`bucketwatch` entry point.

Each sub-command lives in its own module under `bucketwatch/commands/` and exposes
`register(subparsers) -> None`, which adds its parser and sets `func=handler` on it.
Handlers take the parsed `argparse.Namespace` and return an exit code.
Adding a command means adding a module; this file never changes for it. Only the module of the
command being run is imported (commands pull in pyarrow, duckdb, boto3...), so `check` on one
template does not pay for `detect`'s imports; help and unknown commands import them all.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from bucketwatch import __version__, commands
from detectors.common.errors import UserError


def command_modules() -> list[str]:
    names = (m.name for m in pkgutil.iter_modules(commands.__path__))
    return sorted(name for name in names if not name.startswith("_"))


def requested_module(argv: Sequence[str]) -> str | None:
    """The command module named by the first positional argument, if there is one."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    if first is None:
        return None
    name = first.replace("-", "_")
    return name if name in command_modules() else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bucketwatch",
        description="S3 bucket security monitoring: detections over logs, posture policies over buckets.",
    )
    parser.add_argument("--version", action="version", version=f"bucketwatch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [only] if only else command_modules():
        importlib.import_module(f"{commands.__name__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=requested_module(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"bucketwatch {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"bucketwatch {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and friends: not an error worth a traceback.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
