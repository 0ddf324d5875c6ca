"""Inbetween: frames t0 and t1 (+ their Vector passes and depth) -> the frame between them.

From the animation frames 1..F of a scene: frame0 = 1, frame1 = F, target = a frame between at
t = (k - 1) / (F - 1), k drawn per item (3-frame scenes: t = 1/2; the ``anim5`` preset's 5 frames: 1/4, 1/2,
3/4; ``anim4``: 1/3, 2/3). Blender's vectors span one frame step and ``steps`` (F - 1) of them lie between
frame0 and frame1. The models take vectors in the convention of their contract, frames two steps apart
(``KEY_STEPS``; ``inbetween_splat.VECTOR_GAIN``), so the vectors are scaled by ``steps / KEY_STEPS``: with
linear motion that is exactly the vector of a 2-step render of the same first and last frame.

The ``temporal`` and ``guided`` presets' sequences (``seq_0001_target.exr`` ... : 5 frames, each a 128-spp
reference holding every pass) are read too (issue 28's retrain on larger motion: the ``guided`` preset moves up
to tens of pixels a frame): two of the references are the keys, ``spacing`` frames apart (drawn per item from
``spacings``; 2: t = 1/2 as every-other-frame rendering makes it, 4: t = 1/4, 1/2, 3/4), a reference between them
the target, and the keys' vectors are scaled by ``spacing / KEY_STEPS`` as for the animation frames.

With ``flow`` the items also hold ``flow0`` / ``flow1``: the optical flow between frame0 and frame1 in both
directions as the runtime estimates it for footage without vectors (``addon.runtime.estimate``), computed on
the whole frames before cropping, as the runtime does before tiling.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from addon.runtime.estimate import optical_flow

from ..render import sequence_name
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

    def __init__(self, root, split: str, flow: bool = False, spacings: tuple[int, ...] = (2, 4), **options):
        super().__init__(root, split, **options)
        self.flow = flow
        first = self.scenes[0]
        self.frames = sorted(p.name for p in first.glob("frame_*.exr"))  # an animation preset's: keys first, last
        self.spacings = None
        if not self.frames:  # a temporal / guided preset's sequences: their references are the frames
            count = len(list(first.glob("seq_*_target.exr")))
            self.frames = [sequence_name(f) for f in range(1, count + 1)]
            self.spacings = tuple(s for s in spacings if 2 <= s < count)
            if not self.spacings:
                raise ValueError(f"{self.root}: {first.name} holds {count} sequence frames; key spacings "
                                 f"{list(spacings)} need more")
        if len(self.frames) < 3:
            raise ValueError(f"{self.root}: scenes have {len(self.frames)} animation frames; inbetweening needs 3+")

    def load(self, scene, rng):
        steps, start = len(self.frames) - 1, 0
        if self.spacings:  # (drawn only here: an animation preset's items stay those its shipped models had)
            steps = int(rng.choice(self.spacings))
            start = int(rng.integers(0, len(self.frames) - steps))
        k = int(rng.integers(1, steps))
        first, middle, last = (self.passes(scene, self.frames[start + i]) for i in (0, k, steps))
        gain = steps / KEY_STEPS
        sample = {"frame0": first["Combined"][..., :3], "frame1": last["Combined"][..., :3],
                  "vectors0": first["Vector"] * gain, "vectors1": last["Vector"] * gain,
                  "depth0": first["Denoising Depth"], "depth1": last["Denoising Depth"],
                  "target": middle["Combined"][..., :3]}
        if self.flow:
            sample["flow0"], sample["flow1"] = _flows(str(scene / self.frames[start]),
                                                      str(scene / self.frames[start + steps]))
        return sample, {"t": k / steps, "steps": float(steps)}

