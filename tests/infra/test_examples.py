"""Every documented example context synthesizes as a user runs it (`python app.py` with the
context, and `npx cdk synth -c bucketwatch=...`): real Lambda bundle, no credentials, no network,
both gates passing; the organization's templates also pass checkov with only the written waivers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from synth_support import (
    CENTRAL_STAGE,
    EXAMPLES,
    MEMBER_STAGES,
    ORG_EXAMPLE,
    REPO_ROOT,
    no_credentials_env,
    offline_command,
    run_checkov,
)

from infra import waivers

pytestmark = pytest.mark.xdist_group("infra-app")
CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"


def synthesize(example: Path, outdir: Path) -> subprocess.CompletedProcess[str]:
    env = no_credentials_env(CDK_OUTDIR=str(outdir), CDK_CONTEXT_JSON=example.read_text())
    command, env = offline_command([sys.executable, "app.py"], env)
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_examples_are_the_documented_ones() -> None:
    assert [p.name for p in EXAMPLES] == ["multi-account-context.json", "organization-context.json"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_context_synthesizes_and_passes_the_gates(example: Path, tmp_path: Path) -> None:
    result = synthesize(example, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert report["pluginReports"] == []
    stages = sorted(p.name.removeprefix("assembly-") for p in tmp_path.glob("assembly-*"))
    context = json.loads(example.read_text())["bucketwatch"]
    if "organization" in context:
        assert stages == sorted([CENTRAL_STAGE, *MEMBER_STAGES])
    else:
        assert stages == sorted(f"Bucketwatch-{d['account']}-{d['region']}" for d in context["deployments"])


@pytest.fixture(scope="module")
def org_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("org-app")
    result = synthesize(ORG_EXAMPLE, outdir)
    assert result.returncode == 0, result.stderr[-4000:]
    return outdir


def test_organization_passes_checkov_with_only_the_written_waivers(org_out: Path) -> None:
    checkov = run_checkov(org_out)
    assert checkov.failed == []
    assert checkov.returncode == 0
    assert checkov.passed > 100
    # Central: four functions (detector, posture dispatcher and worker, scheduled analysis) and their
    # dead-letter queues, the posture work queue, its access-log bucket; each of the five member
    # regions: its access-log bucket.
    assert checkov.skipped == sorted(
        [("CKV_AWS_117", "AWS::Lambda::Function")] * 4 + [("CKV_AWS_27", "AWS::SQS::Queue")] * 5
        + [("CKV_AWS_18", "AWS::S3::Bucket")] * 6
    )
    reasons = {w.reason for w in vars(waivers).values() if isinstance(w, waivers.Waiver)}
    assert set(checkov.skip_comments) <= reasons


def test_cdk_cli_synthesizes_the_organization_offline(tmp_path: Path) -> None:
    context = json.dumps(json.loads(ORG_EXAMPLE.read_text())["bucketwatch"])
    env = no_credentials_env(PATH=f"{Path(sys.executable).parent}:{CLI.parent}:/usr/bin:/bin")
    command, env = offline_command(
        [str(CLI), "synth", "--ci", "--no-notices", "--quiet", "--output", str(tmp_path), "--context", f"bucketwatch={context}"], env
    )
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert sorted(p.name.removeprefix("assembly-") for p in tmp_path.glob("assembly-*")) == sorted([CENTRAL_STAGE, *MEMBER_STAGES])
    assert json.loads((tmp_path / "validation-report.json").read_text())["pluginReports"] == []
