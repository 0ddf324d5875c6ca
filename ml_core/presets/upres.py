"""Up-res of linear HDR renders without guides (issue 25): v2's scenes with their real low-resolution renders.

``v2_upres``: the ``v2`` scenes (same seeds, so the same scenes and the same ``target.exr`` and noisy renders), the
noisy renders at 4 and 16 spp only (their Denoising Albedo / Normal are what a cheap full-size guide render gives
the guided up-res models: ``addon.guide_render`` leaves those passes as a full render's), plus the same camera
rendered at 1/2 and 1/4 size at the target's samples (``lowres_x2.exr``, ``lowres_x4.exr``): a
half-size render is filtered by Cycles' pixel filter over twice the scene area per pixel, which no bicubic or
area downscale of the target reproduces (the deployment case: a farm renders a quarter of the pixels).
Build: ``python -m ml_core.data build --preset v2_upres --split train --count N --out
~/.cache/postpass/data_upres``. ``v2_upres_tiny``: the same at 48 px for tests.
"""
from __future__ import annotations

from dataclasses import replace

from ..render import PRESETS
from . import v2  # noqa: F401  (registers v2 first: the modules load in name order)

PRESETS.add("v2_upres", replace(PRESETS.get("v2"), noisy_spp=(4, 16), lowres_scales=(2, 4)))
PRESETS.add("v2_upres_tiny", replace(PRESETS.get("v2_tiny"), noisy_spp=(4,), lowres_scales=(2, 4)))
