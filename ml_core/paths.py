"""Where rebuildable artefacts live: outside the repository, under one cache folder."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: training configs: ``<task>/<name>.json`` (shipped recipes, CI configs), ``<task>/experiments/<name>.json``
CONFIGS_DIR = REPO_ROOT / "ml_core" / "configs"


def cache_dir() -> Path:
    """Root of render caches, datasets and checkpoints (``$POSTPASS_CACHE`` or ``~/.cache/postpass``)."""
    return Path(os.environ.get("POSTPASS_CACHE", Path.home() / ".cache" / "postpass")).expanduser()


def default_mesh_dir() -> Path | None:
    """The shared test meshes when this checkout sits beside ``shared/`` (``$POSTPASS_MESH_DIR`` overrides)."""
    env = os.environ.get("POSTPASS_MESH_DIR")
    if env is not None:
        return Path(env) if env else None
    shared = REPO_ROOT.parent / "shared" / "assets" / "meshes"
    return shared if shared.is_dir() else None


def repo_relative(path: str | os.PathLike) -> str:
    """``path`` as provenance records it: relative to the repository root (POSIX) when inside it, else absolute."""
    path = Path(path).expanduser().resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)
