"""classic: the original generator (2-8 objects scattered on a ground plane under a gradient or plain sky, 1-3
lights, random materials). Its spec is exactly ``make_spec(seed)``'s plus ``family``: the existing datasets' scenes."""
from __future__ import annotations

from ..spec import _classic_spec
from . import family


@family("classic", weight=0.08)
def make(ctx) -> dict:
    """The original scatter of shapes on a ground plane (kept for continuity with the existing datasets)."""
    return _classic_spec(ctx.seed, list(ctx.meshes), ctx.frames, ctx.motion_scale, ctx.palette)
