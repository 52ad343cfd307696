"""The imports of the package flow one way: foundations import no stage, stages import no
orchestration, only the CLI imports the CLI. Read from the source (every import statement,
including those inside functions), so a lazy import cannot slip past."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pose3d_cli"

FOUNDATIONS = {"pose3d_cli", "errors", "paths", "skeleton", "metrics", "device", "geometry", "io"}
#: Top-level module or sub-package → what it may import (besides itself). Listed bottom-up:
#: every entry may only name entries above it, so the graph has no cycle by construction.
ALLOWED: dict[str, set[str]] = {
    "pose3d_cli": set(),  # the package's __init__ (its version)
    "errors": set(),
    "paths": set(),
    "skeleton": {"errors"},
    "metrics": {"errors"},
    "device": {"errors"},
    "geometry": {"errors", "skeleton"},
    "io": {"errors", "paths", "skeleton", "geometry"},
    # stages
    "keypoints": {"errors", "paths", "device", "skeleton", "geometry", "io"},
    "lifting": {"errors", "device", "skeleton", "geometry", "metrics", "io", "keypoints"},
    # orchestration
    "render": {"errors", "skeleton", "geometry", "io"},
    "zoo": {"pose3d_cli", "errors", "paths", "skeleton", "io", "lifting"},
    "training": {"errors", "device", "paths", "skeleton", "geometry", "metrics", "io", "keypoints", "lifting"},
    "pipeline": {"errors", "device", "skeleton", "geometry", "io", "keypoints", "lifting", "render", "zoo"},
    "batch": {"pose3d_cli", "errors", "io", "pipeline"},
    "cli": {"pose3d_cli", "errors", "paths", "skeleton", "metrics", "device", "geometry", "io", "keypoints",
            "lifting", "render", "zoo", "training", "pipeline", "batch"},
    "__main__": {"cli"},
}


def _group(module: str) -> str:
    parts = module.split(".")
    return "pose3d_cli" if len(parts) == 1 else parts[1]


def _imports() -> list[tuple[str, str, str]]:
    """(importing group, imported group, file:line) for every pose3d_cli import."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("pose3d_cli"):
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("pose3d_cli")]
            else:
                continue
            for target in targets:
                found.append((_group(module), _group(target), f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"))
    return found


def test_every_module_is_placed():
    groups = {_group(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"))
              for p in PACKAGE.rglob("*.py")}
    assert groups <= set(ALLOWED), f"place these in ALLOWED: {sorted(groups - set(ALLOWED))}"


def test_imports_flow_one_way():
    bad = [f"{where}: {src} imports {dst}" for src, dst, where in _imports()
           if src != dst and dst not in ALLOWED[src]]
    assert not bad, "imports against the flow:\n" + "\n".join(bad)


def test_the_allowed_graph_has_no_cycle():
    order = list(ALLOWED)
    back = [(a, b) for a, deps in ALLOWED.items() for b in deps
            if order.index(b) > order.index(a)]
    assert not back, f"allowed imports that point up the list: {back}"


@pytest.mark.parametrize("foundation", sorted(FOUNDATIONS))
def test_foundations_import_no_stage(foundation):
    stages = set(ALLOWED) - FOUNDATIONS
    assert not ALLOWED[foundation] & stages
