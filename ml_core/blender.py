"""Importing and resetting Blender-as-a-module the way every ml_core renderer needs it."""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager


def import_bpy():
    """Import ``bpy`` with user resources in a private temporary folder, so renders never touch the user's config."""
    if "bpy" not in sys.modules:
        os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="postpass-blender-"))
        # A process spawned by one that had imported bpy (a Dask worker of a LocalCluster, a multiprocessing
        # child) inherits its sys.path, which bpy extended with Blender's script folders: there ``import bpy``
        # would find scripts/modules/bpy, Blender's Python half, which needs the not-yet-loaded ``_bpy``.
        sys.path[:] = [p for p in sys.path if not _blender_script_folder(p)]
    import bpy

    return bpy


def _blender_script_folder(path: str) -> bool:
    """Whether ``path`` is one of the folders importing bpy adds to sys.path (``bpy/<version>/scripts/...``,
    the user's ``blender/<version>/scripts/...``); bpy adds them again when it loads."""
    parts = os.path.normpath(path).split(os.sep)
    return "scripts" in parts and any(p in ("bpy", "blender") for p in parts[:parts.index("scripts")])


def reset_scene():
    """An empty factory scene (keeps enabled add-ons, unlike ``read_factory_settings``)."""
    bpy = import_bpy()
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    # Keyframes inserted afterwards interpolate linearly: motion between frames is then exactly what the
    # spec says, which the inbetween data relies on.
    bpy.context.preferences.edit.keyframe_new_interpolation_type = "LINEAR"
    return bpy.context.scene


@contextmanager
def quiet_stdout():
    """Silence Blender's per-render chatter ("Fra:1 Mem:..."), which it writes to the process's stdout (fd 1),
    so progress bars and summaries stay readable. Errors still reach stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
