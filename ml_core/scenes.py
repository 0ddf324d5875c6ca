"""Procedural scenes: a seed gives one deterministic scene.

Two steps, so the randomness is testable without Blender:
``make_spec(seed)`` draws a plain JSON-able description (shapes, materials, lights, camera, motion) from
``random.Random(seed)``; ``build_scene(spec)`` turns it into a Blender scene. The spec is saved next to the
renders, so every image in a dataset can be traced to the exact scene that made it.

What varies, and why: the four networks must meet whatever users render, so shapes mix Blender primitives,
trimesh-made shapes and real meshes from a folder; materials cover diffuse, glossy, metal, glass, emissive and
subsurface with procedural textures from coarse to fine; lights include tiny bright ones (fireflies); cameras
vary focal length and depth of field; objects and the camera move between frames (with occlusion), so the
renders carry real motion vectors.
"""
from __future__ import annotations

import colorsys
import math
import random
from pathlib import Path

SPEC_VERSION = 1
MESH_SUFFIXES = (".obj", ".ply", ".glb", ".gltf", ".stl", ".off")
PRIMITIVES = ("cube", "uv_sphere", "ico_sphere", "cylinder", "cone", "torus", "monkey")
TRIMESH_SHAPES = ("blob", "hull", "capsule", "annulus", "torus", "cone")
TEXTURES = ("noise", "voronoi", "checker", "wave", "magic", "brick")
MATERIAL_KINDS = {  # kind -> draw weight
    "diffuse": 0.28, "glossy": 0.2, "metal": 0.15, "glass": 0.12, "emissive": 0.08, "subsurface": 0.1, "coat": 0.07,
}


class SceneError(ValueError):
    """A scene cannot be made (e.g. an unreadable mesh file); the message names the file and the problem."""


# ----------------------------------------------------------------------------------------------------------
# Mesh files
# ----------------------------------------------------------------------------------------------------------
class MeshLibrary:
    """Meshes from a folder (OBJ/PLY/GLB/...), loaded with trimesh, centred and scaled to a unit box."""

    def __init__(self, folder: Path | str | None):
        self.folder = Path(folder) if folder else None
        if self.folder is not None and not self.folder.is_dir():
            raise SceneError(f"{self.folder}: mesh folder does not exist")
        self.names = sorted(p.name for p in self.folder.iterdir()
                            if p.suffix.lower() in MESH_SUFFIXES) if self.folder else []
        self._cache: dict[str, tuple] = {}

    def load(self, name: str):
        """(vertices Nx3, faces Mx3) of a mesh file, normalised to fit a unit cube centred on the origin."""
        if name not in self._cache:
            import numpy as np
            import trimesh

            path = (self.folder / name) if self.folder else Path(name)
            try:
                mesh = trimesh.load(path, force="mesh", process=True)
                verts = np.asarray(mesh.vertices, dtype=np.float64)
                faces = np.asarray(mesh.faces, dtype=np.int64)
            except Exception as exc:  # trimesh raises many kinds; all mean "unreadable"
                raise SceneError(f"{path}: cannot read mesh ({type(exc).__name__}: {exc})".splitlines()[0]) from None
            if len(faces) == 0 or not np.isfinite(verts).all():
                raise SceneError(f"{path}: mesh has no faces or non-finite vertices")
            lo, hi = verts.min(0), verts.max(0)
            verts = (verts - (lo + hi) / 2) / max(float((hi - lo).max()), 1e-9)
            self._cache[name] = (verts, faces)
        return self._cache[name]

    def validate(self) -> None:
        """Load every mesh once, so a bad file fails before hours of rendering, not in the middle."""
        for name in self.names:
            self.load(name)

    def fingerprint(self) -> str:
        import hashlib

        h = hashlib.sha256()
        for name in self.names:
            h.update(name.encode())
            h.update((self.folder / name).read_bytes())
        return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------------------
# Spec: seed -> plain data
# ----------------------------------------------------------------------------------------------------------
def _srgb_to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _color(rng: random.Random, sat=(0.0, 1.0), val=(0.05, 0.95)) -> list[float]:
    """A random colour, drawn in HSV (display-referred), returned as linear Rec.709 RGB."""
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return [round(_srgb_to_linear(x), 5) for x in (r, g, b)]


