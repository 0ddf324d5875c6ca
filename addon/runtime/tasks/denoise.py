"""Denoise: a noisy render in, a clean one out, guided by its albedo and normal passes when present.

The model is picked by what the input has (``Registry.choice``): colour + albedo + normal (a render with
Denoising Data), colour + albedo, or colour alone; an 8- or 16-bit image (PNG, JPEG, TIFF, a byte image in
Blender) gets an sRGB model where one is published, else the colour-only model on its linear values, the result
clipped to [0, 1] and written back in its bit depth with its alpha. The result's ``choice`` says which and why.
"""
from __future__ import annotations

import numpy as np

from ..api import PathLike, run, run_files
from ..engine import InferenceResult
from . import TaskSpec, register


def denoise(color: np.ndarray, albedo: np.ndarray | None = None, normal: np.ndarray | None = None, *,
            exposure: float | None = None, **options) -> np.ndarray:
    """Denoise a linear render (RGB or RGBA), optionally guided by Denoising Albedo and camera-space Normal: the
    model is the one for the inputs given (colour only, + albedo, + albedo and normal).

    ``exposure``: the scale the model normalises by; give one per shot for sequences (default: this image's).
    ``source_range="ldr"`` for an 8-bit image's decoded values (an sRGB model where published; the result
    clipped to [0, 1]).
    """
    return run("denoise", {"color": color, "albedo": albedo, "normal": normal, "exposure": exposure},
               **options).image


def denoise_file(src: PathLike, dst: PathLike, **options) -> InferenceResult:
    """Denoise a render or image file; from a multilayer EXR the albedo and normal passes are used when present
    (the model for the passes there), an 8/16-bit PNG, JPEG or TIFF comes back in its bit depth with its alpha.
    The result's ``choice`` says which model ran and why (e.g. no Denoising Data)."""
    return run_files("denoise", [src], dst, **options)


SPEC = register(TaskSpec(
    name="denoise",
    summary="denoise renders and images (albedo and normal passes used when present)",
    label="Denoise",
    icon="SHADERFX",
    main_input="color",
    layout="frame",
    order=10,
    examples="""
examples:
  postpass denoise render/beauty.####.exr -o render/clean.####.exr
  postpass denoise beauty.%04d.exr -o clean/ --frames 1001-1100 --skip-existing    (one farm chunk)
  postpass denoise beauty.####.exr -o preview/beauty.####.png --frames 1001-1100x10
  postpass denoise beauty.####.exr -o clean.####.exr --layer Characters             (another view layer)
  postpass denoise a.exr b.exr c.exr -o clean/
  postpass denoise photo.png -o photo_clean.png      (8-bit in, 8-bit out, alpha kept)
  postpass denoise beauty.####.exr -o clean.####.exr --scheduler tcp://farm-head:8786 --json
""",
    api=(denoise, denoise_file),
    on_render="frame",
    description="Denoise the image with a Postpass network (a render's albedo and normal passes are used when "
                "present; 8-bit images keep their range and alpha)",
    result="denoised",
    activity="Denoising",
))
