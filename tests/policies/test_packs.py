"""Policy packs, like cdk-nag's: data files naming policies; `baseline` by default, `strict` with
every built-in policy; `--pack`, `--policies` and `--skip-policies` (and their config keys) for
`check` and `scan` alike; docs/policies.md lists what each pack holds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bucketwatch.cli import build_parser, main
from detectors.common.errors import UserError
from policies.config import PostureSettings
from policies.registry import builtin_packs, load_pack, load_policies, select_policies

DOCS = Path(__file__).resolve().parents[2] / "docs" / "policies.md"
PLAIN_BUCKET = "Resources:\n  Plain:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n"


def test_builtin_packs_hold_known_policies_and_strict_holds_them_all(policies) -> None:
    assert builtin_packs() == ["baseline", "strict"]
    baseline, strict = load_pack("baseline").policies, load_pack("strict").policies
    builtin = {p.id for p in policies if p.builtin}
    assert set(baseline) < set(strict) == builtin
    assert all(why for why in strict.values())  # every entry says why it is in the pack


def test_docs_list_what_each_pack_holds(policies) -> None:
    """The policy table's pack column is the pack data, not a copy that can drift."""
    rows = re.findall(r"^\| `(BW\.[A-Za-z0-9.]+)` \|.*\| (baseline|strict) \|$", DOCS.read_text(), re.M)
    documented = dict(rows)
    baseline = load_pack("baseline").policies
    assert documented == {p.id: "baseline" if p.id in baseline else "strict" for p in policies if p.builtin}


def _check(capsys, tmp_path: Path, *argv: str) -> tuple[int, dict]:
    path = tmp_path / "plain.yaml"
    path.write_text(PLAIN_BUCKET)
    code = main(["check", str(path), "--format", "json", *argv])
    captured = capsys.readouterr()
    if code == 2:
        return code, {"error": captured.err}
    return code, json.loads(captured.out)


def _failing(report: dict) -> set[str]:
    return {r["policy"] for r in report["results"] if r["status"] == "FAIL"}


def test_a_plain_bucket_fails_three_baseline_policies_and_six_strict_ones(capsys, tmp_path: Path) -> None:
    code, report = _check(capsys, tmp_path)
    assert code == 1
    assert _failing(report) == {"BW.S3.Versioning", "BW.S3.Logging", "BW.S3.SecureAccess"}
    _, strict = _check(capsys, tmp_path, "--pack", "strict")
    assert _failing(strict) == _failing(report) | {"BW.S3.EncryptionKMS", "BW.S3.LifecycleConfiguration",
                                                   "BW.S3.ObjectLock"}


def test_policies_and_skip_policies_choose_exactly(capsys, tmp_path: Path) -> None:
    _, only = _check(capsys, tmp_path, "--policies", "BW.S3.Versioning,AWS.S3.Bucket.Logging", "--policies", "BW.S3.Obj*")
    assert {r["policy"] for r in only["results"]} == {"BW.S3.Versioning", "BW.S3.Logging", "BW.S3.ObjectLock"}
    _, skipped = _check(capsys, tmp_path, "--skip-policies", "BW.S3.Logging,BW.S3.SecureAccess")
    assert _failing(skipped) == {"BW.S3.Versioning"}


@pytest.mark.parametrize(("argv", "message"), [
    (["--policies", "BW.S3.Versoning"], "'BW.S3.Versoning' names no policy (did you mean BW.S3.Versioning?)"),
    (["--skip-policies", "BW.S3.Nope"], "--skip-policies: 'BW.S3.Nope' names no policy"),
    (["--pack", "paranoid"], "pack 'paranoid' is neither a built-in pack (baseline, strict) nor a pack file"),
])
def test_unknown_names_are_one_line_errors(capsys, tmp_path: Path, argv: list[str], message: str) -> None:
    code, report = _check(capsys, tmp_path, *argv)
    assert code == 2 and message in report["error"] and len(report["error"].strip().splitlines()) == 1


def test_a_pack_file_extends_a_builtin_pack(capsys, tmp_path: Path) -> None:
    pack = tmp_path / "team.yml"
    pack.write_text("Pack: team\nDescription: baseline and Object Lock\nExtends: baseline\n"
                    "Policies:\n  BW.S3.ObjectLock: backups must be immutable\n")
    config = tmp_path / "bucketwatch.yml"
    config.write_text("posture:\n  pack: team.yml\n")  # relative to the config file
    _, report = _check(capsys, tmp_path, "--config", str(config))
    assert "BW.S3.ObjectLock" in _failing(report) and "BW.S3.EncryptionKMS" not in {r["policy"] for r in report["results"]}
    pack.write_text("Pack: team\nPolicies:\n  BW.S3.Nope: typo\n")
    code, report = _check(capsys, tmp_path, "--config", str(config))
    assert code == 2 and "pack team: BW.S3.Nope is not a loaded policy" in report["error"]


def test_pack_file_errors_name_the_key(tmp_path: Path) -> None:
    pack = tmp_path / "p.yml"
    pack.write_text("Pack: p\nPolicy: {}\n")
    with pytest.raises(UserError, match=r"unknown key\(s\) Policy \(did you mean Policies\?\)"):
        load_pack(str(pack))
    pack.write_text("Pack: p\nExtends: p.yml\n")
    with pytest.raises(UserError, match="Extends comes back to itself"):
        load_pack(str(pack))


def test_user_policies_run_whatever_the_pack(policies, tmp_path: Path) -> None:
    (tmp_path / "tag.py").write_text("def policy(resource):\n    return True\n")
    (tmp_path / "tag.yml").write_text("AnalysisType: policy\nFilename: tag.py\nPolicyID: Team.S3.Tag\nSeverity: Low\n")
    chosen = {p.id for p in select_policies(load_policies([tmp_path]), PostureSettings())}
    assert "Team.S3.Tag" in chosen and "BW.S3.ObjectLock" not in chosen


def test_scan_takes_the_same_selection_options() -> None:
    from bucketwatch.commands.check import prepare

    args = build_parser("scan").parse_args(["scan", "--pack", "strict", "--skip-policies", "BW.S3.MFADelete"])
    settings, chosen, _, loaded = prepare(args)
    ids = {p.id for p in chosen}
    assert settings.pack == "strict" and "BW.S3.ObjectLock" in ids and "BW.S3.MFADelete" not in ids
    assert len(loaded) > len(chosen)
