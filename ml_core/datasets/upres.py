"""Up-res: a low-resolution ``image`` -> the full-resolution target, with full-resolution albedo/normal as guide.

Two kinds of low-res input, mixed by ``real_fraction``: the real 1/scale render of the same camera (the
deployment case: render fewer pixels) and the target downscaled, half the time by an area filter and half by
antialiased bicubic (MATLAB ``imresize``-like, the classic SR pair the literature's benchmarks use).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..transforms import NORMAL
from .base import SceneDataset


def downscale(image: np.ndarray, scale: int, method: str = "bicubic") -> np.ndarray:
    """Shrink an H x W x C float image by an integer factor: ``area`` (box) or antialiased ``bicubic``."""
    h, w = image.shape[0] // scale, image.shape[1] // scale
    if method == "area":
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, -1)
    from PIL import Image  # PIL's bicubic widens its kernel when shrinking, like MATLAB's imresize

    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], np.float32), mode="F")
                                .resize((w, h), Image.BICUBIC)) for c in range(image.shape[2])], axis=-1)


class UpresDataset(SceneDataset):
    kinds = {"normal": NORMAL}

    def __init__(self, root, split: str, scale: int = 2, real_fraction: float = 0.5, **options):
        super().__init__(root, split, **options)
        if not (self.scenes[0] / f"lowres_x{scale}.exr").exists():
            raise ValueError(f"{self.root}: no x{scale} low-resolution renders (lowres_x{scale}.exr)")
        if self.crop % scale:
            raise ValueError(f"crop {self.crop} must be a multiple of the scale {scale}")
        self.scale, self.real_fraction = scale, real_fraction

    def load(self, scene, rng):
        target = self.passes(scene, "target.exr")
        hr = target["Combined"][..., :3]
        if rng.random() < self.real_fraction:
            lr = self.passes(scene, f"lowres_x{self.scale}.exr")["Combined"][..., :3]
        else:
            lr = downscale(hr, self.scale, "area" if rng.random() < 0.5 else "bicubic")
        return {"image": lr, "albedo": np.clip(target["Denoising Albedo"], 0.0, 1.0),
                "normal": target["Denoising Normal"], "target": hr}, {"scale": float(self.scale)}
