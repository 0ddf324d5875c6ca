"""The layers import only downwards (docs/architecture.md): ml_core -> bench -> export -> addon, with the add-on
free of torch and ml_core and its runtime free of bpy. Read from the source with ``ast``, so an import inside a
function counts as much as one at the top."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package folder -> top-level modules it must never import
FORBIDDEN = {
    "ml_core": {"bench", "export"},
    "export": {"bench"},
    "addon": {"ml_core", "bench", "export", "torch"},
    "addon/runtime": {"bpy", "ml_core", "bench", "export", "torch"},
}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (relative imports resolved against its package)."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.add(node.module.split(".")[0])
            else:
                base = package[:len(package) - node.level + 1]
                found.add(base[0] if base else (node.module or "").split(".")[0])
    return found


def test_imported_modules_reads_absolute_and_relative_imports():
    folder = ROOT / "addon" / "runtime"
    assert "json" in imported_modules(folder / "contract.py")
    # a relative import two levels up from addon/runtime lands in addon
    assert imported_modules(folder / "tasks" / "__init__.py") >= {"addon"}


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(folder):
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"{folder}: no Python files (moved? update FORBIDDEN)"
    wrong = {str(f.relative_to(ROOT)): sorted(imported_modules(f) & FORBIDDEN[folder]) for f in files}
    assert not {k: v for k, v in wrong.items() if v}
