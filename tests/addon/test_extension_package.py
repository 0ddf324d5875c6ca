"""The repository root is a valid Blender extension, built by Blender's own tool without training code."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from ml_core.blender import import_bpy

REPO = Path(__file__).resolve().parents[2]
# Blender's own extension tool ships inside the bpy wheel and runs with plain Python.
BLENDER_EXT = Path(import_bpy().utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"


def test_extension_validates_and_builds_without_training_code(tmp_path):
    validate = subprocess.run([sys.executable, BLENDER_EXT, "validate", str(REPO)], capture_output=True, text=True)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    build = subprocess.run([sys.executable, BLENDER_EXT, "build", "--source-dir", str(REPO), "--output-dir",
                            str(tmp_path)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    (archive,) = tmp_path.glob("postpass-*.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "addon/runtime/exr.py" in names
    for excluded in ("ml_core/", "bench/", "tests/", "export/", "scripts/", ".venv/", "docs/"):
        assert not any(n.startswith(excluded) for n in names), excluded
