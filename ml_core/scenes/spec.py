"""Spec: seed -> plain JSON-able data (shapes, materials, lights, camera, motion); bpy-free.

``make_spec(seed)`` draws everything from ``random.Random(f"postpass-scene-{seed}")``, so a seed is one scene
forever (tests pin spec digests); options added later leave the default draws alone.
"""
from __future__ import annotations

import math
import random

from .draws import _color, _loguniform, _vec, _weighted
from .meshes import TRIMESH_SHAPES, SceneError
from .palette import PALETTES, natural_palette

SPEC_VERSION = 1
PRIMITIVES = ("cube", "uv_sphere", "ico_sphere", "cylinder", "cone", "torus", "monkey")
TEXTURES = ("noise", "voronoi", "checker", "wave", "magic", "brick")
MATERIAL_KINDS = {  # kind -> draw weight
    "diffuse": 0.28, "glossy": 0.2, "metal": 0.15, "glass": 0.12, "emissive": 0.08, "subsurface": 0.1, "coat": 0.07,
}


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



def _motion(rng: random.Random, prob: float, max_move: float, max_turn_deg: float) -> dict | None:
    """Motion per frame step: a straight line and a steady turn (linear keys make it exact)."""
    if rng.random() >= prob:
        return None
    direction = rng.uniform(0, 2 * math.pi)
    speed = _loguniform(rng, 0.02, max_move)
    return {"move": [round(speed * math.cos(direction), 4), round(speed * math.sin(direction), 4),
                     round(rng.uniform(-0.3, 0.3) * speed, 4)],
            "turn": [round(math.radians(rng.uniform(-max_turn_deg, max_turn_deg)), 4) for _ in range(3)]}



def make_spec(seed: int, meshes: list[str] | None = None, frames: int = 3, motion_scale: float = 1.0,
              palette: str = "random", families=None) -> dict:
    """The scene of ``seed`` as plain data. ``meshes``: names available in the mesh folder (sorted).

    ``families``: None (the classic generator, exactly as before families existed), a family name, or a dict
    family -> weight (``ml_core.scenes.families``; e.g. the v2 preset's). With families the spec records
    ``family`` (also ``"classic"`` when the draw picks it) and, for the other families, ``variant``; the family
    is drawn from the seed, so a seed is one scene per weights.
    """
    if families is not None:
        from .families import make_family_spec  # the families import this module: import when used

        return make_family_spec(seed, families, meshes, frames=frames, motion_scale=motion_scale, palette=palette)
    return _classic_spec(seed, meshes, frames, motion_scale, palette)


def _classic_spec(seed: int, meshes: list[str] | None = None, frames: int = 3, motion_scale: float = 1.0,
                  palette: str = "random") -> dict:
    """The classic family's scene of ``seed`` (the generator before families; its draws are pinned).

    ``frames`` is the animation length; stills are rendered at the middle frame. ``motion_scale`` multiplies
    every drawn per-frame-step motion (objects and camera) after the draws, so the layout is the seed's
    whatever the scale: e.g. ``2 / (frames - 1)`` gives a longer animation the first-to-last motion a 3-frame
    one has (the spec then records ``motion_scale``; at 1 the spec is unchanged).

    ``palette``: ``"random"`` (every hue uniform: the datasets so far) or ``"natural"`` (colours from material
    classes tied to what the grey image shows, for learning automatic colour; see ``palette._natural_class``). The
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
        natural_palette(spec, random.Random(f"postpass-palette-{seed}"))
    return spec
