"""Inputs the runtime computes for a model when the caller has none: the estimators a contract may name.

An image input whose contract says ``estimate=("optical_flow", "frame0", "frame1")`` is, when absent, the
optical flow from frame0 to frame1, computed here over the whole image before tiling (so every tile sees the
same motion). Models are trained on exactly these estimates (``ml_core.datasets.inbetween`` calls the same
functions), so what the network learned to correct is what it gets.
"""
from __future__ import annotations

import numpy as np

from . import color
from .contract import ModelContract, ModelError

#: DIS (Kroeger et al. 2016) preset: "medium" is OpenCV's balance of speed and accuracy (about 0.7 s per
#: direction for a 1920x1080 frame on one CPU thread)
DIS_PRESET = "medium"
#: The preset's finest level is half resolution; below this short side the flow is estimated at full resolution
#: instead, so the finest grid never drops below 128 px (on the 128-px validation renders: +0.30 dB for the
#: image-only inbetweener; 1080p and larger keep the preset and its speed).
FULL_RES_BELOW = 256
#: smallest side DIS is given (it needs a few patches; smaller frames are padded)
MIN_SIDE = 16


def display_gray(frames: list[np.ndarray]) -> list[np.ndarray]:
    """8-bit grey of linear HDR frames, tone-mapped with one exposure for all (what a flow estimator reads)."""
    import cv2

    scale = color.exposure_scale(np.concatenate([f[..., :3] for f in frames], 0))
    return [(cv2.cvtColor(np.ascontiguousarray(color.tonemap(f[..., :3], scale)), cv2.COLOR_RGB2GRAY) * 255)
            .astype(np.uint8) for f in frames]


def optical_flow(source: np.ndarray, target: np.ndarray, by_size: bool = True) -> np.ndarray:
    """H x W x 2 flow (dx, dy; pixels, x right, y down) from each pixel of ``source`` to where it is in
    ``target``: OpenCV's DIS optical flow on the frames' tone-mapped grey (linear HDR RGB in). ``by_size``:
    small frames (short side below ``FULL_RES_BELOW``) down to full resolution; off: the preset as it is."""
    import cv2

    g0, g1 = display_gray([np.nan_to_num(source, nan=0.0, posinf=0.0, neginf=0.0),
                           np.nan_to_num(target, nan=0.0, posinf=0.0, neginf=0.0)])
    dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{DIS_PRESET.upper()}"))
    if by_size and min(g0.shape) < FULL_RES_BELOW:
        dis.setFinestScale(0)
    h, w = g0.shape
    # DIS refuses images smaller than its patches: tiny frames are edge-padded to MIN_SIDE and cropped back
    pad = ((0, max(0, MIN_SIDE - h)), (0, max(0, MIN_SIDE - w)))
    g0, g1 = np.pad(g0, pad, mode="edge"), np.pad(g1, pad, mode="edge")
    return dis.calc(g0, g1, None)[:h, :w].astype(np.float32)


ESTIMATORS = {"optical_flow": optical_flow}


def estimate_missing(contract: ModelContract, images: dict[str, np.ndarray], model: str) -> None:
    """Fill ``images`` with every estimated input the caller left out."""
    for spec in contract.image_inputs:
        if not spec.estimate or spec.name in images:
            continue
        kind, *sources = spec.estimate
        if kind not in ESTIMATORS:
            raise ModelError(f"model {model!r}: input {spec.name!r} needs estimator {kind!r}, which this runtime "
                             f"lacks (it has {', '.join(ESTIMATORS)}); update the add-on")
        missing = [s for s in sources if s not in images]
        if missing:
            raise ModelError(f"model {model!r}: estimating {spec.name!r} needs input {', '.join(missing)}")
        images[spec.name] = ESTIMATORS[kind](*(images[s] for s in sources))
