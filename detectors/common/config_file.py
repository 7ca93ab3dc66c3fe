"""The Bucketwatch configuration file: one YAML (or JSON) file, one schema, one validator style.

    detections:    # detectors.config.parse_detections   (rules, allowlists, known-good access)
    posture:       # policies.config.parse_posture        (suppressions, thresholds, allowlists)
    organization:  # detectors.common.organization        (which accounts are inside)
    ingest:        # detectors.parsers.limits.parse_ingest (maximum record size)
    alerts:        # detectors.engine.routing             (destinations, routing by severity)

Every reader (the CLI, both Lambdas, and `cdk synth`, which validates the file before bundling
it) validates the whole file with `load_config`, so a bad value anywhere fails the same way
everywhere: one line naming the key path. Sections are parsed by the functions named below, by
import path, so this low layer never imports the packages above it at import time.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.common.errors import UserError
from detectors.common.yamlsafe import load_yaml

# section -> "module:function" taking (raw section or None) and returning its settings object.
SECTION_PARSERS: dict[str, str] = {
    "detections": "detectors.config:parse_detections",
    "posture": "policies.config:parse_posture",
    "organization": "detectors.common.organization:parse_organization",
    "ingest": "detectors.parsers.limits:parse_ingest",
    "alerts": "detectors.engine.routing:parse_alerts",
}
SECTIONS = tuple(SECTION_PARSERS)
MAX_CONFIG_BYTES = 4 * 1024 * 1024


def read_config_file(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """The raw sections of the file at `path` ({} when no file is given); unknown sections are errors."""
    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise UserError(f"config file not found: {file}")
    if file.stat().st_size > MAX_CONFIG_BYTES:
        raise UserError(f"config file {file} is larger than {MAX_CONFIG_BYTES // 1024 // 1024} MiB")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"config file {file} cannot be read: {exc}") from None
    data = load_yaml(text, f"config file {file}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {file}: expected a mapping with sections {', '.join(SECTIONS)}")
    unknown = sorted(map(str, set(data) - set(SECTIONS)))
    if unknown:
        raise UserError(
            f"config file {file}: unknown section(s) {', '.join(unknown)}; expected {', '.join(SECTIONS)}"
        )
    for name, value in data.items():
        if value is not None and not isinstance(value, dict):
            raise UserError(f"config file {file}: section '{name}' must be a mapping")
    return {name: data.get(name) or {} for name in SECTIONS}


def parse_section(name: str, raw: dict[str, Any] | None) -> Any:
    module, _, function = SECTION_PARSERS[name].partition(":")
    return getattr(importlib.import_module(module), function)(raw)


@dataclass
class Config:
    """Every section of one config file, validated."""

    path: Path | None = None
    sections: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name in SECTION_PARSERS:
            return self.sections[name]
        raise AttributeError(name)


def load_config(path: str | Path | None) -> Config:
    """The whole file validated (defaults for absent sections); raises UserError naming the key."""
    raw = read_config_file(path)
    parsed = {name: parse_section(name, raw.get(name)) for name in SECTIONS}
    return Config(Path(path) if path is not None else None, parsed)
