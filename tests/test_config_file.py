from pathlib import Path

import pytest

from detectors.common.config_file import load_config, read_config_file
from detectors.common.errors import UserError


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="config file not found"):
        read_config_file(tmp_path / "nope.yml")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("detections:\n  a: [1, 2\n")
    with pytest.raises(UserError, match=r"not valid YAML \(line"):
        read_config_file(path)


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("detection:\n  x: 1\n")
    with pytest.raises(UserError, match="unknown section"):
        read_config_file(path)


def test_sections_default_to_empty(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("posture:\n  allowed_accounts: ['111122223333']\n")
    assert read_config_file(path) == {"detections": {}, "posture": {"allowed_accounts": ["111122223333"]},
                                      "organization": {}, "ingest": {}, "alerts": {}}
    assert read_config_file(None) == {}


def test_load_config_validates_every_section(tmp_path: Path) -> None:
    """One schema: a bad value in any section fails every reader the same way, naming the key."""
    path = tmp_path / "c.yml"
    path.write_text("detections:\n  ip_allowlist: [{cidrs: ['10.0.0.0/8']}]\norganization:\n  accounts: ['12345']\n")
    with pytest.raises(UserError, match=r"^organization.accounts\[0\]: '12345' is not a 12-digit AWS account id$"):
        load_config(path)


def test_load_config_gives_typed_sections(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("posture:\n  cross_account_allowlist: ['111122223333']\n"
                    "organization:\n  accounts: [111111111111, '222222222222']\n  trusted_accounts: ['333333333333']\n")
    config = load_config(path)
    assert config.posture.cross_account_allowlist == ["111122223333"]
    assert config.organization.accounts == ("111111111111", "222222222222")
    assert config.organization.is_external("333333333333") is False
    assert config.organization.is_external("999999999999") is True
    assert load_config(None).organization.is_external("999999999999") is None  # unknown, never guessed


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a: &a ['x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x']"]
    for level in range(1, 16):  # 15 levels of 9 aliases: 9**15 strings if expanded
        prev = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "bomb.yml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match="more than 100 YAML aliases"):
        read_config_file(path)


def test_duplicate_account_names_the_index(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("organization:\n  accounts: ['111111111111', '111111111111']\n")
    with pytest.raises(UserError, match=r"organization.accounts\[1\]: '111111111111' is listed twice \(also at \[0\]\)"):
        load_config(path)
