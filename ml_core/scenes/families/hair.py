"""hair: Blender hair curves (``bpy.data.hair_curves``, rendered by Cycles as 3D curves), grown on an object's
surface by ``ml_core.scenes.build._hair`` from the spec's parameters (count, length, radius, tilt, droop, curl,
seed), so the spec stays small and the strands are exact per seed. Fur balls and furry blobs (short dense hair),
heads with long drooping hair, grass patches (green strands growing up from a ground patch). Principled Hair
BSDF with melanin (blond to black, red), or a plain Principled BSDF for grass and dyed fur.

Variants: ``fur``, ``long``, ``grass``.
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _material, _natural_class, base_spec, camera, camera_motion, light,
                      look_from, mat, obj, prop, r, random_or_natural, sky_world, warm_white)


def hair_material(rng) -> dict:
    if rng.random() < 0.75:
        m = mat("hair", [0.5, 0.5, 0.5], 0.3)
        m["hair_bsdf"] = {"melanin": r(rng.uniform(0.05, 1.0)), "redness": r(rng.uniform(0.0, 1.0)),
                          "roughness": r(rng.uniform(0.15, 0.5)), "radial_roughness": r(rng.uniform(0.2, 0.6)),
                          "random_color": r(rng.uniform(0.0, 0.3)),
                          "tint": [1.0, 1.0, 1.0] if rng.random() < 0.8
                          else _color(rng, sat=(0.2, 0.8), val=(0.8, 1.0))}
        return m
    return mat("diffuse", _color(rng, sat=(0.0, 0.9), val=(0.2, 1.0)), rng.uniform(0.3, 0.8))


def hair_params(rng, count: int, length: float, radius: float, material: dict, tilt=(0.0, 0.6),
                droop=(0.0, 0.3), curl=(0.0, 0.1), segments: int = 6, up_only: bool = False) -> dict:
    h = {"count": count, "segments": segments, "length": r(length, 5), "radius": r(radius, 6),
         "tilt": r(rng.uniform(*tilt)), "droop": r(rng.uniform(*droop)), "curl": r(rng.uniform(*curl)),
         "curl_turns": r(rng.uniform(0.5, 3.0)), "tip": r(rng.uniform(0.1, 0.5)), "seed": rng.randrange(2**31),
         "material": material}
    if up_only:
        h["up_only"] = True
    return h


@family("hair", weight=0.08, variants=("fur", "long", "grass"))
def make(ctx) -> dict:
    """Hair curves: fur balls, long hair on heads, grass."""
    rng = ctx.rng
    variant = rng.choices(["fur", "long", "grass"], weights=[0.45, 0.3, 0.25])[0]
    spec = base_spec(ctx, variant)
    floor = random_or_natural(rng, rng.choice(["wood", "stone", "tiles"]), 0.6, ground=True)
    if floor["kind"] in ("glass", "emissive"):
        floor = _natural_class(rng, "wood", ground=True)
    objects = [obj({"source": "plane"}, (0.0, 0.0, 0.0), floor, dims=(60.0, 60.0, 1.0))]
    if variant == "grass":
        patch = _natural_class(rng, "grass", ground=True)
        grass = mat("diffuse", _natural_class(rng, "foliage")["color"], rng.uniform(0.4, 0.8))
        w, d = rng.uniform(1.0, 3.0), rng.uniform(1.0, 3.0)
        density = rng.uniform(1500, 4000)
        objects.append(obj({"source": "plane"}, (0.0, 0.0, 0.001), patch, dims=(w, d, 1.0),
                           hair=hair_params(rng, int(min(density * w * d, 15000)), rng.uniform(0.04, 0.2),
                                            rng.uniform(0.001, 0.003), grass, tilt=(0.1, 0.5), droop=(0.0, 0.3),
                                            curl=(0.0, 0.05), segments=4, up_only=True)))
        for _ in range(rng.randint(0, 3)):
            objects.append(prop(rng, ctx, (rng.uniform(-w, w) * 0.4, rng.uniform(-d, d) * 0.4),
                                rng.uniform(0.1, 0.4)))
        extent = max(w, d) * 0.5
    else:
        n = rng.randint(1, 3)
        extent = 0.0
        for i in range(n):
            s = rng.uniform(0.25, 0.7)
            x, y = (i - (n - 1) / 2) * 0.8, rng.uniform(-0.3, 0.3)
            if variant == "fur":
                base = {"source": "trimesh", "name": rng.choice(["blob", "capsule", "torus"]),
                        "seed": rng.randrange(2**31), "smooth": True} if rng.random() < 0.6 else \
                    {"source": "primitive", "name": "uv_sphere", "smooth": True}
                hair = hair_params(rng, int(_loguniform(rng, 2000, 12000)), s * rng.uniform(0.05, 0.25),
                                   rng.uniform(0.0015, 0.005), hair_material(rng), tilt=(0.1, 0.8), droop=(0.0, 0.4),
                                   curl=(0.0, 0.2))
                skin = mat("diffuse", _color(rng, sat=(0.0, 0.4), val=(0.1, 0.5)), 0.8)
            else:  # long hair on a head: strands from the upper part, drooping well below it
                base = {"source": "primitive", "name": rng.choice(["uv_sphere", "monkey"]), "smooth": True}
                hair = hair_params(rng, int(_loguniform(rng, 1500, 6000)), s * rng.uniform(0.4, 1.2),
                                   rng.uniform(0.001, 0.003), hair_material(rng), tilt=(0.2, 0.8), droop=(0.8, 2.0),
                                   curl=(0.0, 0.15), segments=10)
                skin = _natural_class(rng, "skin")
            objects.append(obj(base, (x, y, s * 0.5 + (0.0 if variant == "fur" else s * rng.uniform(0.3, 1.0))),
                               skin, scale=s, rotation=(0.0, 0.0, rng.uniform(0, 2 * math.pi)), hair=hair))
            extent = max(extent, abs(x) + s)
            if variant == "long" and rng.random() < 0.7:  # a neck / stand under the head
                h = objects[-1]["location"][2] - s * 0.4
                objects.append(obj({"source": "primitive", "name": "cylinder", "smooth": True}, (x, y, h / 2),
                                   _material(rng), dims=(s * 0.3, s * 0.3, h)))
    centre = (0.0, 0.0, 0.35)
    key = look_from(centre, rng.uniform(2.0, 4.0), rng.uniform(0.3, 1.0), rng.uniform(0, 2 * math.pi))
    lights = [light("area", key, _loguniform(rng, 100, 800), warm_white(rng), rng.uniform(0.5, 2.0), target=centre)]
    if rng.random() < 0.6:  # rim light: hair shines against it
        kind = rng.choice(["area", "spot"])
        lights.append(light(kind, look_from(centre, rng.uniform(1.5, 3.0), rng.uniform(0.2, 0.8),
                                            math.pi / 2 + rng.uniform(-0.8, 0.8)),
                            _loguniform(rng, 100, 800), warm_white(rng), rng.uniform(0.1, 1.0), target=centre,
                            spot_angle=rng.uniform(0.5, 1.2)))
    if rng.random() < 0.5:
        spec["world"] = sky_world(rng, rng.uniform(0.2, 1.0), rng.uniform(0, 2 * math.pi), _loguniform(rng, 0.1, 0.6))
    else:
        spec["world"] = {"kind": "gradient", "color": _color(rng, sat=(0.0, 0.6), val=(0.2, 0.9)),
                         "horizon": _color(rng, sat=(0.0, 0.4)), "strength": r(_loguniform(rng, 0.05, 0.6))}
    lens = rng.uniform(30.0, 100.0)
    target = (rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(0.15, 0.5))
    location = look_from(target, (0.6 + extent * rng.uniform(1.0, 2.0)) * lens / 40.0, rng.uniform(0.05, 0.7),
                         -math.pi / 2 + rng.uniform(-0.8, 0.8))
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, lens, motion=camera_motion(rng, 0.3, 0.03))
    for o in objects[1:]:  # hairy things move and turn, their strands with them
        if o.get("hair") and rng.random() < 0.4:
            o["motion"] = {"move": [r(rng.uniform(-0.03, 0.03)) for _ in range(2)] + [0.0],
                           "turn": [0.0, 0.0, r(rng.uniform(-0.15, 0.15))]}
    return spec
