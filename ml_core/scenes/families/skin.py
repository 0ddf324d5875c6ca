"""skin: subsurface scattering. Heads (Suzanne, spheres, blobs), fingers (capsules), ears (thin tori and
annuli) in Principled subsurface (weight 1, random walk) with a reddish scattering radius (skin: red light
travels furthest), and other translucent materials: wax, marble, jade, milk, soap. A key light and often a
strong back / rim light behind thin parts, so light shows through them; a sweep or floor, a dim world.

Variants: ``skin`` (skin tones, radius about (1, 0.2, 0.1)), ``wax`` (wax, jade, marble, milk, soap radii).
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _natural_class, base_spec, camera, camera_motion, light, look_from, mat,
                      obj, r, rv, warm_white)

#: translucent material -> (hue range, saturation range, value range, radius RGB)
WAXES = {"wax": ((0.07, 0.14), (0.2, 0.6), (0.7, 1.0), (1.0, 0.6, 0.3)),
         "jade": ((0.25, 0.42), (0.3, 0.7), (0.3, 0.8), (0.4, 1.0, 0.5)),
         "marble": ((0.0, 1.0), (0.0, 0.08), (0.75, 1.0), (1.0, 0.9, 0.8)),
         "milk": ((0.1, 0.15), (0.0, 0.1), (0.85, 1.0), (1.0, 0.95, 0.8)),
         "soap": ((0.0, 1.0), (0.2, 0.6), (0.6, 1.0), (0.8, 0.9, 1.0))}


def _translucent(rng, variant: str) -> dict:
    if variant == "skin":
        m = _natural_class(rng, "skin")
        radius = [1.0, rng.uniform(0.15, 0.35), rng.uniform(0.05, 0.15)]
        m.update(subsurface_radius=rv(radius), subsurface_scale=r(_loguniform(rng, 0.005, 0.08)))
        return m
    name = rng.choice(list(WAXES))
    hue, sat, val, radius = WAXES[name]
    import colorsys

    from ..draws import _srgb_to_linear
    h = rng.uniform(*hue)
    color = [round(_srgb_to_linear(x), 5) for x in colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))]
    return mat("subsurface", color, rng.uniform(0.1, 0.6), subsurface_radius=rv(radius),
               subsurface_scale=r(_loguniform(rng, 0.01, 0.2)), **{"class": name})


@family("skin", weight=0.06, variants=("skin", "wax"))
def make(ctx) -> dict:
    """Subsurface skin-like materials (reddish radius), back-lit thin parts."""
    rng = ctx.rng
    variant = rng.choices(["skin", "wax"], weights=[0.65, 0.35])[0]
    spec = base_spec(ctx, variant)
    floor = mat("diffuse", _color(rng, sat=(0.0, 0.4), val=(0.1, 0.9)), rng.uniform(0.4, 1.0))
    objects = [obj({"source": "sweep", "width": 8.0, "depth": 6.0, "height": 4.0, "radius": r(rng.uniform(0.5, 1.5))},
                   (0.0, rng.uniform(1.0, 2.5), 0.0), floor)]
    n = rng.randint(1, 4)
    for i in range(n):
        kind = rng.choices(["head", "blob", "fingers", "ear", "sphere"], weights=[3, 2, 2, 2, 1])[0]
        m = _translucent(rng, variant)
        x, y = rng.uniform(-0.6, 0.6) * (n > 1), rng.uniform(-0.4, 0.4) * (n > 1)
        if kind == "head":
            s = rng.uniform(0.3, 0.6)
            objects.append(obj({"source": "primitive", "name": rng.choice(["monkey", "monkey", "uv_sphere"]),
                                "smooth": True}, (x, y, s * 0.5), m, scale=s,
                               rotation=(rng.uniform(-0.3, 0.3), 0.0, rng.uniform(-0.8, 0.8) + math.pi),
                               motion=None))
        elif kind == "blob":
            s = rng.uniform(0.25, 0.6)
            objects.append(obj({"source": "trimesh", "name": "blob", "seed": rng.randrange(2**31), "smooth": True},
                               (x, y, s * 0.45), m, scale=s, rotation=[rng.uniform(0, 2 * math.pi) for _ in range(3)]))
        elif kind == "fingers":
            for k in range(rng.randint(2, 5)):
                s = rng.uniform(0.12, 0.25)
                objects.append(obj({"source": "trimesh", "name": "capsule", "seed": rng.randrange(2**31),
                                    "smooth": True}, (x + 0.05 * k, y, s * 0.5), m, scale=s,
                                   rotation=(rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), 0.0)))
        elif kind == "ear":  # thin curved parts glow when back-lit
            s = rng.uniform(0.15, 0.4)
            objects.append(obj({"source": "trimesh", "name": rng.choice(["torus", "annulus"]),
                                "seed": rng.randrange(2**31), "smooth": True}, (x, y, s * 0.5), m, scale=s,
                               rotation=(math.pi / 2 + rng.uniform(-0.4, 0.4), 0.0, rng.uniform(0, math.pi))))
        else:
            s = rng.uniform(0.2, 0.5)
            objects.append(obj({"source": "primitive", "name": "uv_sphere", "smooth": True}, (x, y, s * 0.5), m,
                               scale=s))
    centre = (0.0, 0.0, 0.25)
    lights = [light("area", look_from(centre, rng.uniform(1.5, 3.0), rng.uniform(0.3, 1.0),
                                      -math.pi / 2 + rng.uniform(-1.2, 1.2)),
                    _loguniform(rng, 50, 400), warm_white(rng), rng.uniform(0.3, 1.5), target=centre)]
    if rng.random() < 0.75:  # back light: through ears, fingers, the edges of wax
        lights.append(light(rng.choice(["area", "spot", "point"]),
                            look_from(centre, rng.uniform(0.8, 2.0), rng.uniform(0.0, 0.6),
                                      math.pi / 2 + rng.uniform(-0.7, 0.7)),
                            _loguniform(rng, 100, 800), warm_white(rng), rng.uniform(0.05, 0.6), target=centre,
                            spot_angle=rng.uniform(0.5, 1.2)))
    spec["world"] = {"kind": "color", "color": _color(rng, sat=(0.0, 0.4), val=(0.1, 0.8)),
                     "horizon": [0.0, 0.0, 0.0], "strength": r(_loguniform(rng, 0.01, 0.3))}
    lens = rng.uniform(40.0, 100.0)
    target = (rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(0.15, 0.35))
    location = look_from(target, (1.0 + 0.4 * n) * lens / 50.0, rng.uniform(0.05, 0.5),
                         -math.pi / 2 + rng.uniform(-0.7, 0.7))
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, lens, motion=camera_motion(rng, 0.3, 0.04))
    return spec
