"""Session fixtures for the infra tests; see synth_support.py for what each synthesizes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from synth_support import (
    ACCOUNT,
    HOME_REGION,
    OTHER_REGION,
    REPO_ROOT,
    TEST_CONTEXT,
    Synthesized,
    no_credentials_env,
    offline_command,
    org_context,
    read_templates,
)


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from aws_cdk import App

    from infra.app import build_app

    outdir = tmp_path_factory.mktemp("cdk-stub")
    app = App(outdir=str(outdir), context=TEST_CONTEXT)
    build_app(app)
    app.synth()
    return Synthesized(outdir, read_templates(outdir))


@pytest.fixture(scope="session")
def org_assembly(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from aws_cdk import App

    from infra.app import build_app

    outdir = tmp_path_factory.mktemp("cdk-org")
    app = App(outdir=str(outdir), context=org_context())
    build_app(app)
    app.synth()  # the gate passes, or this raises
    return Synthesized(outdir, read_templates(outdir))


@pytest.fixture(scope="session")
def home_stage() -> str:
    return f"Bucketwatch-{ACCOUNT}-{HOME_REGION}"


@pytest.fixture(scope="session")
def other_stage() -> str:
    return f"Bucketwatch-{ACCOUNT}-{OTHER_REGION}"


@pytest.fixture(scope="session")
def app_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python app.py` with the repository's cdk.json defaults and the real bundle, offline and
    without credentials."""
    outdir = tmp_path_factory.mktemp("cdk-app")
    command, env = offline_command([sys.executable, "app.py"], no_credentials_env(CDK_OUTDIR=str(outdir)))
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return outdir
