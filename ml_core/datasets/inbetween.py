"""Inbetween: frames t0 and t1 (+ their Vector passes and depth) -> the frame between them.

From the animation frames 1..F of a scene: frame0 = 1, frame1 = F, target = a frame between at
t = (k - 1) / (F - 1), k drawn per item (3-frame scenes: t = 1/2; the ``anim5`` preset's 5 frames: 1/4, 1/2,
3/4; ``anim4``: 1/3, 2/3). Blender's vectors span one frame step and ``steps`` (F - 1) of them lie between
frame0 and frame1. The models take vectors in the convention of their contract, frames two steps apart
(``KEY_STEPS``; ``inbetween_splat.VECTOR_GAIN``), so the vectors are scaled by ``steps / KEY_STEPS``: with
linear motion that is exactly the vector of a 2-step render of the same first and last frame.

With ``flow`` the items also hold ``flow0`` / ``flow1``: the optical flow between frame0 and frame1 in both
directions as the runtime estimates it for footage without vectors (``addon.runtime.estimate``), computed on
the whole frames before cropping, as the runtime does before tiling.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from addon.runtime.estimate import optical_flow

from ..transforms import FLOW, VECTOR
from .base import DATASETS, SceneDataset, _read_passes

#: frame steps between frame0 and frame1 that the models' vector inputs are scaled for
KEY_STEPS = 2


@lru_cache(maxsize=1024)
def _flows(first: str, last: str) -> tuple[np.ndarray, np.ndarray]:
    """(flow frame0 -> frame1, flow frame1 -> frame0) of two render files, estimated once per pair."""
    frame0, frame1 = (_read_passes(path)["Combined"][..., :3] for path in (first, last))
    return optical_flow(frame0, frame1), optical_flow(frame1, frame0)


@DATASETS.register("inbetween")
class InbetweenDataset(SceneDataset):
    kinds = {"vectors0": VECTOR, "vectors1": VECTOR, "flow0": FLOW, "flow1": FLOW}

    def __init__(self, root, split: str, flow: bool = False, **options):
        super().__init__(root, split, **options)
        self.flow = flow
        self.frames = sorted(p.name for p in self.scenes[0].glob("frame_*.exr"))
        if len(self.frames) < 3:
            raise ValueError(f"{self.root}: scenes have {len(self.frames)} animation frames; inbetweening needs 3+")

    def load(self, scene, rng):
        k = int(rng.integers(1, len(self.frames) - 1))
        first, middle, last = (self.passes(scene, self.frames[i]) for i in (0, k, -1))
        steps = len(self.frames) - 1
        gain = steps / KEY_STEPS
        sample = {"frame0": first["Combined"][..., :3], "frame1": last["Combined"][..., :3],
                  "vectors0": first["Vector"] * gain, "vectors1": last["Vector"] * gain,
                  "depth0": first["Denoising Depth"], "depth1": last["Denoising Depth"],
                  "target": middle["Combined"][..., :3]}
        if self.flow:
            sample["flow0"], sample["flow1"] = _flows(str(scene / self.frames[0]), str(scene / self.frames[-1]))
        return sample, {"t": k / steps, "steps": float(steps)}

