"""Denoise: a noisy linear HDR render in, a clean one out, guided by its albedo and normal passes when present."""
from __future__ import annotations

import numpy as np

from ..api import PathLike, run, run_files
from ..engine import InferenceResult
from . import TaskSpec, register


def denoise(color: np.ndarray, albedo: np.ndarray | None = None, normal: np.ndarray | None = None, *,
            exposure: float | None = None, **options) -> np.ndarray:
    """Denoise a linear HDR render (RGB or RGBA), optionally guided by Denoising Albedo and camera-space Normal.

    ``exposure``: the scale the model normalises by; give one per shot for sequences (default: this image's).
    """
    return run("denoise", {"color": color, "albedo": albedo, "normal": normal, "exposure": exposure},
               **options).image


def denoise_file(src: PathLike, dst: PathLike, **options) -> InferenceResult:
    """Denoise a render file; from a multilayer EXR the albedo and normal passes are used when present."""
    return run_files("denoise", [src], dst, **options)


SPEC = register(TaskSpec(
    name="denoise",
    summary="denoise renders (albedo and normal passes used when present)",
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
  postpass denoise beauty.####.exr -o clean.####.exr --scheduler tcp://farm-head:8786 --json
""",
    api=(denoise, denoise_file),
    on_render="frame",
    description="Denoise the image with a Postpass network (a render's albedo and normal passes are used when "
                "present)",
    result="denoised",
    activity="Denoising",
))
