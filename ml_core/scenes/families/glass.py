"""glass: glass objects on a diffuse floor lit by one small light, so caustics are sharp and hard to sample:
drinking glasses with thick walls (closed lathes: the hollow is part of the solid), some holding a liquid (a
second lathe of water / wine / juice, IOR 1.33, tinted by absorption-like colour), wine glasses, bottles, glass
spheres, blobs, tori and prisms, mostly before a wall. The light is a small spot, sphere or area light (1-25 cm:
path-traced caustics of a point-like light never converge); a faint world and sometimes a weak fill.

Variants: ``table`` (glasses and liquids), ``shapes`` (solid glass shapes: spheres, blobs, prisms).
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _material, _natural_class, _shape, base_spec, camera, camera_motion, lathe,
                      light, look_from, mat, obj, r)


def _glass(rng, tint: float = 0.15) -> dict:
    return mat("glass", _color(rng, sat=(0.0, tint), val=(0.85, 1.0)),
               rng.choice([0.0, 0.0, 0.0, _loguniform(rng, 0.01, 0.15)]), ior=r(rng.uniform(1.45, 1.55), 3))


def _tumbler(rng, x: float, y: float, objects: list) -> None:
    """A thick-walled glass (one closed solid with its hollow), maybe with a liquid inside."""
    h, rad = rng.uniform(0.08, 0.2), rng.uniform(0.03, 0.06)
    wall, base = rng.uniform(0.002, 0.006), rng.uniform(0.005, 0.02)
    flare = rng.uniform(1.0, 1.25)
    top = rad * flare
    profile = [(0.0, 0.0), (rad, 0.0), (top, h), (top - wall, h), (rad - wall, base), (0.0, base)]
    if rng.random() < 0.35:  # a wine glass: a stem and foot below the bowl
        stem = rng.uniform(0.05, 0.12)
        foot = rad * rng.uniform(0.9, 1.3)
        profile = [(0.0, 0.0), (foot, 0.0), (foot, 0.004), (0.004, 0.01), (0.004, stem), (rad * 0.6, stem + 0.01),
                   (top, stem + h), (top - wall, stem + h), (rad * 0.6 - wall, stem + 0.012 + wall),
                   (0.0, stem + 0.012 + wall)]
        base = stem + 0.012 + wall
        h = h + stem
    objects.append(lathe(profile, (x, y, 0.0), _glass(rng), segments=64))
    if rng.random() < 0.6:  # a liquid, just inside the hollow
        level = base + (h - base) * rng.uniform(0.3, 0.9)
        inner_top = rad - wall + (top - rad) * (level - base) / max(h - base, 1e-6)
        # Principled glass tints at every interface (it has no volume absorption): light tints only
        liquid = mat("glass", _color(rng, sat=(0.0, 0.6), val=(0.8, 1.0)), 0.0, ior=1.33)
        objects.append(lathe([(0.0, base + 0.0005), (rad - wall - 0.0005, base + 0.0005),
                              (inner_top - 0.0005, level), (0.0, level)], (x, y, 0.0), liquid, segments=64))


@family("glass", weight=0.08, variants=("table", "shapes"))
def make(ctx) -> dict:
    """Glass and liquids on a diffuse floor lit by a small light: caustics."""
    rng = ctx.rng
    variant = rng.choice(["table", "shapes"])
    spec = base_spec(ctx, variant)
    floor = _natural_class(rng, rng.choice(["wood", "stone", "plaster", "tiles"])) if rng.random() < 0.6 \
        else mat("diffuse", _color(rng, sat=(0.0, 0.5), val=(0.3, 0.95)), rng.uniform(0.5, 1.0))
    floor.update(kind="diffuse", metallic=0.0, transmission=0.0, coat=0.0)
    objects = [obj({"source": "plane"}, (0.0, 0.0, 0.0), floor, dims=(30.0, 30.0, 1.0))]
    if rng.random() < 0.8:  # a wall behind: glass shows what is behind it
        wall = mat("diffuse", _color(rng, sat=(0.0, 0.4), val=(0.3, 0.9)), 0.9)
        objects.append(obj({"source": "plane"}, (0.0, rng.uniform(0.4, 1.2), 5.0), wall, rotation=(math.pi / 2, 0, 0),
                           dims=(30.0, 10.0, 1.0)))
    scale = 0.15 if variant == "table" else 0.5  # the size of the set, metres
    n = rng.randint(2, 5)
    for _ in range(n):
        x, y = rng.uniform(-1.5, 1.5) * scale, rng.uniform(-1.0, 1.0) * scale
        if variant == "table" and rng.random() < 0.75:
            _tumbler(rng, x, y, objects)
        else:
            kind = rng.choice(["sphere", "blob", "torus", "prism", "shape"])
            s = rng.uniform(0.3, 1.0) * scale
            shape = {"sphere": {"source": "primitive", "name": "uv_sphere", "smooth": True},
                     "blob": {"source": "trimesh", "name": "blob", "seed": rng.randrange(2**31), "smooth": True},
                     "torus": {"source": "trimesh", "name": "torus", "seed": rng.randrange(2**31), "smooth": True},
                     # a triangular prism: a three-sided lathe, flat shaded (it splits light into its colours
                     # only in reality: Cycles has no dispersion here, but the refraction is right)
                     "prism": {"source": "lathe", "profile": [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]],
                               "segments": 3, "smooth": False},
                     "shape": _shape(rng, list(ctx.meshes))}[kind]
            if kind == "prism":
                objects.append(obj(shape, (x, y, 0.0), _glass(rng, 0.3), rotation=(0.0, 0.0, rng.uniform(0, math.pi)),
                                   scale=s))
            else:
                objects.append(obj(shape, (x, y, s * 0.5), _glass(rng, 0.5), scale=s,
                                   rotation=[rng.uniform(0, 2 * math.pi) for _ in range(3)]))
        if rng.random() < 0.15:  # an opaque object among the glass
            m = _material(rng)
            objects.append(obj(_shape(rng, list(ctx.meshes)), (x + 0.3 * scale, y - 0.3 * scale, 0.2 * scale), m,
                               scale=0.4 * scale))
    centre = (0.0, 0.0, 0.3 * scale)
    kind = rng.choice(["spot", "point", "area"])
    dist = rng.uniform(5.0, 15.0) * scale
    loc = look_from(centre, dist, rng.uniform(0.3, 1.1), rng.uniform(0, 2 * math.pi))
    # small, but not point-like: path-traced caustics of a point light never converge (Cycles' shadow caustics
    # (MNEE) gave none for these multi-interface casters)
    size = {"spot": _loguniform(rng, 0.01, 0.06), "point": _loguniform(rng, 0.01, 0.06),
            "area": _loguniform(rng, 0.04, 0.25)}[kind] * scale / 0.15
    energy = {"spot": _loguniform(rng, 50, 400), "point": _loguniform(rng, 30, 300),
              "area": _loguniform(rng, 30, 300)}[kind] * (dist / 1.5) ** 2
    lights = [light(kind, loc, energy, _color(rng, sat=(0.0, 0.2), val=(0.9, 1.0)), size, target=centre,
                    spot_angle=rng.uniform(0.4, 1.2))]
    if rng.random() < 0.3:
        lights.append(light("area", look_from(centre, dist, rng.uniform(0.3, 1.0), rng.uniform(0, 2 * math.pi)),
                            energy * rng.uniform(0.02, 0.1), (1.0, 1.0, 1.0), 1.0, target=centre))
    spec["world"] = {"kind": "color", "color": _color(rng, sat=(0.0, 0.5), val=(0.2, 1.0)),
                     "horizon": [0.0, 0.0, 0.0], "strength": r(_loguniform(rng, 0.01, 0.2))}
    lens = rng.uniform(35.0, 100.0)
    target = (rng.uniform(-0.3, 0.3) * scale, rng.uniform(-0.3, 0.3) * scale, rng.uniform(0.1, 0.5) * scale)
    cam_dist = (2.2 * scale + 0.05) * lens / 30.0
    location = look_from(target, cam_dist, rng.uniform(0.1, 0.8), rng.uniform(0, 2 * math.pi))
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, lens, motion=camera_motion(rng, 0.3, 0.02 * scale / 0.15))
    return spec
