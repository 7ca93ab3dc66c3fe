from pathlib import Path

import pytest

from bucketwatch.config import load_config_file
from bucketwatch.errors import UserError


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="config file not found"):
        load_config_file(tmp_path / "nope.yml")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("detections:\n  a: [1, 2\n")
    with pytest.raises(UserError, match=r"not valid YAML \(line"):
        load_config_file(path)


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("detection:\n  x: 1\n")
    with pytest.raises(UserError, match="unknown section"):
        load_config_file(path)


def test_sections_default_to_empty(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("posture:\n  allowed_accounts: ['111122223333']\n")
    assert load_config_file(path) == {"detections": {}, "posture": {"allowed_accounts": ["111122223333"]}}
    assert load_config_file(None) == {}
