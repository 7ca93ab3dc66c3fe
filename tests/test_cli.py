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


def test_a_command_imports_only_its_own_module() -> None:
    code = (
        "import sys\n"
        "from bucketwatch.cli import main\n"
        "try:\n"
        "    main(['checkov-checks-dir'])\n"
        "finally:\n"
        "    heavy = sorted(m for m in ('pyarrow', 'duckdb', 'aws_cdk') if m in sys.modules)\n"
        "    print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stdout


def test_help_lists_every_command(capsys) -> None:
    import pytest

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("parse", "ingest", "query", "detect", "test", "check", "checkov-checks-dir", "scan", "demo"):
        assert command in out
