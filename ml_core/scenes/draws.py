"""Seeded random draws that the layout (``spec``) and the natural palette (``palette``) share.

Every draw takes the caller's ``random.Random``; the order of calls is what makes a seed's scene, so these
functions must keep drawing exactly as they do (``tests/ml_core/test_scenes.py`` pins spec digests).
"""
from __future__ import annotations

import colorsys
import math
import random


def _srgb_to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _color(rng: random.Random, sat=(0.0, 1.0), val=(0.05, 0.95)) -> list[float]:
    """A random colour, drawn in HSV (display-referred), returned as linear Rec.709 RGB."""
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return [round(_srgb_to_linear(x), 5) for x in (r, g, b)]


def _loguniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _weighted(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def _vec(rng: random.Random, lo: float, hi: float, n: int = 3) -> list[float]:
    return [round(rng.uniform(lo, hi), 4) for _ in range(n)]
