"""`bucketwatch demo` as a new user runs it: the installed console script, in a fresh folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("demo-command")


def test_demo_command_runs_the_full_demo_and_writes_the_report(tmp_path: Path) -> None:
    script = shutil.which("bucketwatch", path=str(Path(sys.executable).parent))
    assert script, "the bucketwatch console script is not installed beside this Python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run([script, "demo", "--quiet"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "quarantined" in out and "Alerts (" in out and "Posture failures (" in out
    assert "bucketwatch query" in out  # what to run next
    report = tmp_path / ".bucketwatch" / "demo" / "report.html"
    assert report.is_file() and "<svg" in report.read_text()
    assert str(Path(".bucketwatch") / "demo" / "report.html") in out


def test_demo_command_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = subprocess.run([sys.executable, "-m", "bucketwatch", "demo", "--out", str(foreign), "--quiet"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.startswith("bucketwatch demo: error:") and "Traceback" not in result.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"