def _loguniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _weighted(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def _texture(rng: random.Random) -> dict:
    # Scales from coarse (a few blotches per object) to fine (near-pixel detail): the up-res and denoise
    # networks must learn to keep texture, not just smooth it away.
    return {"type": rng.choice(TEXTURES), "scale": round(_loguniform(rng, 0.8, 80.0), 4),
            "color": _color(rng), "detail": round(rng.uniform(0.0, 8.0), 3),
            "distortion": round(rng.uniform(0.0, 4.0), 3)}


def _material(rng: random.Random) -> dict:
    kind = _weighted(rng, MATERIAL_KINDS)
    mat = {"kind": kind, "color": _color(rng), "roughness": round(rng.uniform(0.25, 1.0), 4),
           "metallic": 0.0, "ior": 1.5, "transmission": 0.0, "subsurface": 0.0, "coat": 0.0,
           "emission": 0.0, "texture": None, "bump": 0.0}
    if kind == "glossy":
        mat["roughness"] = round(_loguniform(rng, 0.02, 0.4), 4)
    elif kind == "metal":
        mat.update(metallic=1.0, roughness=round(_loguniform(rng, 0.01, 0.6), 4), color=_color(rng, val=(0.5, 1.0)))
    elif kind == "glass":
        mat.update(transmission=1.0, roughness=round(rng.choice([0.0, 0.0, _loguniform(rng, 0.01, 0.3)]), 4),
                   ior=round(rng.uniform(1.3, 1.8), 3), color=_color(rng, sat=(0.0, 0.4), val=(0.8, 1.0)))
    elif kind == "emissive":
        mat.update(emission=round(_loguniform(rng, 2.0, 40.0), 3), color=_color(rng, sat=(0.0, 0.8), val=(0.7, 1.0)))
    elif kind == "subsurface":
        mat.update(subsurface=1.0, roughness=round(rng.uniform(0.2, 0.7), 4))
    elif kind == "coat":
        mat.update(coat=1.0, roughness=round(rng.uniform(0.3, 1.0), 4))
    if kind not in ("glass", "emissive") and rng.random() < 0.55:
        mat["texture"] = _texture(rng)
        if rng.random() < 0.35:
            mat["bump"] = round(rng.uniform(0.05, 0.6), 3)
    return mat


def _shape(rng: random.Random, meshes: list[str]) -> dict:
    source = rng.choices(["primitive", "trimesh", "file"], weights=[0.4, 0.35, 0.25 if meshes else 0.0])[0]
    if source == "primitive":
        return {"source": "primitive", "name": rng.choice(PRIMITIVES), "smooth": rng.random() < 0.6}
    if source == "file":
        return {"source": "file", "name": rng.choice(meshes), "smooth": True}
    name = rng.choice(TRIMESH_SHAPES)
    return {"source": "trimesh", "name": name, "seed": rng.randrange(2**31), "smooth": name != "hull"}


def _vec(rng: random.Random, lo: float, hi: float, n: int = 3) -> list[float]:
    return [round(rng.uniform(lo, hi), 4) for _ in range(n)]


def _motion(rng: random.Random, prob: float, max_move: float, max_turn_deg: float) -> dict | None:
    """Motion per frame step: a straight line and a steady turn (linear keys make it exact)."""
    if rng.random() >= prob:
        return None
    direction = rng.uniform(0, 2 * math.pi)
    speed = _loguniform(rng, 0.02, max_move)
    return {"move": [round(speed * math.cos(direction), 4), round(speed * math.sin(direction), 4),
                     round(rng.uniform(-0.3, 0.3) * speed, 4)],
            "turn": [round(math.radians(rng.uniform(-max_turn_deg, max_turn_deg)), 4) for _ in range(3)]}


# ----------------------------------------------------------------------------------------------------------
# The natural palette: colours that follow from what a grey image shows
# ----------------------------------------------------------------------------------------------------------
# The default palette draws every hue uniformly, so nothing in a grey render predicts its colour (right for
# the denoiser and up-res, which must keep any colour; useless for learning automatic colour). With
# ``palette="natural"`` materials come from classes whose colour goes with their look in grey: the texture
# type and scale, roughness, metal or subsurface, and their place (ground, wall, sky). Hue, saturation and
# value are jittered within each class, so it is no lookup table; a minority of plain painted/plastic objects
# keep a random hue (that is what hints are for).
PALETTES = ("random", "natural")


def _hsv(rng: random.Random, hue, sat, val) -> list[float]:
    """A colour drawn from HSV ranges (display-referred; a hue range may wrap past 1), as linear Rec.709."""
    h = rng.uniform(*hue) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, min(max(rng.uniform(*sat), 0.0), 1.0), min(max(rng.uniform(*val), 0.0), 1.0))
    return [round(_srgb_to_linear(x), 5) for x in (r, g, b)]


def _shade(rng: random.Random, color: list[float], lo: float, hi: float, sat: float = 1.0) -> list[float]:
    """``color`` (linear) darker or lighter by a random factor in [lo, hi], its saturation scaled by ``sat``:
    the second colour of a texture, a variation of the first."""
    srgb = [(x * 12.92 if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055) for x in color]
    h, s, v = colorsys.rgb_to_hsv(*srgb)
    r, g, b = colorsys.hsv_to_rgb((h + rng.uniform(-0.015, 0.015)) % 1.0, min(1.0, s * sat),
                                  min(1.0, v * rng.uniform(lo, hi)))
    return [round(_srgb_to_linear(x), 5) for x in (r, g, b)]


def _natural_tex(rng: random.Random, kind: str, color, scale, detail=(0.0, 4.0), distortion=(0.0, 1.0)) -> dict:
    return {"type": kind, "scale": round(_loguniform(rng, *scale), 4), "color": color,
            "detail": round(rng.uniform(*detail), 3), "distortion": round(rng.uniform(*distortion), 3)}


