"""Guide-pass inbetweening's data (issue 28): from the ``temporal`` preset's animated sequences (5 frames, each
with a 128-spp reference holding every pass, and 1 / 4 / 16-spp renders of the same frame).

One item: two key frames (the references: rendered in full) and the frame between them to make. Its inputs
are the keys' Combined, Denoising Albedo / Normal / Depth moved onto the made frame's pixels along the *made
frame's* Vector pass (the runtime's own warp, ``addon.runtime.motion``, as the contract's ``warp`` does at run
time), and the made frame's guide passes from one of its low-sample renders (``guide_spp``: a guide render is a
few samples; which of them, drawn per item, so the model holds at either). The target is the made frame's
reference.

Key spacing is drawn per item from ``spacings`` (2: every other frame rendered, t = 1/2, the vectors exact; 4:
every 4th, t = 1/4, 1/2, 3/4, the vectors scaled by the steps to each key as the runtime scales them).
"""
from __future__ import annotations

import numpy as np

from addon.runtime.motion import warp_neighbour

from ..models.inbetween_guided import KEY_PASSES
from ..render import sequence_name
from ..transforms import NORMAL, VECTOR
from .base import DATASETS, SceneDataset



@DATASETS.register("inbetween_guided")
class InbetweenGuidedDataset(SceneDataset):
    kinds = {"vectors": VECTOR, "normal": NORMAL, "normal0": NORMAL, "normal1": NORMAL}

    def __init__(self, root, split: str, guide_spp: tuple[int, ...] = (1, 4), spacings: tuple[int, ...] = (2, 2, 4),
                 **options):
        super().__init__(root, split, **options)
        first = self.scenes[0]
        self.frames = len(list(first.glob("seq_*_target.exr")))
        self.spacings = tuple(s for s in spacings if s < self.frames)
        if not self.spacings:
            raise ValueError(f"{self.root}: {first.name} holds {self.frames} sequence frames; key spacings "
                             f"{list(spacings)} need more (build them with `python -m ml_core.data build --preset "
                             "temporal`)")
        available = sorted({int(p.stem[-4:]) for p in first.glob("seq_0001_spp*.exr")})
        missing = set(guide_spp) - set(available)
        if missing:
            raise ValueError(f"{self.root}: no sequence frames at {sorted(missing)} spp for guides (have {available})")
        self.guide_spp = tuple(guide_spp)

    def load(self, scene, rng):
        spacing = int(rng.choice(self.spacings))
        key0 = int(rng.integers(1, self.frames - spacing + 1))
        made = key0 + int(rng.integers(1, spacing))
        key1 = key0 + spacing
        guide = self.passes(scene, sequence_name(made, int(rng.choice(self.guide_spp))))
        sample = {"albedo": np.clip(guide["Denoising Albedo"], 0.0, 1.0), "normal": guide["Denoising Normal"],
                  "depth": guide["Denoising Depth"], "vectors": guide["Vector"],
                  "target": self.passes(scene, sequence_name(made))["Combined"][..., :3]}
        for i, (key, which, steps) in enumerate(((key0, "prev", made - key0), (key1, "next", key1 - made))):
            passes = self.passes(scene, sequence_name(key))
            parts = [passes[pass_name][..., :len(channels)] for _, channels, pass_name in KEY_PASSES]
            moved = warp_neighbour(np.concatenate(parts, -1), sample["vectors"], which, steps)  # one remap
            for (name, *_), part in zip(KEY_PASSES, np.split(moved, np.cumsum([p.shape[-1] for p in parts])[:-1], -1)):
                sample[f"{name}{i}"] = part
        return sample, {"t": (made - key0) / spacing}
