"""Shared fixtures. Everything here is made by the project itself (real Cycles renders, trimesh meshes):
the suite passes from a plain clone with no ../shared folder."""
from __future__ import annotations

import os
import tempfile

# Blender must not read or write the user's config: set before anything imports bpy.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="postpass-test-blender-"))
os.environ.setdefault("POSTPASS_CACHE", tempfile.mkdtemp(prefix="postpass-test-cache-"))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mesh_dir(tmp_path_factory):
    """A folder of real mesh files (OBJ, PLY, GLB) written by trimesh."""
    import trimesh

    folder = tmp_path_factory.mktemp("meshes")
    trimesh.creation.icosphere(subdivisions=2).export(folder / "ball.obj")
    trimesh.creation.box(extents=(1.0, 0.5, 0.25)).export(folder / "brick.ply")
    trimesh.creation.capsule(height=1.0, radius=0.3).export(folder / "pill.glb")
    return folder


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, mesh_dir):
    """Two train scenes and one test scene rendered with the ``tiny`` preset (48 px, every product present)."""
    from ml_core import data, render

    out = tmp_path_factory.mktemp("dataset")
    config = render.preset("tiny")
    data.build(out, "train", 2, config=config, mesh_dir=mesh_dir, progress=False, sheet=False)
    data.build(out, "test", 1, config=config, mesh_dir=mesh_dir, progress=False, sheet=False)
    return out
