"""The temporal denoiser's data (issue 26): windows of an animated sequence (``temporal`` preset folders).

One item is frame t of a sequence with its neighbours t - 1 and t + 1 (noisy colour, albedo, normal at one spp
level, each frame its own sampling seed, as an animation render has; moved onto frame t's pixels along its Vector
pass by the runtime's own warp, ``addon.runtime.motion``), frame t's Vector pass and reference, and
the same for frame t - 1 under the ``earlier/`` prefix (its own neighbours t - 2 and t): the training loop runs
the model on both and adds a temporal loss on how the output changes from t - 1 to t along the motion
(``ml_core.losses.temporal_change``), so the network is taught not to flicker, not only to be right per frame.

``absent``: the share of items in which a neighbour is left out (zeros, as the runtime gives the first and last
frame of a sequence and a still), drawn per neighbour and shared by both frames of the pair, so the model
keeps the per-frame model's quality where it has no neighbour.

``per_frame``: items of one frame alone (colour, guides, target; Blender's result with ``blender_denoised``),
any frame of the sequence: for a per-frame model trained on these sequences' frames as stills
(``denoise_oidn_correction``), which reads a sixth of the files a window reads.

``target_spp`` (with ``per_frame``): the target is the same frame's noisy render at that many samples instead of
its reference, a noisy target whose noise is independent of the input's (every level has its own sampling seed):
Noise2Noise pairs, with a loss whose minimiser is the mean (``display_mse_linear``), to measure what a target of
a fifth of the reference's render time costs (issue 30). The level cannot also be an input.

``blender_denoised``: each frame (and neighbour) also gives Blender's denoised copy of its noisy render
(``blender_denoised``, ``prev_blender_denoised``, ...: the files ``python -m ml_core.data blender-oidn`` makes),
for a model that improves on Blender's result (``denoise_oidn_pool``).
"""
from __future__ import annotations

import numpy as np

from addon.runtime.motion import warp_neighbour

from ..data import BLENDER_OIDN_DIR
from ..render import sequence_name
from ..transforms import NORMAL, VECTOR
from .base import DATASETS, SceneDataset

PARTS = ("color", "albedo", "normal")
EARLIER = "earlier/"


def _kinds() -> dict[str, str]:
    kinds = {}
    for prefix in ("", EARLIER):
        kinds[f"{prefix}vector"] = VECTOR
        for n in ("", "prev_", "next_"):
            kinds[f"{prefix}{n}normal"] = NORMAL
    return kinds


@DATASETS.register("denoise_temporal")
class DenoiseSequenceDataset(SceneDataset):
    kinds = _kinds()

    def __init__(self, root, split: str, spp: tuple[int, ...] | None = None, absent: float = 0.1,
                 blender_denoised: bool = False, per_frame: bool = False,
                 target_spp: int | None = None, **options):
        super().__init__(root, split, **options)
        first = self.scenes[0]
        self.frames = len(list(first.glob("seq_*_target.exr")))
        if self.frames < 3:
            raise ValueError(f"{self.root}: {first.name} holds no temporal sequence of 3 or more frames "
                             "(build one with `python -m ml_core.data build --preset temporal`)")
        available = sorted({int(p.stem[-4:]) for p in first.glob("seq_0001_spp*.exr")})
        self.spp = tuple(spp) if spp else tuple(available)
        missing = set(self.spp) - set(available)
        if missing:
            raise ValueError(f"{self.root}: no sequence frames at {sorted(missing)} spp (have {available})")
        self.absent, self.per_frame, self.target_spp = absent, per_frame, target_spp
        if target_spp is not None:
            if not per_frame:
                raise ValueError("target_spp needs per_frame (a window's targets are references)")
            if target_spp not in available or target_spp in self.spp:
                raise ValueError(f"{self.root}: target_spp {target_spp} must be a level on disk ({available}) that is "
                                 f"not an input level ({list(self.spp)})")
        self.parts = (*PARTS, "blender_denoised") if blender_denoised else PARTS
        if blender_denoised:
            first_copy = sequence_name(1, self.spp[0])
            lacking = [s.name for s in self.scenes if not (s / BLENDER_OIDN_DIR / first_copy).is_file()]
            if lacking:
                raise ValueError(f"{self.root}: {len(lacking)} scenes of split {split!r} have no Blender-denoised "
                                 f"frames (first: {lacking[0]}): run `python -m ml_core.data blender-oidn "
                                 f"{self.root} --split {split}`")

    def _frame(self, scene, frame: int, spp: int, prefix: str, out: dict) -> None:
        noisy = self.passes(scene, sequence_name(frame, spp))
        out[f"{prefix}color"] = noisy["Combined"][..., :3]
        out[f"{prefix}albedo"] = np.clip(noisy["Denoising Albedo"], 0.0, 1.0)
        out[f"{prefix}normal"] = noisy["Denoising Normal"]
        if "blender_denoised" in self.parts:
            out[f"{prefix}blender_denoised"] = self.passes(scene, f"{BLENDER_OIDN_DIR}/{sequence_name(frame, spp)}")[
                "Combined"][..., :3]

    def _window(self, scene, t: int, spp: int, drop: tuple[bool, bool], prefix: str, out: dict) -> None:
        self._frame(scene, t, spp, prefix, out)
        out[f"{prefix}vector"] = self.passes(scene, sequence_name(t, spp))["Vector"]
        out[f"{prefix}target"] = self.passes(scene, sequence_name(t))["Combined"][..., :3]
        for (name, frame), dropped in zip((("prev_", t - 1), ("next_", t + 1)), drop):
            if dropped or not 1 <= frame <= self.frames:
                zeros = np.zeros_like(out[f"{prefix}color"])
                for part in self.parts:
                    out[f"{prefix}{name}{part}"] = zeros
            else:  # moved onto frame t's pixels as the runtime does (the contract's ``warp``)
                self._frame(scene, frame, spp, f"{prefix}{name}", out)
                for part in self.parts:
                    key = f"{prefix}{name}{part}"
                    out[key] = warp_neighbour(out[key], out[f"{prefix}vector"], name[:-1])

    def load(self, scene, rng):
        spp = int(rng.choice(self.spp))
        if self.per_frame:
            t = int(rng.integers(1, self.frames + 1))
            sample: dict[str, np.ndarray] = {}
            self._frame(scene, t, spp, "", sample)
            sample["target"] = self.passes(scene, sequence_name(t, self.target_spp))["Combined"][..., :3]
            return sample, {"spp": float(spp)}
        # t and t - 1 both with both neighbours on disk: t in 3 .. frames - 1
        t = int(rng.integers(3, self.frames)) if self.frames >= 4 else 2
        drop = (bool(rng.random() < self.absent), bool(rng.random() < self.absent))
        sample: dict[str, np.ndarray] = {}
        self._window(scene, t, spp, drop, "", sample)
        self._window(scene, t - 1, spp, drop, EARLIER, sample)
        return sample, {"spp": float(spp)}