def _base(kind: str, color, roughness: float, **extra) -> dict:
    mat = {"kind": kind, "color": color, "roughness": round(roughness, 4), "metallic": 0.0, "ior": 1.5,
           "transmission": 0.0, "subsurface": 0.0, "coat": 0.0, "emission": 0.0, "texture": None, "bump": 0.0}
    mat.update(extra)
    return mat


def _natural_class(rng: random.Random, name: str, ground: bool = False) -> dict:
    """One material of class ``name``; ``ground``: sized for a 60 m ground plane or wall (coarser textures)."""
    big = 0.25 if ground else 1.0  # ground textures are laid in object space over a 60 m plane
    if name == "wood":
        color = _hsv(rng, (0.045, 0.1), (0.45, 0.8), (0.3, 0.75))
        mat = _base(rng.choice(["diffuse", "coat", "diffuse"]), color, rng.uniform(0.35, 0.85))
        mat["coat"] = 1.0 if mat["kind"] == "coat" else 0.0
        mat["texture"] = _natural_tex(rng, "wave", _shade(rng, color, 0.45, 0.75, 1.1),
                                      (1.0 * big * 2, 5.0 * big * 2), (1.0, 6.0), (2.0, 10.0))
        mat["bump"] = round(rng.uniform(0.0, 0.15), 3)
    elif name == "foliage":
        color = _hsv(rng, (0.2, 0.38), (0.45, 0.85), (0.18, 0.6))
        mat = _base(rng.choice(["diffuse", "diffuse", "subsurface"]), color, rng.uniform(0.55, 1.0))
        mat["subsurface"] = 1.0 if mat["kind"] == "subsurface" else 0.0
        second = _hsv(rng, (0.16, 0.3), (0.5, 0.9), (0.25, 0.7))
        mat["texture"] = _natural_tex(rng, "noise", second, (4.0 * big * 2, 40.0 * big * 2), (2.0, 8.0), (0.0, 2.0))
        mat["bump"] = round(rng.uniform(0.1, 0.5), 3)
    elif name == "brick":
        color = _hsv(rng, (-0.01, 0.05), (0.5, 0.8), (0.3, 0.6))
        mat = _base("diffuse", color, rng.uniform(0.7, 1.0))
        mortar = _hsv(rng, (0.05, 0.12), (0.0, 0.15), (0.6, 0.88))
        mat["texture"] = _natural_tex(rng, "brick", mortar, (2.0 * big * 2, 6.0 * big * 2))
        mat["bump"] = round(rng.uniform(0.1, 0.4), 3)
    elif name == "stone":
        color = _hsv(rng, (0.05, 0.15), (0.0, 0.12), (0.3, 0.75))
        mat = _base("diffuse", color, rng.uniform(0.7, 1.0))
        mat["texture"] = _natural_tex(rng, rng.choice(["voronoi", "noise"]), _shade(rng, color, 0.6, 1.3),
                                      (3.0 * big * 2, 30.0 * big * 2), (1.0, 8.0), (0.0, 1.5))
        mat["bump"] = round(rng.uniform(0.1, 0.6), 3)
    elif name == "grass":  # ground only: fine green noise, some yellow-brown patches
        color = _hsv(rng, (0.2, 0.33), (0.5, 0.85), (0.2, 0.55))
        mat = _base("diffuse", color, rng.uniform(0.8, 1.0))
        mat["texture"] = _natural_tex(rng, "noise", _hsv(rng, (0.14, 0.28), (0.45, 0.8), (0.25, 0.6)),
                                      (5.0, 30.0), (4.0, 10.0), (0.0, 1.0))
        mat["bump"] = round(rng.uniform(0.2, 0.6), 3)
    elif name == "sand":  # ground only: pale warm beige, faint noise
        color = _hsv(rng, (0.08, 0.13), (0.2, 0.45), (0.6, 0.88))
        mat = _base("diffuse", color, rng.uniform(0.85, 1.0))
        mat["texture"] = _natural_tex(rng, "noise", _shade(rng, color, 0.8, 0.95), (10.0, 60.0), (2.0, 8.0))
        mat["bump"] = round(rng.uniform(0.05, 0.3), 3)
    elif name == "tiles":  # ground only: a checker of two stone, terracotta or cream tones
        family = rng.choice(["grey", "terracotta", "cream"])
        hue, sat, val = {"grey": ((0.0, 1.0), (0.0, 0.06), (0.2, 0.85)), "terracotta": ((0.02, 0.07), (0.45, 0.75),
                         (0.35, 0.7)), "cream": ((0.1, 0.15), (0.1, 0.35), (0.7, 0.92))}[family]
        color = _hsv(rng, hue, sat, val)
        other = _shade(rng, color, 0.4, 0.8) if rng.random() < 0.6 else _hsv(rng, (0.0, 1.0), (0.0, 0.06), (0.2, 0.9))
        mat = _base(rng.choice(["diffuse", "glossy"]), color, rng.uniform(0.1, 0.6) if rng.random() < 0.5
                    else rng.uniform(0.5, 0.9))
        mat["texture"] = _natural_tex(rng, "checker", other, (0.5, 3.0))
    elif name == "plaster":  # walls: warm off-white
        color = _hsv(rng, (0.06, 0.16), (0.0, 0.18), (0.65, 0.92))
        mat = _base("diffuse", color, rng.uniform(0.8, 1.0))
        if rng.random() < 0.5:
            mat["texture"] = _natural_tex(rng, "noise", _shade(rng, color, 0.85, 0.97), (2.0, 20.0), (2.0, 8.0))
    elif name == "metal":
        family = rng.choices(["steel", "gold", "copper"], weights=[0.55, 0.25, 0.2])[0]
        hue, sat, val = {"steel": ((0.0, 1.0), (0.0, 0.05), (0.55, 0.95)), "gold": ((0.11, 0.14), (0.5, 0.75),
                         (0.8, 1.0)), "copper": ((0.035, 0.07), (0.5, 0.72), (0.72, 0.95))}[family]
        mat = _base("metal", _hsv(rng, hue, sat, val), _loguniform(rng, 0.01, 0.5), metallic=1.0)
        mat["metal"] = family
    elif name == "skin":  # skin / clay / terracotta: subsurface, warm pinks and oranges
        color = _hsv(rng, (0.015, 0.09), (0.25, 0.6), (0.5, 0.95))
        mat = _base("subsurface", color, rng.uniform(0.3, 0.7), subsurface=1.0)
    elif name == "glass":
        mat = _base("glass", _hsv(rng, (0.0, 1.0), (0.0, 0.12), (0.85, 1.0)),
                    rng.choice([0.0, 0.0, _loguniform(rng, 0.01, 0.2)]), transmission=1.0,
                    ior=round(rng.uniform(1.3, 1.8), 3))
    elif name == "lamp":  # emissive: warm or neutral white
        mat = _base("emissive", _hsv(rng, (0.06, 0.15), (0.0, 0.4), (0.85, 1.0)), 0.5,
                    emission=round(_loguniform(rng, 2.0, 20.0), 3))
    elif name == "painted":  # plastic / paint: any hue, the part hints are for
        kind = rng.choice(["diffuse", "glossy", "coat"])
        color = _hsv(rng, (0.0, 1.0), (0.35, 0.95), (0.2, 0.95))
        rough = _loguniform(rng, 0.02, 0.4) if kind == "glossy" else rng.uniform(0.25, 0.9)
        mat = _base(kind, color, rough, coat=1.0 if kind == "coat" else 0.0)
        if rng.random() < 0.15:  # a two-colour pattern now and then
            mat["texture"] = _natural_tex(rng, rng.choice(["checker", "magic"]),
                                          _hsv(rng, (0.0, 1.0), (0.0, 0.95), (0.2, 0.95)), (1.0, 8.0))
    else:
        raise SceneError(f"unknown material class {name!r}")
    mat["class"] = name
    return mat


