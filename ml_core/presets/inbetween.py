"""Inbetweening at t other than 1/2: longer animations only (4 or 5 frames: t = 1/3, 2/3 or 1/4, 1/2, 3/4), the
first-to-last motion that of the default's 3 frames (``motion_span``); splits ``anim_*``."""
from __future__ import annotations

from ..render import PRESETS, RenderConfig

PRESETS.add("anim4", RenderConfig(frames=4, stills=False, motion_span=2))
PRESETS.add("anim5", RenderConfig(frames=5, stills=False, motion_span=2))
