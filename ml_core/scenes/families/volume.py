"""volume: participating media. Fog: a homogeneous Principled Volume box filling the scene (thin to thick),
lit by a spot or the sun through gaps so light shafts show; smoke: a box of noise-textured density (wisps,
fading out towards the box's faces) lit from the side, beside solid objects, ray-marched
(``spec["cycles"]["volume_biased"]``: Blender 5's unbiased volumes cost ~7x more on textured density). Objects
stand on a floor in both.

Variants: ``fog``, ``smoke``.
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _natural_class, base_spec, box, camera, camera_motion, light, look_from,
                      mat, obj, prop, r, warm_white)


def volume_material(color, density: float, anisotropy: float, noise: dict | None = None) -> dict:
    m = mat("volume", color, 1.0)
    m["volume"] = {"color": [round(c, 5) for c in color], "density": r(density, 5), "anisotropy": r(anisotropy),
                   "noise": noise}
    return m


@family("volume", weight=0.08, variants=("fog", "smoke"))
def make(ctx) -> dict:
    """Fog (a homogeneous volume with light shafts) and smoke (noise-textured density)."""
    rng = ctx.rng
    variant = rng.choice(["fog", "smoke"])
    spec = base_spec(ctx, variant)
    floor = _natural_class(rng, rng.choice(["stone", "wood", "tiles", "grass"]), ground=True)
    objects = [obj({"source": "plane"}, (0.0, 0.0, 0.0), floor, dims=(200.0, 200.0, 1.0))]
    for _ in range(rng.randint(2, 7)):
        objects.append(prop(rng, ctx, (rng.uniform(-3, 3), rng.uniform(-1, 5)), _loguniform(rng, 0.3, 1.8)))
    lights = []
    if variant == "fog":
        extent = rng.uniform(8.0, 20.0)
        density = _loguniform(rng, 0.01, 0.1)  # per metre; thicker fog needs many volume bounces (cost)
        objects.append(box((0.0, 2.0, extent * 0.25 - 0.01), (extent * 2, extent * 2, extent * 0.5),
                           volume_material(_color(rng, sat=(0.0, 0.2), val=(0.8, 1.0)), density,
                                           rng.uniform(0.0, 0.8))))
        if rng.random() < 0.6:  # a screen with slats between the light and the scene: shafts
            slat = mat("diffuse", _color(rng, sat=(0.0, 0.3), val=(0.1, 0.6)), 0.8)
            yw = rng.uniform(4.0, 7.0)
            n = rng.randint(3, 8)
            width = rng.uniform(0.2, 0.6)
            for k in range(n):
                objects.append(box((-3.0 + k * 6.0 / n, yw, 3.0), (width, 0.1, 6.0), slat))
            loc = (rng.uniform(-4, 4), yw + rng.uniform(2.0, 5.0), rng.uniform(3.0, 6.0))
        else:
            loc = look_from((0.0, 2.0, 0.0), rng.uniform(4.0, 8.0), rng.uniform(0.5, 1.2), rng.uniform(0, 2 * math.pi))
        kind = rng.choice(["spot", "point", "area"])
        lights.append(light(kind, loc, _loguniform(rng, 300, 3000), warm_white(rng), rng.uniform(0.02, 0.3),
                            target=(rng.uniform(-1, 1), 1.0, 0.0), spot_angle=rng.uniform(0.4, 1.0)))
    else:
        for _ in range(rng.randint(1, 2)):
            size = rng.uniform(0.8, 3.0)
            noise = {"scale": r(rng.uniform(0.8, 5.0)), "detail": r(rng.uniform(1.0, 4.0)),
                     "distortion": r(rng.uniform(0.0, 1.5)), "threshold": r(rng.uniform(0.4, 0.55)),
                     "softness": r(rng.uniform(0.05, 0.3))}
            color = _color(rng, sat=(0.0, 0.3), val=(0.5, 1.0))
            objects.append(box((rng.uniform(-1.5, 1.5), rng.uniform(0.0, 3.0), size * 0.5),
                               (size, size * rng.uniform(0.7, 1.3), size),
                               volume_material(color, _loguniform(rng, 2.0, 25.0), rng.uniform(-0.2, 0.6), noise),
                               rot_z=rng.uniform(0, math.pi)))
        # ray-marched (Blender's method before 5.0, still an option): the 5.0 default costs ~7x more here
        spec["cycles"] = {"volume_biased": True}
        lights.append(light("area", look_from((0.0, 1.5, 0.5), rng.uniform(3.0, 6.0), rng.uniform(0.2, 1.0),
                                              rng.uniform(0, 2 * math.pi)),
                            _loguniform(rng, 200, 1500), warm_white(rng), rng.uniform(0.3, 2.0),
                            target=(0.0, 1.5, 0.5)))
    if rng.random() < 0.5:
        lights.append(light("point", (rng.uniform(-3, 3), rng.uniform(0, 5), rng.uniform(0.3, 3.0)),
                            _loguniform(rng, 10, 200), _color(rng, sat=(0.0, 0.8), val=(0.9, 1.0)),
                            _loguniform(rng, 0.01, 0.2)))
    spec["world"] = {"kind": "gradient", "color": _color(rng, sat=(0.0, 0.6), val=(0.1, 0.8)),
                     "horizon": _color(rng, sat=(0.0, 0.4), val=(0.1, 0.8)), "strength": r(_loguniform(rng, 0.01, 0.3))}
    lens = rng.uniform(20.0, 60.0)
    target = (rng.uniform(-1, 1), rng.uniform(1.0, 3.0), rng.uniform(0.3, 1.2))
    location = look_from(target, rng.uniform(4.0, 9.0) * lens / 35.0, rng.uniform(0.05, 0.5),
                         -math.pi / 2 + rng.uniform(-0.6, 0.6))
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, lens, motion=camera_motion(rng, 0.4, 0.08), clip_end=1000.0)
    return spec
