"""Cutting an image into overlapping tiles and blending the results so the seams cannot be seen or measured.

Along each axis the (padded) canvas is split into *cores*; a tile is its core plus a *margin* of context on
both sides (clipped at the canvas edge, where the network sees the same border it sees untiled). Neighbouring
results are cross-faded with a smoothstep ramp of half-width :data:`BLEND` centred on the core boundary; the
two ramps sum to exactly one. The margin is the model's receptive-field overlap plus :data:`BLEND`, so every
pixel that gets any weight saw all the context it needs, and the tiled result equals the untiled one up to
float rounding. Cores and margins are multiples of the model's pad multiple, so its downsampling grid lines up
in every tile as it does in the whole image.

How big the tiles are (:func:`plan_grid`): the requested tile core sets the memory a tile may use, at most
:data:`TILE_GROWTH` times the pixels of a square window of that core plus the model's margins; within that
budget the grid (tiles per axis, cores balanced along each axis, rows and columns sized apart) is the one that
runs the fewest window pixels in all, so a model with a wide margin (a large receptive field, or the motion
margin of a warping model) gets fewer, larger tiles instead of recomputing the margins many times over.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Half-width in input pixels of the cross-fade between neighbouring tiles.
BLEND = 8
#: A tile's window may hold this many times the pixels of a square tile of the requested core plus margins.
TILE_GROWTH = 2.0
#: What one more tile costs besides its pixels (a session call, the tile copies), in window pixels.
TILE_COST_PIXELS = 64 * 64


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
    return _axis_spans(length, round_up(max(tile, 2 * BLEND, 1), multiple), round_up(overlap + BLEND, multiple))


def _axis_spans(length: int, core: int, margin: int) -> list[Span]:
    return [Span(core0, min(core0 + core, length), max(0, core0 - margin), min(length, core0 + core + margin))
            for core0 in range(0, length, core)]


def plan_grid(height: int, width: int, tile: int, overlap: int, multiple: int,
              growth: float = TILE_GROWTH) -> tuple[list[Span], list[Span]]:
    """(rows, columns) of tiles covering a ``height`` x ``width`` canvas (multiples of ``multiple``): the grid
    with the fewest window pixels in all (plus :data:`TILE_COST_PIXELS` per tile) whose largest window holds at
    most ``growth`` times the pixels of a square window of core ``tile`` (``growth=1``: at most its memory)."""
    core = round_up(max(tile, 2 * BLEND, 1), multiple)
    margin = round_up(overlap + BLEND, multiple)
    budget = growth * (core + 2 * margin) ** 2

    def candidates(length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cores, sums of window lengths, largest windows) of each distinct split into 1 .. the square plan's
        count of tiles, cores balanced (the last one no longer than the others) and multiples of ``multiple``."""
        cores = np.unique([round_up(max(-(-length // n), 2 * BLEND), multiple)
                           for n in range(1, -(-length // core) + 1)])
        sums, widest = [], []
        for c in cores:
            starts = np.arange(0, length, c)
            windows = np.minimum(length, starts + c + margin) - np.maximum(0, starts - margin)
            sums.append(windows.sum())
            widest.append(windows.max())
        return cores, np.array(sums, np.float64), np.array(widest, np.float64)

    (core_y, sum_y, max_y), (core_x, sum_x, max_x) = candidates(height), candidates(width)
    count_y, count_x = -(-height // core_y), -(-width // core_x)
    cost = np.outer(sum_y, sum_x) + TILE_COST_PIXELS * np.outer(count_y, count_x)
    cost[np.outer(max_y, max_x) > budget] = np.inf
    if not np.isfinite(cost).any():  # growth < 1: no grid fits; the square plan is the smallest there is
        return plan_axis(height, tile, overlap, multiple), plan_axis(width, tile, overlap, multiple)
    iy, ix = np.unravel_index(int(np.argmin(cost)), cost.shape)  # with growth >= 1 the square plan's count fits
    return _axis_spans(height, int(core_y[iy]), margin), _axis_spans(width, int(core_x[ix]), margin)


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