#: class -> draw weight, per place in the scene
NATURAL_OBJECTS = {"wood": 0.14, "foliage": 0.13, "brick": 0.06, "stone": 0.12, "metal": 0.12, "skin": 0.1,
                   "glass": 0.05, "lamp": 0.03, "painted": 0.25}
NATURAL_GROUNDS = {"grass": 0.3, "wood": 0.2, "stone": 0.2, "tiles": 0.2, "sand": 0.1}
NATURAL_WALLS = {"brick": 0.3, "plaster": 0.35, "wood": 0.15, "stone": 0.2}


def _natural_world(rng: random.Random) -> dict:
    """Sky-like worlds: blue zenith over a paler horizon, a sunset, an overcast grey, or a plain studio grey."""
    kind = rng.choices(["sky", "sunset", "overcast", "studio"], weights=[0.5, 0.12, 0.18, 0.2])[0]
    if kind == "sky":
        zenith = _hsv(rng, (0.55, 0.63), (0.4, 0.8), (0.5, 0.95))
        horizon = _hsv(rng, (0.53, 0.6), (0.05, 0.3), (0.75, 1.0))
    elif kind == "sunset":
        zenith = _hsv(rng, (0.58, 0.72), (0.35, 0.7), (0.3, 0.7))
        horizon = _hsv(rng, (0.02, 0.11), (0.4, 0.8), (0.75, 1.0))
    elif kind == "overcast":
        zenith = _hsv(rng, (0.55, 0.65), (0.0, 0.12), (0.55, 0.9))
        horizon = _hsv(rng, (0.0, 1.0), (0.0, 0.05), (0.7, 0.95))
    else:
        zenith = horizon = _hsv(rng, (0.0, 1.0), (0.0, 0.06), (0.15, 0.8))
    return {"kind": "color" if kind == "studio" else "gradient", "color": zenith, "horizon": horizon,
            "strength": round(_loguniform(rng, 0.1, 1.5), 4), "class": kind}


