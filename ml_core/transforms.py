"""Geometric augmentation that keeps render passes consistent.

A sample is a dict of H x W x C numpy arrays (top-down rows). Mirroring or rotating an image also changes
what its passes mean: a camera-space normal (x right, y up, z away) and a Vector pass (pixels, y up; XY to the
previous frame, ZW to the next) must have their components mirrored or rotated with the pixels. Arrays may
come at different resolutions (a 1/4-resolution render beside its full-resolution target): crops are taken
on one grid so they stay aligned.
"""
from __future__ import annotations

import numpy as np

#: How the channels of a pass transform: "normal" (X, Y, Z), "vector" (X, Y, Z, W as two 2-D vectors),
#: "flow" (DX, DY: an optical flow in image coordinates, y down), anything else is a scalar field (colour,
#: albedo, depth, masks) that just moves with the pixels.
NORMAL, VECTOR, FLOW = "normal", "vector", "flow"


def _hflip(arr: np.ndarray, kind: str | None) -> np.ndarray:
    out = arr[:, ::-1].copy()
    if kind in (NORMAL, FLOW):
        out[..., 0] *= -1
    elif kind == VECTOR:
        out[..., 0] *= -1
        out[..., 2] *= -1
    return out


def _vflip(arr: np.ndarray, kind: str | None) -> np.ndarray:
    out = arr[::-1].copy()
    if kind in (NORMAL, FLOW):
        out[..., 1] *= -1
    elif kind == VECTOR:
        out[..., 1] *= -1
        out[..., 3] *= -1
    return out


def _rot90(arr: np.ndarray, kind: str | None) -> np.ndarray:
    """Rotate 90 degrees counter-clockwise as displayed: a y-up vector (x, y) becomes (-y, x)."""
    out = np.rot90(arr, 1, axes=(0, 1)).copy()
    if kind == NORMAL:
        out[..., 0], out[..., 1] = -out[..., 1].copy(), out[..., 0].copy()
    elif kind == VECTOR:
        x, y, z, w = (out[..., i].copy() for i in range(4))
        out[..., 0], out[..., 1], out[..., 2], out[..., 3] = -y, x, -w, z
    elif kind == FLOW:  # y down: the y-up rotation (x, y) -> (-y, x) reads (dx, dy) -> (dy, -dx)
        out[..., 0], out[..., 1] = out[..., 1].copy(), -out[..., 0].copy()
    return out


def dihedral(sample: dict[str, np.ndarray], op: int, kinds: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Apply one of the 8 symmetries of the square (``op`` in 0..7: bit 0 h-flip, bit 1 v-flip, bit 2 rot90)."""
    kinds = kinds or {}
    out = {}
    for key, arr in sample.items():
        kind = kinds.get(key)
        if op & 1:
            arr = _hflip(arr, kind)
        if op & 2:
            arr = _vflip(arr, kind)
        if op & 4:
            arr = _rot90(arr, kind)
        out[key] = arr
    return out


def random_crop(sample: dict[str, np.ndarray], size: int, rng: np.random.Generator,
                base: str | None = None) -> dict[str, np.ndarray]:
    """Crop ``size`` x ``size`` pixels of the ``base`` array's grid (default: the largest), every array at
    its own resolution: a 1/4-resolution array gets ``size / 4`` pixels of the same region."""
    base = base or max(sample, key=lambda k: sample[k].shape[0])
    h, w = sample[base].shape[:2]
    factors = {k: a.shape[0] / h for k, a in sample.items()}
    step = int(round(1 / min(factors.values())))  # crop corners on the coarsest grid keep every array aligned
    if size % step or size > min(h, w):
        raise ValueError(f"crop {size} must be a multiple of {step} and fit in {h}x{w}")
    y = int(rng.integers(0, (h - size) // step + 1)) * step
    x = int(rng.integers(0, (w - size) // step + 1)) * step
    out = {}
    for key, arr in sample.items():
        f = factors[key]
        ys, xs, n = int(round(y * f)), int(round(x * f)), int(round(size * f))
        out[key] = arr[ys:ys + n, xs:xs + n]
    return out


def to_tensors(sample: dict[str, np.ndarray]):
    """HWC float32 arrays -> CHW torch tensors (scalars pass through as 0-d tensors)."""
    import torch

    return {k: (torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1), dtype=np.float32))
                if isinstance(v, np.ndarray) and v.ndim == 3 else torch.tensor(v, dtype=torch.float32))
            for k, v in sample.items()}
