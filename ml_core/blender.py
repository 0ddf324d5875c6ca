"""Importing and resetting Blender-as-a-module the way every ml_core renderer needs it."""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


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


class BlenderOIDN:
    """Blender's compositor Denoise node on an image, as an artist would run it: with ``hdr`` its HDR switch
    (off for an 8-bit image's linear [0, 1] values), and only the sockets of the passes given linked. Each call
    sets up the compositor node tree and writes its inputs to a temporary EXR (Blender reads files)."""

    def __init__(self, prefilter: str = "Accurate", quality: str = "High", hdr: bool = True):
        self.bpy = import_bpy()
        self.prefilter, self.quality, self.hdr = prefilter, quality, hdr
        self.workdir = Path(tempfile.mkdtemp(prefix="postpass-oidn-"))

    def _setup(self, source: Path, width: int, height: int, guides: dict[str, str]):
        bpy = self.bpy
        scene = reset_scene()
        tree = bpy.data.node_groups.new("postpass_oidn", "CompositorNodeTree")
        scene.compositing_node_group = tree
        image = bpy.data.images.load(str(source))
        node = tree.nodes.new("CompositorNodeImage")
        node.image = image
        denoise = tree.nodes.new("CompositorNodeDenoise")
        denoise.inputs["HDR"].default_value = self.hdr
        denoise.inputs["Prefilter"].default_value = self.prefilter
        denoise.inputs["Quality"].default_value = self.quality
        output = tree.nodes.new("NodeGroupOutput")
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        tree.links.new(node.outputs["Combined"], denoise.inputs["Image"])
        for pass_name, socket in guides.items():
            tree.links.new(node.outputs[pass_name], denoise.inputs[socket])
        tree.links.new(denoise.outputs[0], output.inputs[0])
        scene.render.resolution_x, scene.render.resolution_y = width, height
        scene.render.resolution_percentage = 100
        settings = scene.render.image_settings
        settings.media_type, settings.file_format, settings.color_depth = "IMAGE", "OPEN_EXR", "32"
        scene.render.use_file_extension = False
        return scene

    def __call__(self, color: np.ndarray, albedo: np.ndarray | None = None,
                 normal: np.ndarray | None = None) -> np.ndarray:
        from addon.runtime.exr import read_exr, write_exr

        h, w = color.shape[:2]
        source, result = self.workdir / "input.exr", self.workdir / "output.exr"
        guides = {name: (socket, array) for name, socket, array in (("Denoising Albedo", "Albedo", albedo),
                                                                     ("Denoising Normal", "Normal", normal))
                  if array is not None}
        write_exr(source, {"Combined": np.concatenate([color[..., :3], np.ones((h, w, 1), np.float32)], -1),
                           **{name: array for name, (_, array) in guides.items()}})
        scene = self._setup(source, w, h, {name: socket for name, (socket, _) in guides.items()})
        scene.render.filepath = str(result)
        with quiet_stdout():
            self.bpy.ops.render.render(write_still=True, scene=scene.name)
        out = read_exr(result, layer=None).get("Combined")[..., :3].copy()
        os.unlink(result)
        return out
