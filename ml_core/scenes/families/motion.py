"""motion: large camera and object motion with occlusion. A layout like the classic one (shapes on a ground, a
wall behind sometimes) plus 1-3 foreground occluders (posts, panels, passing shapes) close to the camera that
sweep across the view, objects that move fast and spin, and a camera that pans, dollies or trucks: between
frames, whole regions appear and disappear behind the occluders. A still (one frame) is a scene with big
foreground occluders; the inbetween and denoise animations get the motion.

Variants: ``pan`` (the camera's target swings), ``track`` (the camera slides sideways), ``still_camera`` (only
the objects move).
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _material, _motion, _natural_class, _shape, base_spec, camera, light,
                      look_from, obj, prop, r, rv, warm_white)


@family("motion", weight=0.04, variants=("pan", "track", "still_camera"))
def make(ctx) -> dict:
    """Big camera and object motion, foreground occluders crossing the view."""
    rng = ctx.rng
    variant = rng.choice(["pan", "track", "still_camera"])
    spec = base_spec(ctx, variant)
    ground = _natural_class(rng, rng.choice(["grass", "stone", "tiles", "wood", "sand"]), ground=True) \
        if rng.random() < 0.6 else _material(rng)
    objects = [obj({"source": "plane"}, (0.0, 0.0, 0.0), ground, dims=(200.0, 200.0, 1.0))]
    if rng.random() < 0.4:
        wall = _natural_class(rng, rng.choice(["brick", "plaster", "stone"]), ground=True)
        objects.append(obj({"source": "plane"}, (0.0, rng.uniform(4, 8), 5.0), wall, rotation=(math.pi / 2, 0, 0),
                           dims=(200.0, 10.0, 1.0)))
    for _ in range(rng.randint(3, 8)):
        o = prop(rng, ctx, (rng.uniform(-3, 3), rng.uniform(0, 4)), _loguniform(rng, 0.3, 1.5), motion_prob=0.0)
        o["motion"] = _motion(rng, 0.8, 0.5, 25.0)
        objects.append(o)
    lens = _loguniform(rng, 18.0, 60.0)
    target = [rng.uniform(-1, 1), rng.uniform(1, 2.5), rng.uniform(0.2, 1.0)]
    location = look_from(target, rng.uniform(5.0, 9.0) * lens / 30.0, rng.uniform(0.05, 0.5),
                         -math.pi / 2 + rng.uniform(-0.5, 0.5))
    # occluders between the camera and the layout, moving across the line of sight
    for _ in range(rng.randint(1, 3)):
        t = rng.uniform(0.15, 0.6)
        p = [location[i] + (target[i] - location[i]) * t for i in range(3)]
        side = [-(target[1] - location[1]), target[0] - location[0]]
        norm = math.hypot(*side) or 1.0
        side = [side[0] / norm, side[1] / norm]
        speed = rng.uniform(0.1, 0.6) * rng.choice([-1, 1])
        kind = rng.choice(["post", "panel", "shape"])
        m = _material(rng)
        move = rv([side[0] * speed, side[1] * speed, 0.0])
        if kind == "post":
            h = location[2] + rng.uniform(1.0, 3.0)
            objects.append(obj({"source": "primitive", "name": "cylinder", "smooth": True}, (p[0], p[1], h / 2), m,
                               dims=(rng.uniform(0.05, 0.3),) * 2 + (h,),
                               motion={"move": move, "turn": [0.0, 0.0, 0.0]}))
        elif kind == "panel":
            w, h = rng.uniform(0.2, 1.0), location[2] + rng.uniform(0.5, 2.0)
            objects.append(obj({"source": "primitive", "name": "cube", "smooth": False}, (p[0], p[1], h / 2), m,
                               rotation=(0.0, 0.0, math.atan2(side[1], side[0])), dims=(w, 0.05, h),
                               motion={"move": move, "turn": [0.0, 0.0, 0.0]}))
        else:
            s = rng.uniform(0.2, 0.6) * t * 5
            objects.append(obj(_shape(rng, list(ctx.meshes)), (p[0], p[1], max(p[2], s * 0.5)), m, scale=s,
                               rotation=[rng.uniform(0, 2 * math.pi) for _ in range(3)],
                               motion={"move": move, "turn": rv([rng.uniform(-0.4, 0.4) for _ in range(3)])}))
    lights = []
    for _ in range(rng.randint(1, 3)):
        lights.append(light(rng.choice(["area", "sun", "point"]),
                            look_from((0, 1, 0), rng.uniform(3, 9), rng.uniform(0.3, 1.3), rng.uniform(0, 2 * math.pi)),
                            1.0, warm_white(rng), rng.uniform(0.05, 2.0), target=(0.0, 1.0, 0.0)))
        li = lights[-1]
        li["energy"] = r({"area": _loguniform(rng, 200, 2000), "sun": _loguniform(rng, 1.5, 5.0),
                          "point": _loguniform(rng, 200, 2000)}[li["type"]], 3)
    spec["world"] = {"kind": "gradient", "color": _color(rng, sat=(0.0, 0.7), val=(0.2, 0.9)),
                     "horizon": _color(rng, sat=(0.0, 0.4)), "strength": r(_loguniform(rng, 0.05, 1.0))}
    if variant == "pan":
        cam_motion = {"move": rv([rng.uniform(-0.1, 0.1) for _ in range(3)]),
                      "target_move": rv([rng.uniform(-0.8, 0.8), rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2)])}
    elif variant == "track":
        mv = [rng.uniform(-0.6, 0.6), rng.uniform(-0.3, 0.3), rng.uniform(-0.1, 0.1)]
        cam_motion = {"move": rv(mv), "target_move": rv([m * rng.uniform(0.3, 1.0) for m in mv])}
    else:
        cam_motion = None
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, lens, motion=cam_motion, clip_end=1000.0)
    return spec
