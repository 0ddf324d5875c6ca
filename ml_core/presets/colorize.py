"""Colorize: natural-palette stills, the target only (64 spp + OIDN: clean colour, not a reference); splits
``palette_*``."""
from __future__ import annotations

from ..render import PRESETS, RenderConfig

PRESETS.add("palette", RenderConfig(noisy_spp=(), target_spp=64, target_adaptive_threshold=0.0, target_oidn=True,
                                    lowres_scales=(), frames=1, palette="natural"))
