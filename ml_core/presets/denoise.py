"""Denoise: the stills only (noisy levels + reference), no low-res or animation frames: more scenes per CPU hour.
It renders the train split's seeds after the default folder's (``--start``) into its own folder."""
from __future__ import annotations

from ..render import PRESETS, RenderConfig

PRESETS.add("denoise", RenderConfig(lowres_scales=(), frames=1))
# The classic generator's scenes at 256 px with Noise2Noise targets (a 32-spp render of its own seed; the loss
# must be minimised by the target's mean: ``display_mse_linear``). The same test seeds rendered at 256 px instead
# of 128 lose 0.5 dB more to Blender's OIDN (docs/benchmarks.md, "The margin shrinks with the render's size"):
# the network had only seen 128-px renders, where every feature is half as many pixels wide.
PRESETS.add("denoise_n2n_256", RenderConfig(
    width=256, height=256, noisy_spp=(1, 4, 16), target_spp=32, target_adaptive_threshold=0.0,
    lowres_scales=(), frames=1))
