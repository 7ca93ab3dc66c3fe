import subprocess
import sys

from bucketwatch.cli import build_parser, main


def test_every_command_module_registers_a_subcommand() -> None:
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert choices, "no sub-commands registered"


def test_no_command_prints_help_and_exits_2(capsys) -> None:
    assert main([]) == 2
    assert "usage: bucketwatch" in capsys.readouterr().err


def test_console_entry_point_runs_as_module() -> None:
    result = subprocess.run([sys.executable, "-m", "bucketwatch", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("bucketwatch ")
