"""Real checkov with Bucketwatch's external checks gives the same verdicts as our own runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bucketwatch.cli import main
from policies.checkov import checkov_id
from policies.checkov.adapter import eligible
from policies.runner import evaluate
from policies.sources.template import collect_template_subjects

TEMPLATES = Path(__file__).parent / "templates"
CHECKOV = [sys.executable, "-c", "from checkov.main import Checkov; import sys; sys.exit(Checkov().run())"]


def test_checks_dir_command_prints_an_importable_directory(capsys) -> None:
    assert main(["checkov-checks-dir"]) == 0
    directory = Path(capsys.readouterr().out.strip())
    assert (directory / "__init__.py").is_file() and (directory / "bucketwatch_checks.py").is_file()


def test_checks_follow_the_configured_pack() -> None:
    from policies.checkov.adapter import checks_for
    from policies.config import PostureSettings

    default = {p.id for p in checks_for(PostureSettings())}
    assert "BW.S3.Versioning" in default and "BW.S3.ObjectLock" not in default  # baseline
    assert "BW.S3.ObjectLock" in {p.id for p in checks_for(PostureSettings(pack="strict"))}
    assert {p.id for p in checks_for(PostureSettings(policies=["BW.S3.Encryption*"]))} == {
        "BW.S3.Encryption", "BW.S3.EncryptionKMS"}


def test_only_own_property_policies_become_checks(policies) -> None:
    chosen = {p.id for p in policies if eligible(p)}
    assert {"BW.S3.Encryption", "BW.S3.Versioning", "BW.S3.PublicRead", "BW.S3.AclsDisabled"} <= chosen
    # Cross-resource or not expressible in CloudFormation: our runner only.
    assert not chosen & {"BW.S3.SecureAccess", "BW.S3.MonitoringCoverage", "BW.S3.LogTargetSanity",
                         "BW.S3.MFADelete", "BW.S3.AccountPublicAccessBlock", "BW.S3.CrossAccountPrincipals"}


def _checkov(directory: Path, check_ids: list[str], cwd: Path) -> dict[tuple[str, str, str], str]:
    from policies.checkov import checks_dir

    config = cwd / "strict.yml"  # every policy, so each eligible one is compared
    config.write_text("posture:\n  pack: strict\n")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "WARNING",
           "BUCKETWATCH_CONFIG": str(config)}
    result = subprocess.run(
        [*CHECKOV, "-d", str(directory), "--framework", "cloudformation", "--external-checks-dir", str(checks_dir()),
         "--check", ",".join(check_ids), "-o", "json", "--compact"],
        capture_output=True, text=True, cwd=cwd, env=env, check=False, timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    verdicts = {}
    for report in reports if isinstance(reports, list) else [reports]:
        for key, status in (("passed_checks", "PASS"), ("failed_checks", "FAIL")):
            for check in report["results"].get(key, []):
                logical_id = check["resource"].split(".", 1)[1]
                verdicts[(Path(check["file_path"]).name, logical_id, check["check_id"])] = status
    return verdicts


def _ours(policies, paths: list[str]) -> dict[tuple[str, str, str], str]:
    chosen = [p for p in policies if eligible(p)]
    findings = evaluate(chosen, collect_template_subjects(paths))
    # checkov has no UNKNOWN in its report: an undecidable check is left out, as here.
    return {(Path(f.ref.file).name, f.ref.logical_id, checkov_id(f.policy.id)): f.verdict
            for f in findings if f.verdict in ("PASS", "FAIL")}


@pytest.mark.slow
@pytest.mark.xdist_group("policies-cdk")
def test_checkov_verdicts_equal_ours(policies, cdk_out: Path, tmp_path: Path) -> None:
    # One checkov run over hand-written templates and a real cdk synth output side by side.
    work = tmp_path / "templates"
    work.mkdir()
    for name in ("secure.json", "short_form.yaml"):
        shutil.copy(TEMPLATES / name, work / name)
    shutil.copytree(cdk_out, work / "cdk.out")
    ours = _ours(policies, [str(work / "secure.json"), str(work / "short_form.yaml"), str(work / "cdk.out")])
    theirs = _checkov(work, [checkov_id(p.id) for p in policies if eligible(p)], cwd=tmp_path)
    assert ours == theirs
    assert "FAIL" in ours.values() and "PASS" in ours.values()
    assert ("secure.json", "SelfLogging", "CKV_BW_S3_PUBLICREAD") in ours
    nested = [key for key in ours if key[1].startswith("NestedPlain")]  # nested stack templates too
    assert nested and nested[0][0].endswith(".nested.template.json")
