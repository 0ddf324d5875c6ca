"""Denoise: the stills only (noisy levels + reference), no low-res or animation frames: more scenes per CPU hour.
It renders the train split's seeds after the default folder's (``--start``) into its own folder."""
from __future__ import annotations

from ..render import PRESETS, RenderConfig

PRESETS.add("denoise", RenderConfig(lowres_scales=(), frames=1))
