"""The temporal denoiser's data (issue 26): windows of an animated sequence (``temporal`` preset folders).

One item is frame t of a sequence with its neighbours t - 1 and t + 1 (``radius`` r: t - r .. t + r; noisy colour,
albedo, normal at one spp level, each frame its own sampling seed, as an animation render has; moved onto frame
t's pixels along the Vector passes by the runtime's own warp, ``addon.runtime.motion``, with the window contract
the model has, ``ml_core.models.denoise_temporal.window_contract``), frame t's Vector pass and reference, and
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

from addon.runtime.contract import ImageInput
from addon.runtime.motion import warp_inputs

from ..data import BLENDER_OIDN_DIR
from ..models.blocks import RGB
from ..models.denoise_temporal import window_contract, window_neighbours
from ..render import sequence_name
from ..transforms import NORMAL, VECTOR
from .base import DATASETS, SceneDataset

PARTS = ("color", "albedo", "normal")
EARLIER = "earlier/"
#: the widest window an item may have (the kinds of its neighbours' passes are known up to it)
MAX_RADIUS = 3


def _kinds() -> dict[str, str]:
    kinds = {}
    for prefix in ("", EARLIER):
        kinds[f"{prefix}vector"] = VECTOR
        kinds[f"{prefix}normal"] = NORMAL
        for n, _, _ in window_neighbours(MAX_RADIUS):
            kinds[f"{prefix}{n}_normal"] = NORMAL
            kinds[f"{prefix}{n}_vector"] = VECTOR
    return kinds


@DATASETS.register("denoise_temporal")
class DenoiseSequenceDataset(SceneDataset):
    kinds = _kinds()

    def __init__(self, root, split: str, spp: tuple[int, ...] | None = None, absent: float = 0.1,
                 blender_denoised: bool = False, per_frame: bool = False,
                 target_spp: int | None = None, radius: int = 1, **options):
        super().__init__(root, split, **options)
        if not 1 <= radius <= MAX_RADIUS:
            raise ValueError(f"radius {radius}: a window reads 1 to {MAX_RADIUS} frames on each side")
        self.radius = radius
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
        denoised = ImageInput("blender_denoised", RGB, "linear", hdr=True) if blender_denoised else None
        self.contract = window_contract(1, 0, denoised, radius=radius)  # what the runtime warps, and how
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

    def _window(self, scene, t: int, spp: int, drop: dict[str, bool], prefix: str, out: dict) -> None:
        """Frame ``t`` under ``prefix`` with its window's neighbours moved onto it (``drop``: per side, whether
        that side's neighbours are left out)."""
        window: dict[str, np.ndarray] = {}
        self._frame(scene, t, spp, "", window)
        window["vector"] = self.passes(scene, sequence_name(t, spp))["Vector"]
        out[f"{prefix}target"] = self.passes(scene, sequence_name(t))["Combined"][..., :3]
        for n, side, k in window_neighbours(self.radius):
            frame = t - k if side == "prev" else t + k
            if not drop[side] and 1 <= frame <= self.frames:
                self._frame(scene, frame, spp, f"{n}_", window)
                if k < self.radius:  # the way on to the next one out
                    window[f"{n}_vector"] = self.passes(scene, sequence_name(frame, spp))["Vector"]
        warp_inputs(self.contract, window, "the temporal dataset")  # as the runtime moves them (the contract's warp)
        zeros = {c: np.zeros_like(window["albedo"][..., :1].repeat(c, -1)) for c in (3, 4)}
        for spec in self.contract.image_inputs:  # an absent neighbour is zeros, as the runtime fills it
            out[f"{prefix}{spec.name}"] = window.get(spec.name, zeros[len(spec.channels)])

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
        drop = {side: bool(rng.random() < self.absent) for side in ("prev", "next")}
        sample: dict[str, np.ndarray] = {}
        self._window(scene, t, spp, drop, "", sample)
        self._window(scene, t - 1, spp, drop, EARLIER, sample)
        return sample, {"spp": float(spp)}
