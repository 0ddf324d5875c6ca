"""thin: geometry thinner than a pixel or cut out by alpha. Cables sagging between poles against the sky (curve
tubes of 2-20 mm), wire sculptures; chain-link fences (a plane with a procedural grid alpha mask, metal) and
picket fences in front of a scene; foliage: bushes and trees of alpha-masked leaf cards (Voronoi discs on
planes, the classic game/film foliage card) around branches.

Variants: ``wires``, ``fence``, ``foliage``.
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _natural_class, base_spec, box, camera, camera_motion, curve, light, mat,
                      obj, prop, r, sky_world, sun_direction, warm_white)


def _catenary(a, b, sag: float, n: int = 12) -> list[list[float]]:
    return [[a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t - 4 * sag * t * (1 - t)]
            for t in (k / (n - 1) for k in range(n))]


def _leaf_card_material(rng) -> dict:
    m = _natural_class(rng, "foliage")
    m.update(texture=None, bump=0.0)
    m["alpha"] = {"type": "leaves", "scale": r(rng.uniform(3.0, 9.0)), "threshold": r(rng.uniform(0.2, 0.35)),
                  "randomness": r(rng.uniform(0.6, 1.0))}
    return m


@family("thin", weight=0.08, variants=("wires", "fence", "foliage"))
def make(ctx) -> dict:
    """Thin wires and cables, chain-link and picket fences, alpha-mapped foliage cards."""
    rng = ctx.rng
    variant = rng.choice(["wires", "fence", "foliage"])
    spec = base_spec(ctx, variant)
    elev, azim = math.radians(rng.uniform(8.0, 60.0)), rng.uniform(0, 2 * math.pi)
    spec["world"] = sky_world(rng, elev, azim, _loguniform(rng, 0.1, 0.5))
    lights = [light("sun", [100 * c for c in sun_direction(elev, azim)], _loguniform(rng, 3.0, 8.0), warm_white(rng),
                    math.radians(rng.uniform(0.5, 3.0)), target=(0.0, 0.0, 0.0))]
    ground = _natural_class(rng, rng.choice(["grass", "stone", "sand", "tiles"]), ground=True)
    objects = [obj({"source": "plane"}, (0.0, 0.0, 0.0), ground, dims=(2000.0, 2000.0, 1.0))]
    if variant == "wires":
        metal = mat("metal", _color(rng, sat=(0.0, 0.2), val=(0.3, 0.9)), rng.uniform(0.2, 0.6))
        wood = _natural_class(rng, "wood")
        span, height = rng.uniform(10.0, 40.0), rng.uniform(5.0, 12.0)
        y0 = rng.uniform(4.0, 15.0)
        poles = [(-span / 2, y0 + rng.uniform(-2, 2)), (span / 2, y0 + rng.uniform(-2, 2))]
        for px, py in poles:
            objects.append(obj({"source": "primitive", "name": "cylinder", "smooth": True}, (px, py, height / 2),
                               wood, dims=(0.25, 0.25, height)))
            objects.append(box((px, py, height - 0.3), (0.1, 2.4, 0.12), wood, rot_z=0.0))
        cable = mat("diffuse", _color(rng, sat=(0.0, 0.2), val=(0.02, 0.3)), rng.uniform(0.3, 0.8))
        for k in range(rng.randint(3, 12)):
            off = rng.uniform(-1.1, 1.1)
            z = height - 0.25 - rng.uniform(0.0, 1.5)
            a = (poles[0][0], poles[0][1] + off, z)
            b = (poles[1][0], poles[1][1] + off, z + rng.uniform(-0.3, 0.3))
            objects.append(curve(_catenary(a, b, rng.uniform(0.2, 2.0)), _loguniform(rng, 0.004, 0.02),
                                 cable if rng.random() < 0.7 else metal))
        for _ in range(rng.randint(0, 4)):  # wire sculptures / loose wires near the camera
            c = (rng.uniform(-2, 2), rng.uniform(2, 5), rng.uniform(0.2, 1.5))
            pts = [[c[0] + rng.uniform(-0.6, 0.6), c[1] + rng.uniform(-0.6, 0.6), c[2] + rng.uniform(-0.5, 0.5)]
                   for _ in range(rng.randint(4, 10))]
            objects.append(curve(pts, _loguniform(rng, 0.002, 0.01), metal, smooth=rng.random() < 0.7))
        location = (rng.uniform(-3, 3), rng.uniform(-4, 0), rng.uniform(0.5, 2.0))
        target = (rng.uniform(-span / 4, span / 4), y0, height * rng.uniform(0.5, 1.0))
        lens = rng.uniform(24.0, 85.0)
    elif variant == "fence":
        yf = rng.uniform(1.0, 4.0)
        length, h = rng.uniform(8.0, 30.0), rng.uniform(1.0, 2.5)
        if rng.random() < 0.6:  # chain link: a wire grid cut out of a metal plane
            wire = mat("metal", _color(rng, sat=(0.0, 0.15), val=(0.4, 0.9)), rng.uniform(0.2, 0.5))
            wire["alpha"] = {"type": "grid", "scale": r(rng.uniform(4.0, 15.0)), "width": r(rng.uniform(0.08, 0.2)),
                             "angle": r(math.pi / 4 if rng.random() < 0.7 else 0.0)}
            objects.append(obj({"source": "plane"}, (0.0, yf, h / 2), wire, rotation=(math.pi / 2, 0.0, 0.0),
                               dims=(length, h, 1.0)))
            post = mat("metal", _color(rng, sat=(0.0, 0.1), val=(0.4, 0.8)), 0.4)
            for px in [x * 2.5 - length / 2 for x in range(int(length / 2.5) + 1)]:
                objects.append(obj({"source": "primitive", "name": "cylinder", "smooth": True}, (px, yf + 0.03, h / 2),
                                   post, dims=(0.05, 0.05, h)))
            spec["variant"] = "fence"
        else:  # pickets
            wood = _natural_class(rng, "wood") if rng.random() < 0.6 else \
                mat("diffuse", _color(rng, sat=(0.0, 0.3), val=(0.5, 0.95)), 0.7)
            pw, gap = rng.uniform(0.05, 0.12), rng.uniform(0.03, 0.12)
            x = -length / 2
            while x < length / 2:
                objects.append(box((x, yf, h / 2), (pw, 0.02, h), wood))
                x += pw + gap
            for z in (h * 0.25, h * 0.75):
                objects.append(box((0.0, yf + 0.03, z), (length, 0.03, 0.08), wood))
        for _ in range(rng.randint(2, 8)):  # the scene behind the fence
            objects.append(prop(rng, ctx, (rng.uniform(-5, 5), yf + rng.uniform(1.0, 10.0)),
                                _loguniform(rng, 0.3, 2.5)))
        location = (rng.uniform(-1, 1), rng.uniform(-3.0, yf - 0.7), rng.uniform(0.5, 1.8))
        target = (rng.uniform(-1, 1), yf + rng.uniform(1.0, 5.0), rng.uniform(0.3, 1.2))
        lens = rng.uniform(20.0, 70.0)
    else:  # foliage: leaf cards around branches
        n_plants = rng.randint(1, 4)
        for p in range(n_plants):
            cx, cy = rng.uniform(-2.0, 2.0), rng.uniform(1.0, 5.0)
            size = rng.uniform(0.5, 2.5)
            wood = _natural_class(rng, "wood")
            trunk_h = size * rng.uniform(0.2, 0.8)
            objects.append(curve([[cx, cy, 0.0], [cx + rng.uniform(-0.1, 0.1), cy, trunk_h * 0.5],
                                  [cx + rng.uniform(-0.2, 0.2), cy + rng.uniform(-0.2, 0.2), trunk_h]],
                                 size * 0.03, wood))
            leaves = _leaf_card_material(rng)
            crown = (cx, cy, trunk_h + size * 0.35)
            for _ in range(rng.randint(15, 60)):
                card = rng.uniform(0.15, 0.45) * size
                pos = [crown[i] + rng.gauss(0.0, 0.3 * size) for i in range(3)]
                pos[2] = max(pos[2], card * 0.5)
                objects.append(obj({"source": "plane"}, pos, leaves,
                                   rotation=[rng.uniform(0, 2 * math.pi) for _ in range(3)], dims=(card, card, 1.0)))
                if rng.random() < 0.3:  # a twig to it
                    objects.append(curve([crown, pos], size * 0.006, wood, smooth=False))
        location = (rng.uniform(-1.5, 1.5), rng.uniform(-3.0, -0.5), rng.uniform(0.4, 2.0))
        target = (rng.uniform(-1, 1), rng.uniform(2.0, 4.0), rng.uniform(0.5, 1.5))
        lens = rng.uniform(24.0, 70.0)
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, lens, motion=camera_motion(rng, 0.4, 0.05), clip_end=3000.0)
    return spec
