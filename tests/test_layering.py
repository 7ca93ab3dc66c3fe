"""The packages' layering, lowest first: detectors.common <- detectors <- policies <- infra <- bucketwatch.

A module may import from its own layer or a lower one only, so the Lambda bundle and the synth
gate never pull in the command line, and the core never depends on the glue above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("detectors", "policies", "infra", "bucketwatch")  # each may import those before it
COMMON = "detectors.common"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _package_of(name: str) -> str | None:
    top = name.split(".")[0]
    return top if top in LAYERS else None


@pytest.mark.parametrize("package", LAYERS)
def test_no_module_imports_a_higher_layer(package: str) -> None:
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    offences = []
    for path in sorted((REPO / package).rglob("*.py")):
        for name in _imports(path):
            owner = _package_of(name)
            if owner and owner not in allowed:
                offences.append(f"{path.relative_to(REPO)} imports {name}")
    assert offences == []


def test_the_common_layer_imports_nothing_above_it() -> None:
    offences = [f"{path.relative_to(REPO)} imports {name}"
                for path in sorted((REPO / "detectors" / "common").rglob("*.py"))
                for name in _imports(path)
                if _package_of(name) and not name.startswith(COMMON)]
    assert offences == []
