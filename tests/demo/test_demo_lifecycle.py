"""The demo's local AWS endpoint never outlives the demo: Ctrl-C and SIGTERM stop it too."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bucketwatch.demo import cli
from bucketwatch.demo import run as run_module
from bucketwatch.demo.run import MARKER, prepare_out_dir


def moto_servers_on(port: str) -> list[int]:
    """Pids of live `moto.server` processes listening on `port` (by command line)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
            state = (cmdline.parent / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if b"moto.server" in args and port.encode() in args and state != "Z":
            pids.append(int(cmdline.parent.name))
    return pids


def interrupt_demo(tmp_path: Path, sig: signal.Signals, *options: str,
                   ready: Callable[[str], bool] | None = None) -> tuple[str, int, str]:
    """Start the demo, wait for its endpoint line (and a later stage line `ready` accepts), send
    `sig`; returns (the server's port, the exit code, stderr)."""
    process = subprocess.Popen([sys.executable, "-m", "bucketwatch.demo", *options, "--out", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stderr.readline()
        match = re.search(r"on http://127\.0\.0\.1:(\d+)", first)
        assert match, f"no endpoint line from the demo: {first!r}"
        port = match.group(1)
        if ready is not None:
            line = process.stderr.readline()
            assert ready(line), line
        assert moto_servers_on(port), "the demo's moto server should be running now"
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 5
    while moto_servers_on(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    return port, process.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_demo_leaves_no_moto_server_behind(tmp_path: Path, sig: signal.Signals) -> None:
    port, returncode, err = interrupt_demo(tmp_path, sig)
    assert returncode == 130, err
    assert "bucketwatch demo: interrupted" in err
    assert moto_servers_on(port) == []


def test_an_unusable_output_folder_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_folder = tmp_path / "report.txt"
    not_a_folder.write_text("x")
    assert cli.run(["--out", str(not_a_folder)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"bucketwatch demo: error: --out {not_a_folder} exists and is not a folder; pass another --out"


def test_a_folder_the_demo_did_not_write_is_never_overwritten(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    assert cli.run(["--out", str(tmp_path)]) == 2
    assert "holds files the demo did not write" in capsys.readouterr().err
    assert (tmp_path / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


def test_a_previous_demo_folder_is_reused_with_its_old_lake_cleared(tmp_path: Path) -> None:
    out = prepare_out_dir(tmp_path / "demo")
    stale = out / "lake" / "panther_logs" / "aws_s3serveraccess" / "old.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from another seed")
    assert prepare_out_dir(out) == out
    assert not (out / "lake").exists()
    assert (out / MARKER).is_file()


def test_an_error_inside_the_run_stops_the_moto_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_story(*args: object, **kwargs: object) -> None:
        raise RuntimeError("story generator broke")

    monkeypatch.setattr(run_module, "build_story", broken_story)
    messages = io.StringIO()
    with pytest.raises(RuntimeError, match="story generator broke"):
        run_module.run_demo(run_module.DemoOptions(out_dir=tmp_path, stream=messages, progress=False))
    port = re.search(r"on http://127\.0\.0\.1:(\d+)", messages.getvalue()).group(1)
    assert "provisioned" in messages.getvalue()  # it failed mid-run, with the server up
    assert moto_servers_on(port) == []


def test_an_interrupted_organization_demo_leaves_no_moto_server_behind(tmp_path: Path) -> None:
    """Ctrl-C once the organization stands, while its logs are delivered: the one server stops."""
    port, returncode, err = interrupt_demo(tmp_path, signal.SIGINT, "--organization",
                                           ready=lambda line: "organization o-" in line and "3 members" in line)
    assert returncode == 130, err
    assert "bucketwatch demo: interrupted" in err and "Traceback" not in err
    assert moto_servers_on(port) == []


def test_an_error_inside_the_organization_run_stops_the_moto_server(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from bucketwatch.demo import org_run

    def broken_story(*args: object, **kwargs: object) -> None:
        raise RuntimeError("organization story broke")

    monkeypatch.setattr(org_run, "build_org_story", broken_story)
    messages = io.StringIO()
    with pytest.raises(RuntimeError, match="organization story broke"):
        run_module.run_demo(run_module.DemoOptions(out_dir=tmp_path, stream=messages, progress=False,
                                                   organization=True))
    port = re.search(r"on http://127\.0\.0\.1:(\d+)", messages.getvalue()).group(1)
    assert "organization o-" in messages.getvalue()  # it failed mid-run, with the organization built
    assert moto_servers_on(port) == []
