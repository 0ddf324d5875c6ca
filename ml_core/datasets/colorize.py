"""Colorize: sRGB luminance ``gray`` (+ sparse sRGB colour hints and their mask) -> the sRGB colour target.

The colorizer works on display images (its contract is sRGB in and out), so a render is first tone-mapped the
way the up-res sRGB models see it: exposure-normalised (``exposure_scale``) times a random 2^[-1.5, 1]
exposure, clipped and sRGB-encoded. The clean target and the clean animation frames are used alike.

``gray`` is exactly what the runtime feeds the network for that image: the Rec.709 luminance of the linear
(decoded) colour, sRGB-encoded (``engine.split_channels`` takes Y of linear RGB, ``input_tile`` encodes it).

Renders' palettes are narrower than photos', so most targets get their hue rotated and saturation scaled at
random in linear light (luminance kept, :func:`recolor`) before the tone map: hints then teach colours of every
hue. Items without hints keep the renders' own colours unless ``recolor_no_hint``: a random hue rotation is
exactly what automatic colour cannot predict, so training on it teaches grey; the renders' own palette ties
colour to grey level and context (saturated blues are dark, bright surfaces yellow-white, lit by the scene's
light), which is what an automatic colorizer can learn. Hints are points (1 px, the
target's colour there) or small square patches (3x3 or 5x5, the patch's mean colour), as a user would click or
dab them; their count is drawn log-uniformly from 1 to ``max_hints`` per 128 x 128 pixels (so few-hint cases are
as common as many-hint ones) and scaled to the crop's area (at least one), and ``no_hint_fraction`` of the
items get none.
"""
from __future__ import annotations

import numpy as np

from addon.runtime.color import exposure_scale, luminance, srgb_decode, srgb_encode

from .base import DATASETS, SceneDataset

_GREY_AXIS = np.ones(3, np.float32) / np.sqrt(3.0)
#: Hint counts are per this many pixels (a 128 x 128 render, the benchmark's image), scaled to the crop.
HINT_AREA = 128 * 128


def recolor(rgb: np.ndarray, hue: float, saturation: float) -> np.ndarray:
    """Rotate hue by ``hue`` radians around the grey axis and scale chroma, keeping Rec.709 luminance."""
    k = _GREY_AXIS
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], np.float32)
    rot = np.eye(3, dtype=np.float32) + np.sin(hue) * kx + (1 - np.cos(hue)) * (kx @ kx)  # Rodrigues
    y = luminance(rgb)[..., None]
    out = y + saturation * ((rgb - y) @ rot.T)
    out = np.maximum(out, 0.0)
    return out * (y / np.maximum(luminance(out)[..., None], 1e-8))  # restore luminance lost to clipping


def gray_of(srgb: np.ndarray) -> np.ndarray:
    """The network's ``gray`` input for an sRGB image, as the runtime computes it: sRGB-encoded Rec.709
    luminance of the linear colour (H x W x 1)."""
    return srgb_encode(luminance(srgb_decode(srgb)))[..., None]


def sample_hints(target: np.ndarray, count: int, rng: np.random.Generator,
                 patch_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``count`` hints copied from ``target`` (H x W x 3): (hint image, H x W x 1 mask); 0 off the mask.

    A hint is a 1-px point (the target there) or, with probability ``patch_fraction``, a 3x3 or 5x5 patch
    holding the patch's mean colour; later hints overwrite earlier ones where they overlap.
    """
    h, w = target.shape[:2]
    hints, mask = np.zeros_like(target), np.zeros((h, w, 1), np.float32)
    for _ in range(count):
        r = int(rng.integers(1, 3)) if rng.random() < patch_fraction else 0
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        ys, xs = slice(max(0, y - r), y + r + 1), slice(max(0, x - r), x + r + 1)
        hints[ys, xs] = target[ys, xs].mean(axis=(0, 1))
        mask[ys, xs] = 1.0
    return hints, mask


@DATASETS.register("colorize")
class ColorizeDataset(SceneDataset):
    def __init__(self, root, split: str, max_hints: int = 300, no_hint_fraction: float = 0.2,
                 patch_fraction: float = 0.5, color_augment: bool = True, recolor_fraction: float = 0.8,
                 exposure_range: tuple[float, float] = (-1.5, 1.0), frames: bool = True,
                 recolor_no_hint: bool = True, **options):
        super().__init__(root, split, **options)
        self.max_hints, self.no_hint_fraction, self.patch_fraction = max_hints, no_hint_fraction, patch_fraction
        self.color_augment, self.recolor_fraction = color_augment, recolor_fraction
        self.recolor_no_hint = recolor_no_hint
        self.exposure_range = tuple(exposure_range)
        self.frames = sorted(p.name for p in self.scenes[0].glob("frame_*.exr")) if frames else []

    def load(self, scene, rng):
        name = "target.exr" if rng.random() < 0.5 or not self.frames else self.frames[rng.integers(len(self.frames))]
        rgb = np.maximum(np.nan_to_num(self.passes(scene, name)["Combined"][..., :3]), 0.0)
        # exposure from the whole frame (as the benchmark's tone map), applied before cropping; encoded later
        scale = exposure_scale(rgb) * 2.0 ** rng.uniform(*self.exposure_range)
        return {"target": (rgb * scale).astype(np.float32)}, {}

    def finish(self, sample, rng):
        linear = sample["target"]
        count = 0
        if rng.random() >= self.no_hint_fraction and self.max_hints > 0:
            per_area = np.exp(rng.uniform(0.0, np.log(self.max_hints + 1)))  # log-uniform 1 .. max_hints
            count = max(1, int(rng.poisson(per_area * linear.shape[0] * linear.shape[1] / HINT_AREA)))
        # colour augmentation only on training items (validation, augment=False, sees the renders' palettes)
        shift_hue = self.color_augment and self.augment and (count or self.recolor_no_hint)
        if shift_hue and rng.random() < self.recolor_fraction:
            linear = recolor(linear, rng.uniform(-np.pi, np.pi), rng.uniform(0.6, 1.6))
        target = srgb_encode(linear)  # clips to [0, 1]
        hints, mask = sample_hints(target, count, rng, self.patch_fraction)
        return {"gray": gray_of(target), "hints": hints, "mask": mask, "target": target}
