"""The deployed stack's organization settings (detectors/common/organization.py): the JSON file
in the Lambda code asset named by BUCKETWATCH_ORGANIZATION_FILE, the older BUCKETWATCH_ORGANIZATION
JSON, read once per process; every bad or missing file is a one-line error naming the problem."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from detectors.common.errors import UserError
from detectors.common.organization import (
    BUNDLED_FILE_NAME,
    ENVIRONMENT_VARIABLE,
    FILE_VARIABLE,
    OrganizationSettings,
    deployed_organization,
    organization_from_environment,
)

SETTINGS = {"id": "o-a1b2c3d4e5", "accounts": ["999999999999", "111111111111"],
            "trusted_accounts": ["444455556666"], "audit_role_name": "BucketwatchAudit"}
EXPECTED = OrganizationSettings("o-a1b2c3d4e5", ("999999999999", "111111111111"), ("444455556666",), "BucketwatchAudit")


@pytest.fixture(autouse=True)
def no_deployed_organization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FILE_VARIABLE, raising=False)
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)


def settings_file(directory: Path, text: str | bytes, name: str = BUNDLED_FILE_NAME) -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_the_file_named_by_the_environment_is_the_organization(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FILE_VARIABLE, str(settings_file(tmp_path, json.dumps(SETTINGS))))
    assert deployed_organization() == EXPECTED
    base = OrganizationSettings(accounts=("222222222222",))  # a config file's section adds to it
    assert organization_from_environment(base).accounts == ("222222222222", "999999999999", "111111111111")


def test_a_relative_name_is_found_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What infra sets: the bare file name, Lambda's working directory being the code asset's root."""
    settings_file(tmp_path, json.dumps(SETTINGS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(FILE_VARIABLE, BUNDLED_FILE_NAME)
    assert deployed_organization() == EXPECTED


def test_in_lambda_a_relative_name_is_found_in_the_task_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda extracts the code asset to LAMBDA_TASK_ROOT; the name resolves there whatever the
    current directory."""
    task_root = tmp_path / "task"
    task_root.mkdir()
    settings_file(task_root, json.dumps(SETTINGS))
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(task_root))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(FILE_VARIABLE, BUNDLED_FILE_NAME)
    assert deployed_organization() == EXPECTED


def test_the_file_is_read_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Later invocations of the same process do not read the file again; a rewritten file (another
    modification time), as a CLI or demo run may leave, is read anew."""
    path = settings_file(tmp_path, json.dumps(SETTINGS))
    monkeypatch.setenv(FILE_VARIABLE, str(path))
    assert deployed_organization() == EXPECTED
    stat = path.stat()
    other = json.dumps({**SETTINGS, "accounts": ["999999999999", "222222222222"]})
    path.write_text(other)  # same size, inode and (restored) modification time: not read again
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert deployed_organization() == EXPECTED
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert deployed_organization().accounts == ("999999999999", "222222222222")


def test_the_environment_json_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, json.dumps(SETTINGS))
    assert deployed_organization() == EXPECTED


def test_single_account_mode_is_unchanged() -> None:
    assert deployed_organization() is None
    base = OrganizationSettings(accounts=("222222222222",))
    assert organization_from_environment(base) is base
    assert organization_from_environment().is_external("222222222222") is None


BAD_FILES = [
    ("not json", r"\): is not JSON$"),
    ("[1, 2]", r"\): expected a mapping"),
    ('{"accounts": ["12"]}', r"\)\.accounts\[0\]: '12' is not a 12-digit AWS account id$"),
    ('{"accounts": ["111111111111"], "members": []}', r"members"),
    ("{}", r"\): lists no accounts$"),
    ("null", r"\): lists no accounts$"),
    (b'{"accounts": ["\xff"]}', r"cannot read .*utf-8"),
    ("[" * 100_000, r"\): is not JSON$"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_FILES, ids=["not-json", "a-list", "bad-account", "unknown-key",
                                                              "no-accounts", "null", "not-utf8", "too-deep"])
def test_a_bad_file_is_a_one_line_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   text: str | bytes, problem: str) -> None:
    path = settings_file(tmp_path, text)
    monkeypatch.setenv(FILE_VARIABLE, str(path))
    with pytest.raises(UserError) as raised:
        deployed_organization()
    message = str(raised.value)
    assert message.startswith(f"{FILE_VARIABLE}") and str(path) in message and "\n" not in message
    assert re.search(problem, message), message


def test_a_missing_file_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FILE_VARIABLE, str(tmp_path / "gone.json"))
    with pytest.raises(UserError, match=rf"^{FILE_VARIABLE}: {tmp_path / 'gone.json'} does not exist$"):
        deployed_organization()
    monkeypatch.setenv(FILE_VARIABLE, str(tmp_path))  # a directory
    with pytest.raises(UserError, match=rf"^{FILE_VARIABLE}: cannot read {tmp_path}: "):
        deployed_organization()


def test_both_variables_set_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FILE_VARIABLE, str(settings_file(tmp_path, json.dumps(SETTINGS))))
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, json.dumps(SETTINGS))
    with pytest.raises(UserError, match=rf"^{FILE_VARIABLE} and {ENVIRONMENT_VARIABLE} are both set; set one of them$"):
        deployed_organization()


def test_the_cli_reports_a_bad_file_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from bucketwatch.cli import main

    path = settings_file(tmp_path, '{"accounts": ["12"]}', name="org.json")
    monkeypatch.setenv(FILE_VARIABLE, str(path))
    assert main(["detect", str(tmp_path), "--no-lake", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert FILE_VARIABLE in err and "'12' is not a 12-digit AWS account id" in err and len(err.splitlines()) == 1
