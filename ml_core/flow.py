"""Blender's Vector pass as optical flow, and the plain warps built on it.

The Vector pass is in pixels with y pointing up: ``XY = pos(prev) - pos(cur)``, ``ZW = pos(cur) - pos(next)``.
In image coordinates (x right, y down, rows top-down, as our arrays are) that gives the forward flow
cur -> next ``(-Z, +W)`` and the backward flow cur -> prev ``(X, -Y)``.
"""
from __future__ import annotations

import numpy as np

from addon.runtime import motion


def forward_flow(vector: np.ndarray) -> np.ndarray:
    """H x W x 2 flow (dx, dy) in image coordinates from each pixel of this frame to the next frame."""
    return motion.flow_to(vector, "next")


def backward_flow(vector: np.ndarray) -> np.ndarray:
    """H x W x 2 flow (dx, dy) in image coordinates from each pixel of this frame to the previous frame."""
    return motion.flow_to(vector, "prev")


def sample(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``out(p) = image(p + flow(p))``, bilinear, edges clamped."""
    return motion.sample(image, flow, outside="edge")


def warp_along(image: np.ndarray, flow: np.ndarray, t: float = 1.0) -> np.ndarray:
    """Move ``image`` a fraction ``t`` along its own forward ``flow`` (``flow`` given at the source pixels).

    Backward warping with the flow taken at the destination pixel, the classic approximation when only the
    source frame's motion is known: exact for locally uniform motion, wrong at motion edges and
    disocclusions (what the inbetween network learns to fix).
    """
    return sample(image, -t * flow)


def vector_blend(frame0: np.ndarray, vector0: np.ndarray, frame1: np.ndarray, vector1: np.ndarray,
                 t: float = 0.5, steps: int = 2) -> np.ndarray:
    """The plain vector-pass baseline for the frame at ``t`` between two frames ``steps`` frames apart.

    Blender's vectors span one frame step, so under linear motion the way from frame0 to time ``t`` is
    ``t * steps`` of frame0's forward vector, and from frame1 back to it ``(1 - t) * steps`` of frame1's
    backward vector. Both warps are blended by closeness in time.
    """
    ahead = warp_along(frame0, forward_flow(vector0), t * steps)
    behind = warp_along(frame1, backward_flow(vector1), (1.0 - t) * steps)
    return (1.0 - t) * ahead + t * behind
