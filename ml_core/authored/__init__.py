"""The authored evaluation set: scenes built by hand in code, apart from the procedural generator.

**Never used for training or model selection.** The networks train on ``ml_core.scenes`` (seeded procedural
scenes) and pick checkpoints on its validation split; these scenes only measure how well that generalises to
scenes people build by hand: closed rooms lit indirectly, sun through a window, studio shots, sun and sky to the
horizon, caustics, liquids, depth of field, subsurface skin, fur, thin wires, alpha-cut foliage, fog and smoke,
neon, fine bump at grazing angles, and mixtures of them; some are 5-frame animations for the temporal and
inbetween benchmarks.

The set cannot be loaded through ``ml_core.datasets`` by accident: its cache has one folder per scene *name*
(``OUT/<name>/``, no split folders, no seed names), its clean image is ``reference.exr`` (the datasets read
``target.exr``), and no scene name is a split name (checked at registration).

    python -m ml_core.authored list
    python -m ml_core.authored build --out ~/.cache/postpass/authored [--size 256] [--reference-spp 1024]
                                     [--only NAME ...] [--threads N]

Modules: ``base`` (the registry :data:`SCENES` and the ``@scene`` decorator), ``kit`` (bpy helpers: materials,
shapes, lights, sky, camera, keyframes), ``scenes/`` (one module per group of scenes, each registering its own;
every module there is imported, so a new scene is a new function or file), ``build`` (render a scene into its
folder: resumable, atomic files, manifest last), ``__main__`` (the command).
"""
from __future__ import annotations

from ..registry import import_submodules
from ..splits import SPLITS
from .base import FAMILIES, SCENES, AuthoredScene, ordered, scene

import_submodules(f"{__name__}.scenes")

_clash = [name for name in SCENES if name in SPLITS]
if _clash:  # a scene folder named like a split could be read as one by ml_core.datasets
    raise ValueError(f"authored scene names clash with dataset split names: {_clash}")

__all__ = ["FAMILIES", "SCENES", "AuthoredScene", "ordered", "scene"]
