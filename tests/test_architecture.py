"""Dependencies point one way: api/, web/, scheduler/, cli/ -> workflow/ -> rules/, db/.

web/ (the pages) never imports db/, sqlalchemy, rules/ or api/: pages call workflow/.

workflow/, rules/ and db/ never import Flask; rules/ never imports db/ or workflow/;
only rules/engine.py imports durable-rules. Checked on the source with ast.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "rules": ("flask", "flask_smorest", "db", "workflow", "api", "scheduler", "cli",
              "sqlalchemy"),
    "db": ("flask", "flask_smorest", "workflow", "api", "scheduler", "cli", "rules"),
    "scheduler": ("flask", "flask_smorest", "api", "cli"),
    "web": ("db", "sqlalchemy", "rules", "api", "scheduler", "cli", "flask_smorest"),
    "workflow": ("flask", "flask_smorest", "api", "web", "scheduler", "cli"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_do_not_import_upwards(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & set(FORBIDDEN[package]))
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_engine_module_imports_durable():
    importers = sorted(
        str(path.relative_to(ROOT))
        for package in ("workflow", "rules", "db", "api", "web", "scheduler", "cli", "bench")
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) & {"durable", "durable_rules_engine"})
    assert importers == ["rules/engine.py"]
