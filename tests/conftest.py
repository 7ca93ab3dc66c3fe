"""Shared fixtures: the local AWS endpoint (moto in server mode over HTTP on 127.0.0.1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketwatch.localaws import LOCAL_AWS_ENV, MotoServer

REPO_ROOT = Path(__file__).resolve().parent.parent

# No test may reach a real AWS account, whatever the developer's shell has set.
for _key, _value in LOCAL_AWS_ENV.items():
    os.environ[_key] = _value
for _key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_key, None)
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "1")
os.environ.setdefault("BC_SKIP_MAPPING", "TRUE")
os.environ.setdefault("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the session; use `aws_endpoint` for a clean account per test."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_endpoint(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean local account: moto is reset and boto3 in this process points at it."""
    moto_server.reset()
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    yield moto_server.endpoint_url


def find_conformance_dir() -> Path | None:
    """Panther's conformance pack: BUCKETWATCH_CONFORMANCE_DIR, else `../shared` beside the clone."""
    candidates = [
        Path(os.environ["BUCKETWATCH_CONFORMANCE_DIR"]) if os.environ.get("BUCKETWATCH_CONFORMANCE_DIR") else None,
        REPO_ROOT.parent / "shared" / "conformance" / "panther-analysis",
    ]
    return next((c for c in candidates if c and (c / "SOURCE.md").is_file()), None)


CONFORMANCE_MISSING = (
    "Panther's conformance pack not found: expected ../shared/conformance/panther-analysis "
    "or BUCKETWATCH_CONFORMANCE_DIR pointing at it"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A user's clone has no ../shared: the tests that need Panther's pack are not run there
    (deselected, with one line saying so). CI sets BUCKETWATCH_REQUIRE_CONFORMANCE=1 and runs them."""
    if find_conformance_dir() is not None:
        return
    needing = [item for item in items if "conformance_dir" in getattr(item, "fixturenames", ())]
    if not needing:
        return
    if os.environ.get("BUCKETWATCH_REQUIRE_CONFORMANCE") == "1":
        raise pytest.UsageError(CONFORMANCE_MISSING + " (BUCKETWATCH_REQUIRE_CONFORMANCE=1)")
    config.hook.pytest_deselected(items=needing)
    items[:] = [item for item in items if item not in needing]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Printed by the process that reports (the xdist controller too, which collects nothing).
    if find_conformance_dir() is None:
        terminalreporter.write_line(
            "note: the tests that need Panther's conformance pack were not run: it is not beside this "
            "clone (../shared/conformance/panther-analysis); CI runs them")


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """Panther's conformance pack from `../shared`, where CI and sessions place it."""
    found = find_conformance_dir()
    if found is None:
        raise RuntimeError(CONFORMANCE_MISSING)
    return found
