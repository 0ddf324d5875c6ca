"""neon: many small emitters in the dark. Neon tubes (curve tubes of emissive material bent into loops, zigzags,
rectangles and letter-like strokes) on a dark wall, emission strips (thin glowing boxes), strings of 10-200 tiny
point lights sagging between anchors, a wet (glossy) floor reflecting them all, and a few objects catching
the coloured light. The world is nearly black.

Variants: ``neon`` (tubes and strips), ``string`` (strings of tiny lights), ``mixed``.
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _natural_class, base_spec, box, camera, camera_motion, curve, light, mat,
                      obj, prop, r)


def _stroke(rng, cx: float, cz: float, size: float, wall_y: float) -> tuple[list, bool]:
    """A neon shape on the wall plane (x, z) at ``wall_y``: (points, cyclic)."""
    kind = rng.choice(["loop", "zigzag", "rect", "letter", "wave"])
    if kind == "loop":
        n = 12
        a, b = size * rng.uniform(0.5, 1.0), size * rng.uniform(0.5, 1.0)
        return [[cx + a * math.cos(2 * math.pi * k / n), wall_y, cz + b * math.sin(2 * math.pi * k / n)]
                for k in range(n)], True
    if kind == "rect":
        a, b = size * rng.uniform(0.5, 1.2), size * rng.uniform(0.3, 0.8)
        return [[cx - a, wall_y, cz - b], [cx + a, wall_y, cz - b], [cx + a, wall_y, cz + b],
                [cx - a, wall_y, cz + b]], True
    if kind == "zigzag":
        n = rng.randint(3, 8)
        return [[cx - size + 2 * size * k / n, wall_y, cz + size * 0.4 * (1 if k % 2 else -1)]
                for k in range(n + 1)], False
    if kind == "wave":
        n = 16
        return [[cx - size + 2 * size * k / (n - 1), wall_y, cz + size * 0.3 * math.sin(k * rng.uniform(0.5, 1.2))]
                for k in range(n)], False
    return [[cx + rng.uniform(-size, size) * 0.6, wall_y, cz + rng.uniform(-size, size) * 0.6]
            for _ in range(rng.randint(3, 6))], False


@family("neon", weight=0.06, variants=("neon", "string", "mixed"))
def make(ctx) -> dict:
    """Neon tubes, emission strips, strings of many tiny point lights, a wet floor, near-black world."""
    rng = ctx.rng
    variant = rng.choice(["neon", "string", "mixed"])
    spec = base_spec(ctx, variant)
    floor = mat("glossy", _color(rng, sat=(0.0, 0.3), val=(0.02, 0.3)), _loguniform(rng, 0.02, 0.25))
    if rng.random() < 0.5:  # wet stone / asphalt: a texture under the gloss
        floor["texture"] = {"type": "noise", "scale": r(_loguniform(rng, 1.0, 30.0)),
                            "color": _color(rng, sat=(0.0, 0.2), val=(0.02, 0.2)), "detail": r(rng.uniform(2, 8)),
                            "distortion": r(rng.uniform(0, 1))}
    objects = [obj({"source": "plane"}, (0.0, 0.0, 0.0), floor, dims=(100.0, 100.0, 1.0))]
    wall_y = rng.uniform(2.0, 5.0)
    wall = _natural_class(rng, rng.choice(["brick", "plaster", "stone", "wood"]), ground=True)
    wall["color"] = [round(c * rng.uniform(0.1, 0.5), 5) for c in wall["color"]]
    objects.append(obj({"source": "plane"}, (0.0, wall_y, 5.0), wall, rotation=(math.pi / 2, 0.0, 0.0),
                       dims=(100.0, 10.0, 1.0)))
    lights = []
    if variant in ("neon", "mixed"):
        for _ in range(rng.randint(2, 8)):
            color = _color(rng, sat=(0.6, 1.0), val=(0.9, 1.0))
            glow = mat("emissive", color, 0.5, emission=r(_loguniform(rng, 3.0, 60.0), 3))
            pts, cyclic = _stroke(rng, rng.uniform(-3, 3), rng.uniform(0.5, 3.0), rng.uniform(0.2, 0.9),
                                  wall_y - rng.uniform(0.05, 0.15))
            objects.append(curve(pts, _loguniform(rng, 0.006, 0.025), glow, smooth=rng.random() < 0.6, cyclic=cyclic))
        for _ in range(rng.randint(0, 3)):  # emission strips
            color = _color(rng, sat=(0.0, 1.0), val=(0.9, 1.0))
            strip = mat("emissive", color, 0.5, emission=r(_loguniform(rng, 2.0, 30.0), 3))
            length = rng.uniform(0.5, 4.0)
            vertical = rng.random() < 0.4
            dims = (0.03, 0.03, length) if vertical else (length, 0.03, 0.03)
            x = rng.uniform(-3, 3)
            z = rng.uniform(0.2, 3.0) + (length / 2 if vertical else 0.0)
            objects.append(box((x, wall_y - 0.05, z), dims, strip))
    if variant in ("string", "mixed"):
        for _ in range(rng.randint(1, 4)):
            a = (rng.uniform(-5, 0), rng.uniform(-1, wall_y - 0.3), rng.uniform(1.5, 3.5))
            b = (rng.uniform(0, 5), rng.uniform(-1, wall_y - 0.3), rng.uniform(1.5, 3.5))
            sag = rng.uniform(0.1, 1.0)
            n = rng.randint(10, 60)
            color = _color(rng, sat=(0.0, 0.8), val=(0.9, 1.0))
            energy = _loguniform(rng, 0.05, 2.0)
            multi = rng.random() < 0.4
            wire = mat("diffuse", [0.02, 0.02, 0.02], 0.5)
            pts = []
            for k in range(n):
                t = (k + 0.5) / n
                p = [a[i] + (b[i] - a[i]) * t for i in range(3)]
                p[2] -= 4 * sag * t * (1 - t)
                pts.append(p)
                lights.append(light("point", p, energy, _color(rng, sat=(0.5, 1.0), val=(0.9, 1.0)) if multi else color,
                                    _loguniform(rng, 0.004, 0.02)))
            objects.append(curve([a] + pts + [b], 0.002, wire, smooth=False))
    for _ in range(rng.randint(1, 5)):
        objects.append(prop(rng, ctx, (rng.uniform(-2.5, 2.5), rng.uniform(-0.5, wall_y - 0.8)),
                            _loguniform(rng, 0.2, 1.2)))
    spec["world"] = {"kind": "color", "color": _color(rng, sat=(0.0, 0.8), val=(0.1, 0.6)),
                     "horizon": [0.0, 0.0, 0.0], "strength": r(_loguniform(rng, 0.0005, 0.02), 5)}
    lens = rng.uniform(18.0, 60.0)
    target = (rng.uniform(-1.5, 1.5), wall_y * rng.uniform(0.4, 0.9), rng.uniform(0.5, 2.0))
    location = (rng.uniform(-2, 2), -rng.uniform(2.0, 7.0) * lens / 30.0, rng.uniform(0.2, 2.0))
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, lens, motion=camera_motion(rng, 0.4, 0.06), clip_end=1000.0)
    return spec
