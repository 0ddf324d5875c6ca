"""grazing: fine procedural textures with bump seen at grazing angles. A long floor (or wall) 60-120 m long
covered in a fine texture (brick, checker tiles, noise, Voronoi, wave, magic; 1-60 cycles per metre) with a
bump map, the camera 3-60 cm above it (or beside the wall) looking along it at 1-15 degrees, so the texture runs
from a few pixels per cycle near the camera to far below a pixel (moire, aliasing, bump shading at grazing
light). A low sun or a light skimming the surface; a few objects along it.

Variants: ``floor``, ``wall``.
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, base_spec, camera, camera_motion, light, mat, obj, prop, r, sky_world,
                      sun_direction, warm_white)
from ..spec import TEXTURES


def fine_material(rng) -> dict:
    kind = rng.choices(["diffuse", "glossy", "coat"], weights=[0.65, 0.2, 0.15])[0]
    m = mat(kind, _color(rng, sat=(0.0, 0.7), val=(0.1, 0.9)),
            _loguniform(rng, 0.05, 0.4) if kind == "glossy" else rng.uniform(0.4, 1.0))
    m["texture"] = {"type": rng.choice(TEXTURES), "scale": r(_loguniform(rng, 1.0, 60.0)),
                    "color": _color(rng, sat=(0.0, 0.7), val=(0.05, 0.95)), "detail": r(rng.uniform(0.0, 8.0), 3),
                    "distortion": r(rng.uniform(0.0, 2.0), 3)}
    m["bump"] = r(rng.uniform(0.2, 1.0), 3)
    m["bump_distance"] = r(_loguniform(rng, 0.002, 0.05), 5)  # metres: a fine relief
    return m


@family("grazing", weight=0.06, variants=("floor", "wall"))
def make(ctx) -> dict:
    """A long finely textured, bumped floor or wall, the camera low, seen at grazing angles."""
    rng = ctx.rng
    variant = rng.choices(["floor", "wall"], weights=[0.65, 0.35])[0]
    spec = base_spec(ctx, variant)
    length = rng.uniform(60.0, 120.0)
    surface = fine_material(rng)
    objects = []
    if variant == "floor":
        objects.append(obj({"source": "plane"}, (0.0, length / 2 - 5.0, 0.0), surface,
                           dims=(rng.uniform(4.0, 30.0), length, 1.0)))
        beyond = mat("diffuse", _color(rng, sat=(0.0, 0.4), val=(0.05, 0.5)), 0.9)
        objects.append(obj({"source": "plane"}, (0.0, 0.0, -0.01), beyond, dims=(2000.0, 2000.0, 1.0)))
        h = _loguniform(rng, 0.03, 0.6)
        location = (rng.uniform(-0.5, 0.5), -4.0, h)
        angle = math.radians(_loguniform(rng, 1.0, 15.0))
        target = (location[0] + rng.uniform(-2, 2), -4.0 + h / math.tan(angle), 0.0)
    else:
        objects.append(obj({"source": "plane"}, (0.0, length / 2 - 5.0, 5.0), surface, rotation=(0.0, math.pi / 2, 0.0),
                           dims=(10.0, length, 1.0)))
        ground = mat("diffuse", _color(rng, sat=(0.0, 0.3), val=(0.1, 0.6)), 0.9)
        objects.append(obj({"source": "plane"}, (0.0, 0.0, 0.0), ground, dims=(2000.0, 2000.0, 1.0)))
        d = _loguniform(rng, 0.05, 0.8)
        location = (d, -4.0, rng.uniform(0.3, 2.5))  # the wall faces +X
        angle = math.radians(_loguniform(rng, 1.0, 15.0))
        target = (0.0, -4.0 + d / math.tan(angle), location[2] + rng.uniform(-0.5, 0.5))
    for _ in range(rng.randint(0, 4)):
        y = rng.uniform(2.0, 30.0)
        objects.append(prop(rng, ctx, (rng.uniform(-1.5, 1.5) if variant == "floor" else rng.uniform(0.5, 3.0), y),
                            _loguniform(rng, 0.2, 1.5)))
    # the view runs along +Y: light from the side or behind shows the relief (bump shading at grazing light);
    # sometimes against the view, a glare over the texture
    elev = math.radians(_loguniform(rng, 2.0, 40.0))
    azim = math.pi / 2 + (rng.uniform(0.4, 1.6) * math.pi if rng.random() < 0.75 else rng.uniform(-0.4, 0.4) * math.pi)
    if rng.random() < 0.7:
        spec["world"] = sky_world(rng, elev, azim, _loguniform(rng, 0.08, 0.4))
        lights = [light("sun", [100 * c for c in sun_direction(elev, azim)], _loguniform(rng, 3.0, 8.0),
                        warm_white(rng), math.radians(rng.uniform(0.3, 3.0)), target=(0.0, 0.0, 0.0))]
    else:  # a lamp skimming the surface at night
        spec["world"] = {"kind": "color", "color": _color(rng, sat=(0.0, 0.5), val=(0.05, 0.4)),
                         "horizon": [0.0, 0.0, 0.0], "strength": r(_loguniform(rng, 0.005, 0.1))}
        lights = [light(rng.choice(["point", "spot", "area"]),
                        (rng.uniform(-3, 3), rng.uniform(0.0, 20.0), rng.uniform(0.2, 2.0)),
                        _loguniform(rng, 200, 3000),
                        warm_white(rng), rng.uniform(0.05, 0.5), target=(0.0, rng.uniform(0, 20), 0.0),
                        spot_angle=rng.uniform(0.6, 1.4))]
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, rng.uniform(20.0, 85.0), motion=camera_motion(rng, 0.4, 0.03),
                            clip_end=3000.0)
    return spec
