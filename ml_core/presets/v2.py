"""Scene engine v2: the denoise stills of scenes drawn from every scene family (``ml_core.scenes.families``:
interiors, studio, outdoor, glass, depth of field, skin, hair, thin geometry, volumes, neon, grazing textures,
motion, classic), 256x256, with clean guides (the target's Denoising Albedo / Normal at target samples).

``v2``: noisy 1, 2, 4, 8, 16 spp (each its own sampling seed) + the target; ``v2_tiny``: the same at 48 px and a
few samples, for tests. Build: ``python -m ml_core.data build --preset v2 --split train --count N --out
~/.cache/postpass/data_v2``.

Choices, measured on the 2-core CPU (one 256 px scene per family; README "Training data"):

* target: 512 spp, adaptive threshold 0.01 (min 32 samples). Easy families (glass, outdoor, DOF) stop early;
  interiors, smoke and hair use the 512 and still cost ~100-150 s a scene, which is why the cap is not higher.
  Path guiding (CPU) was tried on an interior: +62 % time for -12 % variance, so it is off.
* bounces: max 12, diffuse 4, glossy 4, transmission 12: the mean of an interior, a glass and a hair scene is
  within 0.3-0.8 % of a 32-bounce render (diffuse 16, glossy 16). Volume 2: thin fog (<= 0.1 / m, the family's
  range) within 1.5 % of 8 volume bounces (1 bounce: ~20 % darker on thick fog). Transparent 16 for stacked
  foliage cards.
* persistent data: Cycles keeps the synced scene between a scene's six renders (same pixels, ~3 s less per
  render on hair scenes).
"""
from __future__ import annotations

from ..render import PRESETS, RenderConfig
from ..scenes.families import DEFAULT_WEIGHTS

#: the family weights of the v2 presets (the families' defaults; see ml_core/scenes/families/__init__.py)
V2_FAMILIES = tuple(sorted(DEFAULT_WEIGHTS.items()))

PRESETS.add("v2", RenderConfig(
    width=256, height=256, noisy_spp=(1, 2, 4, 8, 16), target_spp=512, target_adaptive_threshold=0.01,
    lowres_scales=(), frames=1, families=V2_FAMILIES,
    max_bounces=12, diffuse_bounces=4, glossy_bounces=4, transmission_bounces=12, volume_bounces=2,
    transparent_bounces=16, persistent_data=True))
# Noise2Noise pairs (issue 30's budget): the same scenes, the target a 32-spp render with its own seed, whose noise
# is independent of the inputs'; with a loss minimised by the target's mean (``display_mse_linear``) such targets
# trained the denoiser as 128-spp references did (docs/benchmarks.md, "Noisy targets cost nothing measurable"), at
# about a tenth of a v2 scene's cost: ~4x the scenes per CPU hour for a run that can use them.
PRESETS.add("v2_n2n", RenderConfig(
    width=256, height=256, noisy_spp=(1, 4, 16), target_spp=32, target_adaptive_threshold=0.0,
    lowres_scales=(), frames=1, families=V2_FAMILIES,
    max_bounces=12, diffuse_bounces=4, glossy_bounces=4, transmission_bounces=12, volume_bounces=2,
    transparent_bounces=16, persistent_data=True))
PRESETS.add("v2_tiny", RenderConfig(
    width=48, height=48, noisy_spp=(1, 4), target_spp=16, target_adaptive_threshold=0.0,
    lowres_scales=(), frames=1, families=V2_FAMILIES,
    max_bounces=6, diffuse_bounces=2, glossy_bounces=2, transmission_bounces=6, volume_bounces=1,
    transparent_bounces=8, persistent_data=True))
