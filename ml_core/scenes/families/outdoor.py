"""outdoor: sun and sky over a ground plane to the horizon. The sun is low (3-35 degrees: long shadows) and
small (hard shadows); the sky is Blender's Sky Texture (physical single / multiple scattering, Hosek-Wilkie,
Preetham) or a gradient colour. The camera stands 0.4-3 m above a 4 km ground (grass, sand, stone, tiles or a
random texture) looking near the horizon; buildings (boxes), poles, trees (trunk + crown), rocks, walls and
classic shapes stand from a few metres to a hundred away.

Variants: ``sky`` (Sky Texture) and ``gradient`` (a zenith-to-horizon colour world), both with a sun lamp.
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _natural_class, base_spec, box, camera, camera_motion, light, mat, obj,
                      prop, r, random_or_natural, sky_world, sun_direction, warm_white)


@family("outdoor", weight=0.1, variants=("sky", "gradient"))
def make(ctx) -> dict:
    """Sun and sky, long hard shadows, a ground plane to the horizon."""
    rng = ctx.rng
    variant = rng.choices(["sky", "gradient"], weights=[0.7, 0.3])[0]
    spec = base_spec(ctx, variant)
    # the camera looks roughly along ``heading`` from near the origin; things stand in a wedge ahead of it
    heading = math.pi / 2 + rng.uniform(-0.4, 0.4)
    elev = math.radians(rng.uniform(3.0, 35.0))
    # mostly behind or beside the camera, so the long shadows run through the picture; sometimes against it
    azim = heading + (rng.uniform(0.45, 1.55) * math.pi if rng.random() < 0.75 else rng.uniform(-0.45, 0.45) * math.pi)
    if variant == "sky":
        spec["world"] = sky_world(rng, elev, azim, _loguniform(rng, 0.08, 0.4))
    else:
        spec["world"] = {"kind": "gradient", "color": _color(rng, sat=(0.3, 0.8), val=(0.4, 0.95)),
                         "horizon": _color(rng, sat=(0.0, 0.4), val=(0.7, 1.0)),
                         "strength": r(_loguniform(rng, 0.08, 0.4))}
    sun_color = warm_white(rng) if elev > 0.2 else _color(rng, sat=(0.2, 0.6), val=(0.95, 1.0))
    if elev <= 0.2 and sun_color[0] < sun_color[2]:  # a low sun is orange, not blue
        sun_color = list(reversed(sun_color))
    lights = [light("sun", [100 * c for c in sun_direction(elev, azim)], _loguniform(rng, 4.0, 10.0), sun_color,
                    math.radians(rng.uniform(0.3, 2.0)), target=(0.0, 0.0, 0.0))]
    ground = random_or_natural(rng, rng.choice(["grass", "sand", "stone", "tiles"]), 0.8, ground=True)
    if ground["kind"] in ("glass", "emissive", "metal"):
        ground = _natural_class(rng, "grass", ground=True)
    objects = [obj({"source": "plane"}, (0.0, 0.0, 0.0), ground, dims=(4000.0, 4000.0, 1.0))]

    cam_h = rng.uniform(0.4, 3.0)

    def ahead(near: float, far: float) -> tuple[float, float]:
        d, a = _loguniform(rng, near, far), heading + rng.uniform(-0.6, 0.6)
        return d * math.cos(a), d * math.sin(a)

    for _ in range(rng.randint(5, 15)):
        kind = rng.choices(["building", "pole", "tree", "rock", "wall", "prop"], weights=[2, 2, 2, 2, 1, 4])[0]
        if kind == "building":
            x, y = ahead(10.0, 120.0)
            w, d, h = rng.uniform(4, 20), rng.uniform(4, 20), _loguniform(rng, 3.0, 30.0)
            m = random_or_natural(rng, rng.choice(["brick", "stone", "plaster"]), 0.7, ground=True)
            objects.append(box((x, y, h / 2), (w, d, h), m, rot_z=rng.uniform(0, math.pi)))
        elif kind == "pole":
            x, y = ahead(2.0, 40.0)
            h = rng.uniform(2.0, 9.0)
            m = mat("metal", _color(rng, sat=(0.0, 0.2), val=(0.3, 0.8)), rng.uniform(0.2, 0.6)) \
                if rng.random() < 0.5 else _natural_class(rng, "wood")
            objects.append(obj({"source": "primitive", "name": "cylinder", "smooth": True}, (x, y, h / 2), m,
                               dims=(0.15, 0.15, h)))
        elif kind == "tree":
            x, y = ahead(6.0, 60.0)
            h = rng.uniform(2.0, 8.0)
            objects.append(obj({"source": "primitive", "name": "cylinder", "smooth": True}, (x, y, h * 0.3),
                               _natural_class(rng, "wood"), dims=(0.12 * h / 4, 0.12 * h / 4, h * 0.6)))
            crown = {"source": "trimesh", "name": "blob", "seed": rng.randrange(2**31), "smooth": True}
            objects.append(obj(crown, (x, y, h * 0.7), _natural_class(rng, "foliage"), scale=h * 0.6,
                               rotation=(0.0, 0.0, rng.uniform(0, 2 * math.pi))))
        elif kind == "rock":
            x, y = ahead(1.5, 30.0)
            s = _loguniform(rng, 0.2, 2.5)
            shape = {"source": "trimesh", "name": rng.choice(["hull", "blob"]), "seed": rng.randrange(2**31),
                     "smooth": rng.random() < 0.5}
            objects.append(obj(shape, (x, y, s * 0.3), _natural_class(rng, "stone"), scale=s,
                               rotation=[rng.uniform(0, 2 * math.pi) for _ in range(3)]))
        elif kind == "wall":
            x, y = ahead(3.0, 30.0)
            length, h = rng.uniform(3.0, 15.0), rng.uniform(0.5, 2.5)
            objects.append(box((x, y, h / 2), (length, 0.3, h), _natural_class(rng, rng.choice(["brick", "stone"]),
                                                                                 ground=True),
                               rot_z=rng.uniform(0, math.pi)))
        else:
            x, y = ahead(1.5, 12.0)
            objects.append(prop(rng, ctx, (x, y), _loguniform(rng, 0.3, 2.0)))
    lens = _loguniform(rng, 18.0, 70.0)
    location = (rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), cam_h)
    pitch = math.radians(rng.uniform(-15.0, 4.0))  # the horizon stays in view
    target = (location[0] + 10 * math.cos(heading), location[1] + 10 * math.sin(heading),
              cam_h + 10 * math.tan(pitch))
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, lens, motion=camera_motion(rng, 0.5, 0.2), clip_end=5000.0)
    return spec
