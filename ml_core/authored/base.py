"""The authored scene registry: each scene module registers its builders here by name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..registry import Registry

#: The families the set covers (a scene may list several: the mixed ones).
FAMILIES = {
    "interior_lamp": "closed interior lit by one small lamp, most light indirect",
    "interior_sun": "interior lit through a window by the sun and sky",
    "studio": "product shot: sweep backdrop, area lights, glossy floor",
    "outdoor": "sun and sky, long hard shadows, a horizon",
    "caustics": "glass casting caustics on a diffuse floor",
    "liquid": "a liquid in a glass",
    "dof": "strong depth of field",
    "subsurface": "subsurface scattering, skin-like",
    "hair": "hair and fur (hair curves)",
    "thin": "thin wires and a fence",
    "foliage": "alpha-mapped foliage cards",
    "volume": "participating media: fog with light shafts, smoke",
    "emitters": "many small emitters and neon tubes",
    "texture": "fine procedural textures with bump at grazing angles",
}


@dataclass(frozen=True)
class AuthoredScene:
    """One hand-built scene: ``build()`` fills the freshly reset current scene (lights, objects, camera)."""

    name: str
    families: tuple[str, ...]
    description: str
    build: Callable[[], None]
    #: 1: a still; N > 1: an animation of frames 1..N (camera and/or object motion)
    frames: int = 1
    #: the frame the stills (noisy_spp*, reference) show
    still_frame: int = 1
    #: Cycles settings this scene needs beyond the set's integrator (e.g. more transparent bounces for cards)
    cycles: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The scene's family: its one family, or ``mixed`` when it combines several."""
        return self.families[0] if len(self.families) == 1 else "mixed"

    @property
    def animated(self) -> bool:
        return self.frames > 1


SCENES: Registry[AuthoredScene] = Registry("authored scene")


def ordered() -> list[AuthoredScene]:
    """Every scene in the set's reading order: stills by family (mixed last), then the animations."""
    order = list(FAMILIES) + ["mixed"]
    return sorted((SCENES.get(n) for n in SCENES), key=lambda e: (e.animated, order.index(e.family), e.name))


def scene(name: str, families, description: str, frames: int = 1, still_frame: int | None = None,
          cycles: dict | None = None):
    """Decorator: register a builder function as an authored scene."""
    families = (families,) if isinstance(families, str) else tuple(families)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"authored scene {name!r}: unknown families {unknown}")

    def decorate(fn):
        SCENES.add(name, AuthoredScene(name, families, description, fn, frames,
                                       still_frame or (frames + 1) // 2, dict(cycles or {})))
        return fn
    return decorate
