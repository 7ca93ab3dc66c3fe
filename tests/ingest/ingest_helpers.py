"""Helpers shared by the ingest tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, cwd: Path | None = None, stdin: bytes | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real command line in a child process (exit codes, stdout/stderr as users see them)."""
    return subprocess.run([sys.executable, "-m", "bucketwatch", *args], cwd=cwd, input=stdin,
                          capture_output=True, env=env, timeout=300)
