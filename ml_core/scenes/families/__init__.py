"""Scene families: kinds of shot a studio renders, each its own generator of plain-JSON specs (bpy-free).

The first generator (``classic``: objects scattered on a ground plane under a gradient sky) taught the networks
that generator, not rendering: on hand-built scenes they lost most of their margin. Each family here draws
one kind of shot from its seed, in the spec vocabulary ``ml_core.scenes.build`` turns into a Blender scene:

=========== =============================================================================================
classic     the original generator, unchanged (``make_spec(seed)`` without families is exactly it)
interior    a closed room (floor, walls, ceiling as real geometry) with furniture-like boxes, lit by small
            lamps and/or through windows (sun + sky, window portals): most light indirect
studio      a product shot: a sweep backdrop, 1-3 area lights (key, fill, rim), glossy floor or sweep
outdoor     sun and sky (Blender's Sky Texture or a gradient) over a ground plane to the horizon; low sun,
            long hard shadows; buildings, poles, trees, rocks
glass       glasses (some with a liquid), bottles, spheres on a diffuse floor lit by one small light: caustics
dof         strong depth of field: a wide aperture, focus on a near (or far) object, bokeh lights behind
skin        subsurface skin-like materials (reddish scattering radius): heads, blobs, fingers; wax, jade
hair        Blender hair curves: fur balls, long hair, grass patches (Principled Hair BSDF)
thin        thin geometry: wires and cables, chain-link fences (alpha grid) and pickets, foliage cards
            (alpha-masked leaves)
volume      fog (a homogeneous box around the scene, light shafts) and smoke (noise-textured density)
neon        many small emitters: neon tubes, emission strips, strings of tiny point lights, wet floor
grazing     fine procedural textures with bump on a long floor or wall, the camera low, seen at grazing angles
motion      large camera and object motion with foreground occluders crossing the view
=========== =============================================================================================

Every family supports the animation frames a preset asks for: objects and the camera carry the classic
``motion`` dicts (a straight line and a steady turn per frame step), scaled by ``motion_scale``.

**Weights**: ``make_spec(seed, families=...)`` takes a family name, or a dict family -> weight (the v2 render
preset's ``RenderConfig.families``); the family is drawn from ``random.Random(f"postpass-family-{seed}")`` and
the scene from ``random.Random(f"postpass-<family>-{seed}")``, so changing the weights changes which family a
seed draws, never what a family draws for it. :data:`DEFAULT_WEIGHTS` (each family's ``weight`` below; they
sum to 1): interiors the most (the worst failure so far), classic kept for continuity.

A new family is a new module here: ``@family("name", weight=..., variants=(...))`` on ``make(ctx) -> spec``.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Mapping

from ...registry import Registry, import_submodules
from ..meshes import SceneError

#: the spec format of family scenes (classic scenes keep ``spec.SPEC_VERSION``)
FAMILY_SPEC_VERSION = 2


@dataclass(frozen=True)
class Context:
    """What a family's ``make`` gets: its own seeded generator and the scene's options."""
    seed: int
    rng: random.Random
    meshes: tuple[str, ...]
    frames: int
    palette: str = "random"
    motion_scale: float = 1.0


@dataclass(frozen=True)
class Family:
    name: str
    make: Callable[[Context], dict]
    weight: float  # default draw weight (DEFAULT_WEIGHTS)
    variants: tuple[str, ...] = ()
    doc: str = ""


FAMILIES: Registry[Family] = Registry("scene family")


def family(name: str, weight: float, variants: tuple[str, ...] = ()):
    """Register ``make(ctx) -> spec`` as the family ``name`` with its default ``weight``."""
    def decorate(make):
        FAMILIES.add(name, Family(name, make, weight, tuple(variants), (make.__doc__ or "").strip()))
        return make
    return decorate


def default_weights() -> dict[str, float]:
    """Family -> default weight, every registered family."""
    return {name: f.weight for name, f in sorted(FAMILIES.items())}


def _check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    weights = dict(weights)
    for name, w in weights.items():
        FAMILIES.get(name)  # unknown names raise, naming the choices
        if not (isinstance(w, (int, float)) and w >= 0 and math.isfinite(w)):
            raise SceneError(f"family weight of {name!r} must be a finite number >= 0, got {w!r}")
    if not weights or sum(weights.values()) <= 0:
        raise SceneError("family weights must include one weight > 0")
    return weights


def draw_family(seed: int, weights: Mapping[str, float] | str) -> str:
    """The family of ``seed`` under ``weights`` (a name: that family). Order of the mapping does not matter."""
    if isinstance(weights, str):
        FAMILIES.get(weights)
        return weights
    weights = _check_weights(weights)
    names = sorted(n for n, w in weights.items() if w > 0)
    u = random.Random(f"postpass-family-{seed}").random() * sum(weights[n] for n in names)
    for name in names:
        u -= weights[name]
        if u < 0:
            return name
    return names[-1]


def scale_motion(spec: dict, scale: float) -> None:
    """Scale every per-frame-step motion in ``spec`` (objects, camera), as classic ``make_spec`` does."""
    if scale == 1.0:
        return
    spec["motion_scale"] = scale
    motions = [o.get("motion") for o in spec["objects"]] + [spec["camera"].get("motion")]
    for motion in motions:
        for key, values in (motion or {}).items():
            motion[key] = [round(v * scale, 6) for v in values]


def make_family_spec(seed: int, families: Mapping[str, float] | str, meshes=None, frames: int = 3,
                     motion_scale: float = 1.0, palette: str = "random") -> dict:
    """The spec of ``seed`` drawn from ``families`` (see :func:`ml_core.scenes.make_spec`)."""
    name = draw_family(seed, families)
    if palette != "random" and name != "classic":
        raise SceneError(f"palette {palette!r} exists for the classic family only, not {name!r}")
    ctx = Context(seed=seed, rng=random.Random(f"postpass-{name}-{seed}"), meshes=tuple(meshes or ()),
                  frames=frames, palette=palette, motion_scale=motion_scale)
    spec = FAMILIES.get(name).make(ctx)
    spec["family"] = name
    if "motion_scale" not in spec:  # classic scales its own motion (before its palette draws)
        scale_motion(spec, motion_scale)
    return spec


import_submodules(__name__)  # noqa: E305  (each family module registers itself)
DEFAULT_WEIGHTS: dict[str, float] = default_weights()
