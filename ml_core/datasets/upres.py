"""Up-res: a low-resolution ``image`` -> the full-resolution target, with full-resolution albedo/normal as guide.

Linear (render) models see two kinds of low-res input, mixed by ``real_fraction``: the real 1/scale render of
the same camera (the deployment case: render fewer pixels) and the target downscaled, half the time by an
area filter and half by antialiased bicubic (MATLAB ``imresize``-like, the classic SR pair).

Guided models read the target's clean albedo and normal, or with ``noisy_guides`` (a fraction) those of a noisy
render at one of ``guide_spp`` (what a farm's cheap full-size guide render gives: a few samples, aliased and
noisy at edges and in defocus, where a model trained on clean guides breaks).

sRGB (texture and photo) models see the clean target and the OIDN-denoised animation frames, tone-mapped at a
random exposure into sRGB, as the high-res image, and its bicubic downscale as input; a ``degrade`` fraction of
inputs also gets a slight blur, noise or JPEG compression, as scanned and downloaded textures have. A
``srgb_real_fraction`` of their pairs are instead the real 1/scale render and the target, both tone-mapped at
the same exposure: a displayed render up-ressed, whose pixels are filtered by the renderer, not by bicubic.
"""
from __future__ import annotations

import cv2
import numpy as np

from addon.runtime.color import exposure_scale, srgb_encode

from ..transforms import NORMAL
from .base import DATASETS, SceneDataset


def downscale(image: np.ndarray, scale: int, method: str = "bicubic") -> np.ndarray:
    """Shrink an H x W x C float image by an integer factor: ``area`` (box) or antialiased ``bicubic``."""
    h, w = image.shape[0] // scale, image.shape[1] // scale
    if method == "area":
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, -1)
    from PIL import Image  # PIL's bicubic widens its kernel when shrinking, like MATLAB's imresize

    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], np.float32), mode="F")
                                .resize((w, h), Image.BICUBIC)) for c in range(image.shape[2])], axis=-1)


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One mild real-world degradation of an sRGB [0, 1] image: blur, noise or JPEG."""
    kind = rng.integers(3)
    if kind == 0:
        return cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 0.8))).reshape(image.shape)
    if kind == 1:
        return np.clip(image + rng.normal(0.0, rng.uniform(0.002, 0.02), image.shape), 0.0, 1.0).astype(np.float32)
    quality = int(rng.integers(60, 95))
    ok, buf = cv2.imencode(".jpg", np.round(image[..., ::-1] * 255).astype(np.uint8),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    return (cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1] / 255.0).astype(np.float32)


@DATASETS.register("upres")
class UpresDataset(SceneDataset):
    kinds = {"normal": NORMAL}

    def __init__(self, root, split: str, scale: int = 2, real_fraction: float = 0.5, color_space: str = "linear",
                 degrade: float = 0.0, srgb_real_fraction: float = 0.0, guide_spp: tuple[int, ...] = (),
                 noisy_guides: float = 0.0, **options):
        super().__init__(root, split, **options)
        self.guide_spp, self.noisy_guides = tuple(guide_spp), noisy_guides
        missing = [s for s in self.guide_spp if not (self.scenes[0] / f"noisy_spp{s:04d}.exr").exists()]
        if missing:
            raise ValueError(f"{self.root}: no noisy renders at {missing} spp for the guides")
        if not (self.scenes[0] / f"lowres_x{scale}.exr").exists():
            raise ValueError(f"{self.root}: no x{scale} low-resolution renders (lowres_x{scale}.exr)")
        if self.crop % scale:
            raise ValueError(f"crop {self.crop} must be a multiple of the scale {scale}")
        self.scale, self.real_fraction, self.color_space, self.degrade = scale, real_fraction, color_space, degrade
        self.srgb_real_fraction = srgb_real_fraction
        self.frames = sorted(p.name for p in self.scenes[0].glob("frame_*.exr"))

    def load(self, scene, rng):
        if self.color_space == "srgb" and self.srgb_real_fraction and rng.random() < self.srgb_real_fraction:
            hr = self.passes(scene, "target.exr")["Combined"][..., :3]
            lr = self.passes(scene, f"lowres_x{self.scale}.exr")["Combined"][..., :3]
            exposure = exposure_scale(hr) * 2.0 ** rng.uniform(-1.5, 1.0)
            return {"image": srgb_encode(lr * exposure).astype(np.float32),
                    "target": srgb_encode(hr * exposure).astype(np.float32)}, {"scale": float(self.scale)}
        if self.color_space == "srgb":
            name = "target.exr" if rng.random() < 0.5 or not self.frames else self.frames[rng.integers(len(self.frames))]
            hr = self.passes(scene, name)["Combined"][..., :3]
            hr = srgb_encode(hr * exposure_scale(hr) * 2.0 ** rng.uniform(-1.5, 1.0)).astype(np.float32)
            return {"target": hr}, {"scale": float(self.scale)}
        target = self.passes(scene, "target.exr")
        hr = target["Combined"][..., :3]
        if rng.random() < self.real_fraction:
            lr = self.passes(scene, f"lowres_x{self.scale}.exr")["Combined"][..., :3]
        else:
            lr = downscale(hr, self.scale, "area" if rng.random() < 0.5 else "bicubic")
        guides = target
        if self.guide_spp and rng.random() < self.noisy_guides:  # a cheap guide render's albedo and normal
            guides = self.passes(scene, f"noisy_spp{int(rng.choice(self.guide_spp)):04d}.exr")
        return {"image": lr, "albedo": np.clip(guides["Denoising Albedo"], 0.0, 1.0),
                "normal": guides["Denoising Normal"], "target": hr}, {"scale": float(self.scale)}

    def finish(self, sample, rng):
        if self.color_space != "srgb":
            return sample
        # made after cropping and the symmetry, so the bicubic pair is exact for the crop the model sees
        lr = np.clip(sample["image"] if "image" in sample else downscale(sample["target"], self.scale), 0.0, 1.0)
        if rng.random() < self.degrade:
            lr = degrade(lr, rng)
        # inputs are 8-bit files (textures, photos): train on the same quantisation
        return {**sample, "image": (np.round(lr * 255.0) / 255.0).astype(np.float32)}
