"""Temporal denoising (issue 26): animated sequences of scenes drawn from every v2 family, each frame rendered
noisy at 1, 4 and 16 spp with its own sampling seed (as an animation render is: the noise changes every frame)
and a reference per frame, with the Vector pass. No stills: a sequence folder holds ``seq_0001_spp0004.exr`` ...
``seq_0005_target.exr`` (``ml_core.render.sequence_name``).

``temporal``: 5 frames, 128x128 (context enough for a 64 px crop around motion; a 256 px sequence would be four
times the CPU for one scene's variety), the motion from frame 1 to 5 that of two of the inbetween data's steps
(``motion_span``), references at 128 spp with adaptive threshold 0.01: a 5-frame scene costs ~1-4 minutes on one
core (256 spp took 48 s on a grazing scene, 218 s on a motion one: variety was worth more than the last 3 dB of
reference noise, which is independent of the inputs' and averages out in training, Noise2Noise). v2's bounce
limits. ``temporal_tiny``: 3 frames at 32 px for tests. Build: ``python -m ml_core.data build --preset temporal
--split train --count N --out ~/.cache/postpass/data_temporal``.
"""
from __future__ import annotations

from ..render import PRESETS, RenderConfig
from .v2 import V2_FAMILIES

PRESETS.add("temporal", RenderConfig(
    width=128, height=128, noisy_spp=(), target_spp=128, target_adaptive_threshold=0.01, lowres_scales=(),
    frames=5, stills=False, motion_span=2, sequence_spp=(1, 4, 16), families=V2_FAMILIES,
    max_bounces=12, diffuse_bounces=4, glossy_bounces=4, transmission_bounces=12, volume_bounces=2,
    transparent_bounces=16, persistent_data=True))
PRESETS.add("temporal_tiny", RenderConfig(
    width=32, height=32, noisy_spp=(), target_spp=16, target_adaptive_threshold=0.0, lowres_scales=(),
    frames=3, stills=False, motion_span=2, sequence_spp=(4,), families=V2_FAMILIES,
    max_bounces=6, diffuse_bounces=2, glossy_bounces=2, transmission_bounces=6, volume_bounces=1,
    transparent_bounces=8, persistent_data=True))

# Guide-pass inbetweening (issue 28): the same sequences with the motion of production shots. The ``temporal``
# preset's motion (mean 0.9 px a frame at 128 px, 95th percentile 2.4) is a sixth of the authored animations'
# (4-7 px, 95th percentile 15-27 px at 160 px): a model choosing between a key frame as it is and its shading
# moved onto the made frame's albedo learned on it to trust the key as it is, which fails where things move and
# turn. 12 drawn steps from frame 1 to 5 (6x); 4 and 16 spp renders give the guide passes.
PRESETS.add("guided", RenderConfig(
    width=128, height=128, noisy_spp=(), target_spp=128, target_adaptive_threshold=0.01, lowres_scales=(),
    frames=5, stills=False, motion_span=12, sequence_spp=(4, 16), families=V2_FAMILIES,
    max_bounces=12, diffuse_bounces=4, glossy_bounces=4, transmission_bounces=12, volume_bounces=2,
    transparent_bounces=16, persistent_data=True))
