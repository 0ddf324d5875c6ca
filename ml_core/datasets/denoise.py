"""Denoise: noisy colour at a sampled spp + its albedo, normal, depth -> the high-spp target.

``fireflies``: the fraction of training items that get 1-3 extra single-pixel outliers in the noisy colour
(10^3 to 10^5 times the crop's mean level by default, ``firefly_range`` in log10; a random tint; the target
unchanged): the rare caustic-path samples
that a few hundred scenes show too seldom for the network to learn to discard them, and which a kernel
predictor otherwise spreads into a blob (its output is an average of its input's pixels). Outliers as low as
100x the mean taught the network to drop the real sparse samples of 1-spp renders too (-0.6 dB at 1 spp).
"""
from __future__ import annotations

import numpy as np

from ..transforms import NORMAL
from .base import DATASETS, SceneDataset


@DATASETS.register("denoise")
class DenoiseDataset(SceneDataset):
    kinds = {"normal": NORMAL}

    def __init__(self, root, split: str, spp: tuple[int, ...] | None = None, fireflies: float = 0.0,
                 firefly_range: tuple[float, float] = (3.0, 5.0), **options):
        super().__init__(root, split, **options)
        self.fireflies, self.firefly_range = fireflies, tuple(firefly_range)
        available = sorted(int(p.stem[-4:]) for p in self.scenes[0].glob("noisy_spp*.exr"))
        self.spp = tuple(spp) if spp else tuple(available)
        missing = set(self.spp) - set(available)
        if missing:
            raise ValueError(f"{self.root}: no noisy renders at {sorted(missing)} spp (have {available})")

    def load(self, scene, rng):
        spp = int(rng.choice(self.spp))
        noisy, target = self.passes(scene, f"noisy_spp{spp:04d}.exr"), self.passes(scene, "target.exr")
        # Aux passes come from the noisy render itself: that is what a user's render provides.
        return {"color": noisy["Combined"][..., :3], "albedo": np.clip(noisy["Denoising Albedo"], 0.0, 1.0),
                "normal": noisy["Denoising Normal"], "depth": noisy["Denoising Depth"],
                "target": target["Combined"][..., :3]}, {"spp": float(spp)}

    def finish(self, sample, rng):
        if not (self.augment and self.fireflies) or rng.random() >= self.fireflies:
            return sample
        color = sample["color"].copy()
        h, w = color.shape[:2]
        level = max(float(color.mean()), 1e-3)
        for _ in range(int(rng.integers(1, 4))):
            tint = rng.uniform(0.5, 1.0, 3).astype(np.float32)
            color[rng.integers(h), rng.integers(w)] = level * 10.0 ** rng.uniform(*self.firefly_range) * tint
        return {**sample, "color": color}
