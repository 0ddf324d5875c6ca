"""Up-res: a low-resolution image -> the full-resolution target, with full-resolution albedo/normal as guide.

Two kinds of low-res input, mixed by ``real_fraction``: the real 1/scale render of the same camera (the
deployment case: render fewer pixels) and the target downscaled (area filter, the classic SR pair).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..transforms import NORMAL
from .base import SceneDataset


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
            h, w = hr.shape[0] // self.scale, hr.shape[1] // self.scale
            lr = cv2.resize(hr, (w, h), interpolation=cv2.INTER_AREA)
        return {"lowres": lr, "albedo": np.clip(target["Denoising Albedo"], 0.0, 1.0),
                "normal": target["Denoising Normal"], "target": hr}, {"scale": float(self.scale)}
