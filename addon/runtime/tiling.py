"""Cutting an image into overlapping tiles and blending the results so the seams cannot be seen or measured.

Along each axis the (padded) canvas is split into *cores*; a tile is its core plus a *margin* of context on
both sides (clipped at the canvas edge, where the network sees the same border it sees untiled). Neighbouring
results are cross-faded with a smoothstep ramp of half-width :data:`BLEND` centred on the core boundary; the
two ramps sum to exactly one. The margin is the model's receptive-field overlap plus :data:`BLEND`, so every
pixel that gets any weight saw all the context it needs, and the tiled result equals the untiled one up to
float rounding. Cores and margins are multiples of the model's pad multiple, so its downsampling grid lines up
in every tile as it does in the whole image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Half-width in input pixels of the cross-fade between neighbouring tiles.
BLEND = 8


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in input-grid pixels of the padded canvas: core [core0, core1), window [win0, win1)."""

    core0: int
    core1: int
    win0: int
    win1: int


def plan_axis(length: int, tile: int, overlap: int, multiple: int) -> list[Span]:
    """Tiles covering ``length`` (a multiple of ``multiple``) with cores of about ``tile`` pixels."""
    core = round_up(max(tile, 2 * BLEND, 1), multiple)
    margin = round_up(overlap + BLEND, multiple)
    spans = []
    for core0 in range(0, length, core):
        core1 = min(core0 + core, length)
        spans.append(Span(core0, core1, max(0, core0 - margin), min(length, core1 + margin)))
    return spans


def blend_weights(span: Span, length: int, scale: int) -> np.ndarray:
    """Weights over the span's window in output pixels (``scale`` per input pixel); they sum to one across tiles."""
    pos = np.arange(span.win0 * scale, span.win1 * scale, dtype=np.float64) + 0.5
    weight = np.ones_like(pos)
    if span.core0 > 0:
        weight *= _smoothstep((pos - (span.core0 - BLEND) * scale) / (2 * BLEND * scale))
    if span.core1 < length:
        weight *= 1.0 - _smoothstep((pos - (span.core1 - BLEND) * scale) / (2 * BLEND * scale))
    return weight.astype(np.float32)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)  # s(u) + s(1 - u) == 1: neighbouring ramps sum to one
