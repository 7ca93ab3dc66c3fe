"""Helpers for the ingest tests: the log generator from bench/ and a CLI runner."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def generator():
    """bench/gen_access_logs.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gen_access_logs", REPO / "bench" / "gen_access_logs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(*args: str, cwd: Path | None = None, stdin: bytes | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real command line in a child process (exit codes, stdout/stderr as users see them)."""
    return subprocess.run([sys.executable, "-m", "bucketwatch", *args], cwd=cwd, input=stdin,
                          capture_output=True, env=env, timeout=300)
