"""Other denoisers, run on the same inputs as ours so a benchmark compares like with like.

Each peer takes linear HDR colour, albedo and camera-space normal (H x W x 3 float32, the noisy render's own
passes) and returns linear HDR colour:

- ``blender-oidn``: Blender's built-in OIDN through the compositor's Denoise node, exactly what an artist gets
  (``prefilter`` Accurate cleans albedo and normal first; Fast does not).
- ``pyoidn``: OIDN 2.5 called directly (the library Blender embeds), if the ``pyoidn`` wheel is installed.
- ``opencv-nlm``: OpenCV's non-local means on the tone-mapped image, the classic non-learned baseline.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from addon.runtime.color import exposure_scale, srgb_decode, tonemap
from addon.runtime.exr import read_exr, write_exr


def opencv_nlm(color: np.ndarray, albedo=None, normal=None, strength: float = 6.0) -> np.ndarray:
    """Non-local means in tone-mapped 8-bit space, mapped back to linear with the same exposure."""
    import cv2

    scale = exposure_scale(color)
    ldr = (tonemap(color, scale) * 255 + 0.5).astype(np.uint8)
    out = cv2.fastNlMeansDenoisingColored(ldr, None, strength, strength, 5, 15)
    return srgb_decode(out.astype(np.float32) / 255) / scale


def pyoidn_available() -> bool:
    try:
        import pyoidn  # noqa: F401
    except ImportError:
        return False
    return True


def pyoidn_denoise(color: np.ndarray, albedo: np.ndarray, normal: np.ndarray, quality: str = "high") -> np.ndarray:
    import pyoidn

    return pyoidn.denoise(np.ascontiguousarray(np.maximum(color, 0), np.float32),
                          np.ascontiguousarray(np.clip(albedo, 0, 1), np.float32),
                          np.ascontiguousarray(normal, np.float32), hdr=True, quality=quality)


class BlenderOIDN:
    """Blender's compositor Denoise node on an image, as an artist would run it. One instance keeps one
    compositor node tree and reuses it; each call writes its inputs to a temporary EXR (Blender reads files)."""

    def __init__(self, prefilter: str = "Accurate", quality: str = "High"):
        from . import blender

        self.bpy = blender.import_bpy()
        self.prefilter, self.quality = prefilter, quality
        self.workdir = Path(tempfile.mkdtemp(prefix="postpass-oidn-"))

    def _setup(self, source: Path, width: int, height: int):
        from . import blender

        bpy = self.bpy
        scene = blender.reset_scene()
        tree = bpy.data.node_groups.new("postpass_oidn", "CompositorNodeTree")
        scene.compositing_node_group = tree
        image = bpy.data.images.load(str(source))
        node = tree.nodes.new("CompositorNodeImage")
        node.image = image
        denoise = tree.nodes.new("CompositorNodeDenoise")
        denoise.inputs["HDR"].default_value = True
        denoise.inputs["Prefilter"].default_value = self.prefilter
        denoise.inputs["Quality"].default_value = self.quality
        output = tree.nodes.new("NodeGroupOutput")
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        tree.links.new(node.outputs["Combined"], denoise.inputs["Image"])
        tree.links.new(node.outputs["Denoising Albedo"], denoise.inputs["Albedo"])
        tree.links.new(node.outputs["Denoising Normal"], denoise.inputs["Normal"])
        tree.links.new(denoise.outputs[0], output.inputs[0])
        scene.render.resolution_x, scene.render.resolution_y = width, height
        scene.render.resolution_percentage = 100
        settings = scene.render.image_settings
        settings.media_type, settings.file_format, settings.color_depth = "IMAGE", "OPEN_EXR", "32"
        scene.render.use_file_extension = False
        return scene

    def __call__(self, color: np.ndarray, albedo: np.ndarray, normal: np.ndarray) -> np.ndarray:
        from . import blender

        h, w = color.shape[:2]
        source, result = self.workdir / "input.exr", self.workdir / "output.exr"
        write_exr(source, {"Combined": np.concatenate([color[..., :3], np.ones((h, w, 1), np.float32)], -1),
                           "Denoising Albedo": albedo, "Denoising Normal": normal})
        scene = self._setup(source, w, h)
        scene.render.filepath = str(result)
        with blender.quiet_stdout():
            self.bpy.ops.render.render(write_still=True, scene=scene.name)
        out = read_exr(result, layer=None).get("Combined")[..., :3].copy()
        os.unlink(result)
        return out
