"""Denoise: noisy colour at a sampled spp + its albedo, normal, depth -> the high-spp target."""
from __future__ import annotations

import numpy as np

from ..transforms import NORMAL
from .base import SceneDataset


class DenoiseDataset(SceneDataset):
    kinds = {"normal": NORMAL}

    def __init__(self, root, split: str, spp: tuple[int, ...] | None = None, **options):
        super().__init__(root, split, **options)
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