def _natural_light_color(rng: random.Random) -> list[float]:
    """Daylight, tungsten-warm or slightly cool white."""
    return _hsv(rng, (0.05, 0.13) if rng.random() < 0.6 else (0.55, 0.62), (0.0, 0.25), (0.9, 1.0))


def make_spec(seed: int, meshes: list[str] | None = None, frames: int = 3, motion_scale: float = 1.0,
              palette: str = "random") -> dict:
    """The scene of ``seed`` as plain data. ``meshes``: names available in the mesh folder (sorted).

    ``frames`` is the animation length; stills are rendered at the middle frame. ``motion_scale`` multiplies
    every drawn per-frame-step motion (objects and camera) after the draws, so the layout is the seed's
    whatever the scale: e.g. ``2 / (frames - 1)`` gives a longer animation the first-to-last motion a 3-frame
    one has (the spec then records ``motion_scale``; at 1 the spec is unchanged).

    ``palette``: ``"random"`` (every hue uniform: the datasets so far) or ``"natural"`` (colours from material
    classes tied to what the grey image shows, for learning automatic colour; see :func:`_natural_class`). The
    natural colours are drawn from a generator of their own after every layout draw, so a seed keeps its layout
    (shapes, placement, lights, camera) whatever the palette; the spec records ``palette`` when not random.
    """
    if palette not in PALETTES:
        raise SceneError(f"unknown palette {palette!r}: choose one of {', '.join(PALETTES)}")
    if frames < 1:
        raise SceneError(f"frames must be >= 1, got {frames}")
    if not motion_scale > 0:
        raise SceneError(f"motion_scale must be > 0, got {motion_scale}")
    rng = random.Random(f"postpass-scene-{seed}")
    meshes = list(meshes or [])
    spec: dict = {"version": SPEC_VERSION, "seed": seed, "frames": frames, "frame_still": (frames + 1) // 2}

    world_kind = rng.choices(["color", "gradient"], weights=[0.55, 0.45])[0]
    spec["world"] = {"kind": world_kind, "color": _color(rng, sat=(0.0, 0.6)), "horizon": _color(rng, sat=(0.0, 0.5)),
                     "strength": round(_loguniform(rng, 0.02, 1.5), 4)}

    spec["ground"] = None
    if rng.random() < 0.75:
        spec["ground"] = {"material": _material(rng), "wall": rng.random() < 0.3,
                          "wall_material": _material(rng)}

    objects = []
    for _ in range(rng.randint(2, 8)):
        scale = round(_loguniform(rng, 0.35, 1.8), 4)
        radius = rng.uniform(0.0, 2.2)
        angle = rng.uniform(0, 2 * math.pi)
        float_height = rng.choice([0.0, 0.0, 0.0, rng.uniform(0.2, 1.5)])
        upright = rng.random() < 0.6
        objects.append({
            "shape": _shape(rng, meshes),
            "location": [round(radius * math.cos(angle), 4), round(radius * math.sin(angle), 4),
                         round(scale * 0.5 + float_height, 4)],
            "rotation": ([0.0, 0.0, round(rng.uniform(0, 2 * math.pi), 4)] if upright
                         else _vec(rng, 0, 2 * math.pi)),
            "scale": scale,
            "material": _material(rng),
            "motion": _motion(rng, 0.6, 0.5, 15.0),
        })
    spec["objects"] = objects

    lights = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choices(["area", "point", "sun", "spot"], weights=[0.4, 0.25, 0.2, 0.15])[0]
        dist, elev, azim = rng.uniform(3, 9), rng.uniform(0.15, 1.4), rng.uniform(0, 2 * math.pi)
        loc = [round(dist * math.cos(elev) * math.cos(azim), 4), round(dist * math.cos(elev) * math.sin(azim), 4),
               round(dist * math.sin(elev), 4)]
        energy = {"area": _loguniform(rng, 100, 2000), "point": _loguniform(rng, 100, 2000),
                  "sun": _loguniform(rng, 1, 6), "spot": _loguniform(rng, 200, 3000)}[kind]
        lights.append({"type": kind, "location": loc, "energy": round(energy, 3),
                       "color": _color(rng, sat=(0.0, 0.35), val=(0.85, 1.0)),
                       "size": round(_loguniform(rng, 0.05, 3.0), 4), "spot_angle": round(rng.uniform(0.4, 1.5), 4)})
    # Tiny, very bright lights seen through glossy surfaces are what make fireflies in real renders.
    if rng.random() < 0.35:
        for _ in range(rng.randint(1, 3)):
            lights.append({"type": "point", "location": _vec(rng, -3, 3, 2) + [round(rng.uniform(0.3, 3.0), 4)],
                           "energy": round(_loguniform(rng, 20, 400), 3), "color": _color(rng, val=(0.9, 1.0)),
                           "size": round(_loguniform(rng, 0.002, 0.03), 4), "spot_angle": 0.0})
    spec["lights"] = lights

    # Frame a random part of the layout: the visible half-width at the target runs from a close-up of one
    # object (~0.6) to the whole layout (~3.5); the distance follows from the focal length (36 mm sensor).
    lens = _loguniform(rng, 18.0, 90.0)
    half_width = _loguniform(rng, 0.6, 3.5)
    dist, elev, azim = 0.5 + half_width * lens / 18.0, rng.uniform(0.05, 0.9), rng.uniform(0, 2 * math.pi)
    centre = rng.choice(objects)["location"] if half_width < 1.2 else [
        sum(o["location"][i] for o in objects) / len(objects) for i in range(3)]
    target = [centre[0] + rng.uniform(-0.3, 0.3), centre[1] + rng.uniform(-0.3, 0.3), centre[2] * rng.uniform(0.3, 1.0)]
    focus = rng.choice(objects)["location"]
    cam = {"location": [round(target[0] + dist * math.cos(elev) * math.cos(azim), 4),
                        round(target[1] + dist * math.cos(elev) * math.sin(azim), 4),
                        round(max(target[2] + dist * math.sin(elev), 0.15), 4)],
           "target": [round(x, 4) for x in target], "lens": round(lens, 3), "dof": None, "motion": None}
    if rng.random() < 0.3:
        focus_distance = math.dist(cam["location"], focus)
        cam["dof"] = {"fstop": round(_loguniform(rng, 0.7, 5.6), 3), "focus_distance": round(focus_distance, 4)}
    if rng.random() < 0.5:
        cam["motion"] = {"move": _vec(rng, -0.3, 0.3), "target_move": _vec(rng, -0.1, 0.1)}
    spec["camera"] = cam
    if motion_scale != 1.0:
        spec["motion_scale"] = motion_scale
        for motion in [o["motion"] for o in objects] + [cam["motion"]]:
            for key, values in (motion or {}).items():
                motion[key] = [round(v * motion_scale, 6) for v in values]
    if palette == "natural":
        _natural_palette(spec, random.Random(f"postpass-palette-{seed}"))
    return spec


def _natural_palette(spec: dict, rng: random.Random) -> None:
    """Redraw ``spec``'s world, ground, wall, object and light colours from the natural palette (in place)."""
    spec["palette"] = "natural"
    spec["world"] = _natural_world(rng)
    if spec["ground"]:
        spec["ground"]["material"] = _natural_class(rng, _weighted(rng, NATURAL_GROUNDS), ground=True)
        spec["ground"]["wall_material"] = _natural_class(rng, _weighted(rng, NATURAL_WALLS), ground=True)
    for obj in spec["objects"]:
        obj["material"] = _natural_class(rng, _weighted(rng, NATURAL_OBJECTS))
    for light in spec["lights"]:
        light["color"] = _natural_light_color(rng)


# ----------------------------------------------------------------------------------------------------------
# trimesh-made shapes (deterministic from their own seed)
# ----------------------------------------------------------------------------------------------------------
def trimesh_shape(name: str, seed: int):
    """(vertices, faces) of a procedural shape, normalised to a unit box."""
    import numpy as np
    import trimesh

    rng = np.random.default_rng(seed)
    if name == "blob":
        mesh = trimesh.creation.icosphere(subdivisions=4)
        v = mesh.vertices
        # Low-frequency sinusoidal displacement: smooth organic lumps with concavities (self-shadowing).
        disp = np.zeros(len(v))
        for _ in range(4):
            k = rng.normal(size=3) * rng.uniform(1.0, 4.0)
            disp += rng.uniform(0.05, 0.2) * np.sin(v @ k + rng.uniform(0, 2 * np.pi))
        mesh.vertices = v * (1.0 + disp)[:, None]
    elif name == "hull":
        mesh = trimesh.convex.convex_hull(rng.normal(size=(int(rng.integers(8, 40)), 3)) * rng.uniform(0.5, 1.5, 3))
    elif name == "capsule":
        mesh = trimesh.creation.capsule(height=float(rng.uniform(0.5, 2.0)), radius=float(rng.uniform(0.2, 0.6)))
    elif name == "annulus":
        r_in = float(rng.uniform(0.2, 0.6))
        mesh = trimesh.creation.annulus(r_min=r_in, r_max=r_in + float(rng.uniform(0.1, 0.6)),
                                        height=float(rng.uniform(0.1, 1.0)))
    elif name == "torus":
        mesh = trimesh.creation.torus(major_radius=1.0, minor_radius=float(rng.uniform(0.1, 0.6)))
    elif name == "cone":
        mesh = trimesh.creation.cone(radius=float(rng.uniform(0.3, 1.0)), height=float(rng.uniform(0.5, 2.0)))
    else:
        raise SceneError(f"unknown trimesh shape {name!r}")
    v = np.asarray(mesh.vertices, dtype=np.float64)
    lo, hi = v.min(0), v.max(0)
    return (v - (lo + hi) / 2) / float((hi - lo).max()), np.asarray(mesh.faces, dtype=np.int64)


# ----------------------------------------------------------------------------------------------------------
# Spec -> Blender scene
# ----------------------------------------------------------------------------------------------------------
def _mesh_object(bpy, name: str, verts, faces, smooth: bool):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts.tolist(), [], faces.tolist())
    mesh.validate()
    if smooth:
        mesh.shade_smooth()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _primitive_object(bpy, name: str, kind: str, smooth: bool):
    import mathutils

    add = {"cube": bpy.ops.mesh.primitive_cube_add, "uv_sphere": bpy.ops.mesh.primitive_uv_sphere_add,
           "ico_sphere": bpy.ops.mesh.primitive_ico_sphere_add, "cylinder": bpy.ops.mesh.primitive_cylinder_add,
           "cone": bpy.ops.mesh.primitive_cone_add, "torus": bpy.ops.mesh.primitive_torus_add,
           "monkey": bpy.ops.mesh.primitive_monkey_add}[kind]
    add()
    obj = bpy.context.object
    obj.name = name
    # Primitives come at size 2 (torus ~2.5 wide): bring them to the unit box every other shape uses.
    obj.data.transform(mathutils.Matrix.Scale(1.0 / max(obj.dimensions), 4))
    if smooth:
        obj.data.shade_smooth()
    return obj


