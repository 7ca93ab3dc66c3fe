"""The one severity scale of rules, policies, alerts and reports."""

from __future__ import annotations

from typing import Any

from detectors.common.errors import UserError

# Lowest first: a severity's index is its rank.
SEVERITIES = ("Info", "Low", "Medium", "High", "Critical")
_CANONICAL = {name.lower(): name for name in SEVERITIES}


def canonical_severity(value: Any) -> str | None:
    """`value` spelled as on the scale (case-insensitive), or None when it is not a severity."""
    return _CANONICAL.get(str(value).strip().lower()) if value is not None else None


def parse_severity(value: Any, where: str) -> str:
    """The canonical name, or a UserError naming `where` and the choices."""
    name = canonical_severity(value)
    if name is None:
        choices = ", ".join(s.lower() for s in SEVERITIES)
        raise UserError(f"{where}: severity must be one of {choices}, got {value!r}")
    return name


def severity_rank(severity: Any) -> int:
    """Position on the scale (Info = 0); an unknown name raises ValueError."""
    name = canonical_severity(severity)
    if name is None:
        raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    return SEVERITIES.index(name)


def sort_rank(severity: Any) -> int:
    """Sort key putting the worst first and unknown severities last (reports, tables)."""
    name = canonical_severity(severity)
    return len(SEVERITIES) - 1 - SEVERITIES.index(name) if name else len(SEVERITIES)


def at_least(severity: Any, floor: Any) -> bool:
    """Whether `severity` is at or above `floor` (both on the scale)."""
    return severity_rank(severity) >= severity_rank(floor)
