"""studio: a product shot on a sweep backdrop (a floor curving up into the wall, no horizon), 1-3 area lights
(a big key softbox, a fill, a rim light behind), a glossy floor (the sweep itself glossy, or an acrylic sheet on
it), and 1-4 products: bottles, vases, cups (lathes), primitives, blobs, mesh files, in glossy / metal / coat /
glass / diffuse materials. Long lenses (35-120 mm), a dark, dim world.

Variants: ``paper`` (a matte sweep with a glossy sheet under the products), ``glossy`` (a glossy sweep).
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _material, base_spec, camera, camera_motion, lathe, light, look_from, mat,
                      obj, prop, r)


def product_profile(rng, height: float) -> list[tuple[float, float]]:
    """A closed lathe profile of a bottle, vase, jar or cup (radius, z), from z = 0 to ``height``."""
    kind = rng.choice(["bottle", "vase", "jar", "cup"])
    rb = height * rng.uniform(0.15, 0.35)
    if kind == "bottle":
        neck = rb * rng.uniform(0.25, 0.45)
        shoulder = height * rng.uniform(0.5, 0.7)
        pts = [(rb, 0.0), (rb, shoulder), (rb * 0.7, shoulder + 0.1 * height), (neck, shoulder + 0.2 * height),
               (neck, height)]
    elif kind == "vase":
        belly, waist = rb * rng.uniform(1.1, 1.6), rb * rng.uniform(0.4, 0.8)
        pts = [(rb * 0.8, 0.0)] + [(rb * 0.8 + (belly - rb * 0.8) * math.sin(math.pi * t) + (waist - rb * 0.8) * t ** 3,
                                    height * t) for t in (0.15, 0.3, 0.45, 0.6, 0.75, 0.9)] + [(waist * 1.2, height)]
    elif kind == "jar":
        pts = [(rb, 0.0), (rb * 1.05, height * 0.1), (rb * 1.05, height * 0.85), (rb * 0.8, height * 0.9),
               (rb * 0.8, height)]
    else:
        pts = [(rb * 0.75, 0.0), (rb, height)]
    return [(0.0, 0.0)] + pts + [(0.0, height)]


@family("studio", weight=0.08, variants=("paper", "glossy"))
def make(ctx) -> dict:
    """A product shot: sweep backdrop, 1-3 area lights, glossy floor, a few products."""
    rng = ctx.rng
    variant = rng.choice(["paper", "glossy"])
    spec = base_spec(ctx, variant)
    width, depth, height = rng.uniform(6.0, 12.0), rng.uniform(4.0, 8.0), rng.uniform(3.0, 6.0)
    paper = mat("diffuse", _color(rng, sat=(0.0, 0.5), val=(0.2, 0.95)), rng.uniform(0.6, 1.0))
    if variant == "glossy":
        paper.update(kind="glossy", roughness=r(_loguniform(rng, 0.02, 0.3)))
    # the sweep's wall at y = +2.5 .. behind the products; its floor runs towards the camera
    back = rng.uniform(1.5, 3.0)
    objects = [obj({"source": "sweep", "width": r(width), "depth": r(depth), "height": r(height),
                    "radius": r(rng.uniform(0.5, 2.0))}, (0.0, back, 0.0), paper)]
    if variant == "paper" and rng.random() < 0.8:  # an acrylic / glass sheet: the glossy floor
        sheet = mat("glossy", _color(rng, sat=(0.0, 0.3), val=(0.02, 0.9)), _loguniform(rng, 0.01, 0.15))
        objects.append(obj({"source": "primitive", "name": "cube", "smooth": False}, (0.0, 0.0, 0.005), sheet,
                           dims=(rng.uniform(1.5, 4.0), rng.uniform(1.5, 3.0), 0.01)))
    n = rng.randint(1, 4)
    spread = 0.25 + 0.25 * n
    for i in range(n):
        x, y = rng.uniform(-spread, spread), rng.uniform(-spread * 0.6, spread * 0.6)
        m = _material(rng)
        if m["kind"] == "emissive":
            m = mat("glossy", _color(rng), _loguniform(rng, 0.02, 0.3))
        if rng.random() < 0.5:
            h = rng.uniform(0.2, 0.8)
            objects.append(lathe(product_profile(rng, h), (x, y, 0.011), m,
                                 motion=None))
        else:
            objects.append(prop(rng, ctx, (x, y), rng.uniform(0.15, 0.6), z0=0.011, material=m))
    centre = (0.0, 0.0, 0.25)
    lights = []
    key_azim = -math.pi / 2 + rng.choice([-1, 1]) * rng.uniform(0.4, 1.2)  # camera side is -Y
    roles = ["key"] + rng.sample(["fill", "rim"], rng.randint(0, 2))
    for role in roles:
        if role == "key":
            azim, elev, dist, size, energy = key_azim, rng.uniform(0.4, 1.1), rng.uniform(1.5, 3.5), \
                rng.uniform(0.8, 2.5), _loguniform(rng, 150, 1200)
        elif role == "fill":
            azim, elev, dist, size, energy = -math.pi - key_azim, rng.uniform(0.1, 0.6), rng.uniform(2.0, 4.0), \
                rng.uniform(1.0, 3.0), _loguniform(rng, 30, 300)
        else:  # rim: behind the products, low, facing the camera
            azim, elev, dist, size, energy = math.pi / 2 + rng.uniform(-0.8, 0.8), rng.uniform(0.3, 1.0), \
                rng.uniform(1.0, 2.0), rng.uniform(0.2, 1.0), _loguniform(rng, 100, 800)
        loc = look_from(centre, dist, elev, azim)
        loc[1] = min(loc[1], back - 0.2)
        lights.append(light("area", loc, energy, _color(rng, sat=(0.0, 0.15), val=(0.9, 1.0)), size,
                            target=centre, shape="RECTANGLE", size_y=r(size * rng.uniform(0.5, 1.5)),
                            spread=r(rng.uniform(0.6, math.pi))))
    spec["world"] = {"kind": "color", "color": _color(rng, sat=(0.0, 0.2), val=(0.05, 0.5)),
                     "horizon": [0.0, 0.0, 0.0], "strength": r(_loguniform(rng, 0.005, 0.1))}
    lens = rng.uniform(35.0, 120.0)
    dist = (0.9 + 0.8 * spread) * lens / 30.0
    target = (rng.uniform(-0.1, 0.1), 0.0, rng.uniform(0.1, 0.35))
    location = look_from(target, dist, rng.uniform(0.05, 0.6), -math.pi / 2 + rng.uniform(-0.6, 0.6))
    dof = None
    if rng.random() < 0.3:
        dof = {"fstop": r(_loguniform(rng, 1.4, 8.0), 3), "focus_distance": r(math.dist(location, target))}
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, lens, dof=dof, motion=camera_motion(rng, 0.4, 0.05))
    return spec
