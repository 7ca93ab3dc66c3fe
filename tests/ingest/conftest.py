"""Fixtures for the ingest tests: the log generator from bench/."""

from __future__ import annotations

import importlib.util
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
