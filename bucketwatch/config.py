"""The Bucketwatch configuration file: YAML (or JSON), one section per area.

    detections:   # validated by detectors.config
      ...
    posture:      # validated by policies.config
      ...

This module only reads the file and rejects what no area owns; each area validates its own
section and raises `UserError` with the offending key path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bucketwatch.errors import UserError

SECTIONS = ("detections", "posture")


def load_config_file(path: str | Path | None) -> dict[str, Any]:
    """The raw sections of the config file at `path` ({} when no file is given)."""
    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise UserError(f"config file not found: {file}")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise UserError(f"config file {file} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {file}: expected a mapping with sections {', '.join(SECTIONS)}")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise UserError(
            f"config file {file}: unknown section(s) {', '.join(map(str, unknown))}; expected {', '.join(SECTIONS)}"
        )
    for section, value in data.items():
        if value is not None and not isinstance(value, dict):
            raise UserError(f"config file {file}: section '{section}' must be a mapping")
    return {section: data.get(section) or {} for section in SECTIONS}