def _texture_node(nodes, tex: dict):
    kind = tex["type"]
    node = nodes.new({"noise": "ShaderNodeTexNoise", "voronoi": "ShaderNodeTexVoronoi",
                      "checker": "ShaderNodeTexChecker", "wave": "ShaderNodeTexWave",
                      "magic": "ShaderNodeTexMagic", "brick": "ShaderNodeTexBrick"}[kind])
    node.inputs["Scale"].default_value = tex["scale"]
    if "Detail" in node.inputs:
        node.inputs["Detail"].default_value = min(tex["detail"], 15.0)
    if "Distortion" in node.inputs:
        node.inputs["Distortion"].default_value = tex["distortion"]
    factor = node.outputs["Distance"] if kind == "voronoi" else node.outputs["Factor"]
    return node, factor


def _make_material(bpy, name: str, m: dict):
    mat = bpy.data.materials.new(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next(n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    color = (*m["color"], 1.0)
    bsdf.inputs["Base Color"].default_value = color
    bsdf.inputs["Roughness"].default_value = m["roughness"]
    bsdf.inputs["Metallic"].default_value = m["metallic"]
    bsdf.inputs["IOR"].default_value = m["ior"]
    bsdf.inputs["Transmission Weight"].default_value = m["transmission"]
    bsdf.inputs["Subsurface Weight"].default_value = m["subsurface"]
    bsdf.inputs["Coat Weight"].default_value = m["coat"]
    if m["emission"] > 0:
        bsdf.inputs["Emission Color"].default_value = color
        bsdf.inputs["Emission Strength"].default_value = m["emission"]
    tex = m.get("texture")
    if tex:
        coords = nodes.new("ShaderNodeTexCoord")
        node, factor = _texture_node(nodes, tex)
        links.new(coords.outputs["Object"], node.inputs["Vector"])
        mix = nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        for sock in mix.inputs:
            if sock.identifier == "A_Color":
                sock.default_value = color
            elif sock.identifier == "B_Color":
                sock.default_value = (*tex["color"], 1.0)
        links.new(factor, next(s for s in mix.inputs if s.identifier == "Factor_Float"))
        links.new(next(o for o in mix.outputs if o.identifier == "Result_Color"), bsdf.inputs["Base Color"])
        if m["bump"] > 0:
            bump = nodes.new("ShaderNodeBump")
            bump.inputs["Strength"].default_value = m["bump"]
            links.new(factor, bump.inputs["Height"])
            links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return mat


def _keyframe_motion(obj, motion: dict | None, frames: int, turn: bool = True) -> None:
    """Linear motion from frame 1 to ``frames``, centred so the still frame keeps the spec's placement.

    The keys are made LINEAR: Blender's default (Bezier) eases in and out, which leaves 3-frame renders as they
    are (frame 2 is the midpoint either way, and the vectors of frames 1 and 3 reach it), but would put the
    inner frames of a longer animation off their times t = (k - 1) / (frames - 1)."""
    if not motion or frames < 2:
        return
    mid = (frames + 1) / 2
    base_loc, base_rot = obj.location.copy(), obj.rotation_euler.copy()
    for frame in (1, frames):
        steps = frame - mid
        obj.location = [b + steps * d for b, d in zip(base_loc, motion["move"])]
        obj.keyframe_insert("location", frame=frame)
        if turn and "turn" in motion:
            obj.rotation_euler = [b + steps * d for b, d in zip(base_rot, motion["turn"])]
            obj.keyframe_insert("rotation_euler", frame=frame)
    obj.location, obj.rotation_euler = base_loc, base_rot
    _linear_keys(obj)


def _linear_keys(obj) -> None:
    from bpy_extras import anim_utils

    anim = obj.animation_data
    bag = anim_utils.action_get_channelbag_for_slot(anim.action, anim.action_slot)
    for curve in bag.fcurves:
        for key in curve.keyframe_points:
            key.interpolation = "LINEAR"


def build_scene(spec: dict, meshes: MeshLibrary | None = None):
    """Build ``spec`` into a fresh Blender scene (the current file is reset). Returns the scene."""
    from . import blender

    bpy = blender.import_bpy()
    import mathutils

    scene = blender.reset_scene()
    frames = spec["frames"]
    scene.frame_start, scene.frame_end = 1, frames

    world = bpy.data.worlds.new("World")
    scene.world = world
    wn, wl = world.node_tree.nodes, world.node_tree.links
    background = next(n for n in wn if n.bl_idname == "ShaderNodeBackground")
    w = spec["world"]
    background.inputs["Color"].default_value = (*w["color"], 1.0)
    background.inputs["Strength"].default_value = w["strength"]
    if w["kind"] == "gradient":
        # Horizon colour blending into the zenith colour by the view direction's height.
        coords, sep, mix = wn.new("ShaderNodeTexCoord"), wn.new("ShaderNodeSeparateXYZ"), wn.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        for sock in mix.inputs:
            if sock.identifier == "A_Color":
                sock.default_value = (*w["horizon"], 1.0)
            elif sock.identifier == "B_Color":
                sock.default_value = (*w["color"], 1.0)
        wl.new(coords.outputs["Generated"], sep.inputs["Vector"])
        wl.new(sep.outputs["Z"], next(s for s in mix.inputs if s.identifier == "Factor_Float"))
        wl.new(next(o for o in mix.outputs if o.identifier == "Result_Color"), background.inputs["Color"])

    ground = spec.get("ground")
    if ground:
        bpy.ops.mesh.primitive_plane_add(size=60.0)
        plane = bpy.context.object
        plane.name = "ground"
        plane.data.materials.append(_make_material(bpy, "ground", ground["material"]))
        if ground["wall"]:
            bpy.ops.mesh.primitive_plane_add(size=60.0, location=(0.0, 6.0, 0.0), rotation=(math.pi / 2, 0.0, 0.0))
            bpy.context.object.name = "wall"
            bpy.context.object.data.materials.append(_make_material(bpy, "wall", ground["wall_material"]))

    for i, o in enumerate(spec["objects"]):
        shape, name = o["shape"], f"object{i}"
        if shape["source"] == "primitive":
            obj = _primitive_object(bpy, name, shape["name"], shape["smooth"])
        elif shape["source"] == "trimesh":
            obj = _mesh_object(bpy, name, *trimesh_shape(shape["name"], shape["seed"]), shape["smooth"])
        else:
            if meshes is None or shape["name"] not in meshes.names:
                where = meshes.folder if meshes is not None else "no mesh folder"
                raise SceneError(f"scene {spec['seed']}: mesh {shape['name']!r} not found ({where})")
            obj = _mesh_object(bpy, name, *meshes.load(shape["name"]), shape["smooth"])
        obj.location = o["location"]
        obj.rotation_euler = o["rotation"]
        obj.scale = (o["scale"],) * 3
        obj.data.materials.append(_make_material(bpy, f"{name}_mat", o["material"]))
        _keyframe_motion(obj, o["motion"], frames)

    for i, li in enumerate(spec["lights"]):
        data = bpy.data.lights.new(f"light{i}", li["type"].upper())
        data.color = li["color"]
        data.energy = li["energy"]
        if li["type"] == "area":
            data.size = li["size"]
        elif li["type"] in ("point", "spot"):
            data.shadow_soft_size = li["size"]
            if li["type"] == "spot":
                data.spot_size = li["spot_angle"]
        elif li["type"] == "sun":
            data.angle = min(li["size"], 0.5)
        obj = bpy.data.objects.new(f"light{i}", data)
        scene.collection.objects.link(obj)
        obj.location = li["location"]
        # Lights shine along their local -Z: point +Z away from the scene centre.
        obj.rotation_euler = mathutils.Vector(li["location"]).to_track_quat("Z", "Y").to_euler()

    c = spec["camera"]
    cam_data = bpy.data.cameras.new("camera")
    cam_data.lens = c["lens"]
    cam_data.clip_start = 0.05
    if c["dof"]:
        cam_data.dof.use_dof = True
        cam_data.dof.aperture_fstop = c["dof"]["fstop"]
        cam_data.dof.focus_distance = c["dof"]["focus_distance"]
    cam = bpy.data.objects.new("camera", cam_data)
    target = bpy.data.objects.new("camera_target", None)
    scene.collection.objects.link(cam)
    scene.collection.objects.link(target)
    cam.location, target.location = c["location"], c["target"]
    track = cam.constraints.new("TRACK_TO")
    track.target, track.track_axis, track.up_axis = target, "TRACK_NEGATIVE_Z", "UP_Y"
    if c["motion"]:
        _keyframe_motion(cam, {"move": c["motion"]["move"]}, frames, turn=False)
        _keyframe_motion(target, {"move": c["motion"]["target_move"]}, frames, turn=False)
    scene.camera = cam
    scene.frame_set(spec["frame_still"])
    return scene
