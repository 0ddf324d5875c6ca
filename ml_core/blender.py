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
    import bpy

    return bpy


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
