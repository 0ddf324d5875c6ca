"""Colorize: linear luminance ``gray`` (+ sparse colour hints and their mask) -> the colour target.

Renders' palettes are narrower than photos', so the target's hue is rotated and its saturation scaled at
random (luminance kept), and the luminance input is derived from the augmented target. Hints are points or
small patches copied from the target, from none to a few hundred, as a user would click or paint them.
"""
from __future__ import annotations

import numpy as np

from addon.runtime.color import luminance

from .base import SceneDataset

_GREY_AXIS = np.ones(3, np.float32) / np.sqrt(3.0)


def recolor(rgb: np.ndarray, hue: float, saturation: float) -> np.ndarray:
    """Rotate hue by ``hue`` radians around the grey axis and scale chroma, keeping Rec.709 luminance."""
    k = _GREY_AXIS
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], np.float32)
    rot = np.eye(3, dtype=np.float32) + np.sin(hue) * kx + (1 - np.cos(hue)) * (kx @ kx)  # Rodrigues
    y = luminance(rgb)[..., None]
    out = y + saturation * ((rgb - y) @ rot.T)
    out = np.maximum(out, 0.0)
    return out * (y / np.maximum(luminance(out)[..., None], 1e-8))  # restore luminance lost to clipping


class ColorizeDataset(SceneDataset):
    def __init__(self, root, split: str, max_hints: int = 300, no_hint_fraction: float = 0.25,
                 color_augment: bool = True, **options):
        super().__init__(root, split, **options)
        self.max_hints, self.no_hint_fraction, self.color_augment = max_hints, no_hint_fraction, color_augment

    def load(self, scene, rng):
        return {"target": self.passes(scene, "target.exr")["Combined"][..., :3]}, {}

    def finish(self, sample, rng):
        target = np.maximum(sample["target"], 0.0)
        if self.color_augment:
            target = recolor(target, rng.uniform(-np.pi, np.pi), rng.uniform(0.6, 1.6))
        hints, mask = np.zeros_like(target), np.zeros(target.shape[:2] + (1,), np.float32)
        count = 0 if rng.random() < self.no_hint_fraction else int(min(self.max_hints, rng.geometric(0.03)))
        h, w = target.shape[:2]
        for _ in range(count):
            r = int(rng.integers(0, 3))  # a click (1 px) or a small dab (up to 5x5)
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            ys, xs = slice(max(0, y - r), y + r + 1), slice(max(0, x - r), x + r + 1)
            hints[ys, xs] = target[ys, xs].mean(axis=(0, 1))
            mask[ys, xs] = 1.0
        return {"gray": luminance(target)[..., None], "hints": hints, "mask": mask, "target": target}
