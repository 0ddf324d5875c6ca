"""dof: strong depth of field. A wide aperture (f/0.5-2.8) on a 35-135 mm lens focused on a subject 0.3-2 m
away, with a background 3-40 m behind: objects, a textured wall or ground, and small bright emitters that turn
into bokeh discs; or the focus far and a foreground object close to the lens, out of focus.

Variants: ``near`` (focus on the near subject, background blurred), ``far`` (focus far, foreground blurred).
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _material, _natural_class, base_spec, camera, camera_motion, light, obj,
                      prop, r, random_or_natural, warm_white)


@family("dof", weight=0.06, variants=("near", "far"))
def make(ctx) -> dict:
    """A wide aperture focused on a near (or far) object: strong blur in front or behind, bokeh lights."""
    rng = ctx.rng
    variant = rng.choices(["near", "far"], weights=[0.7, 0.3])[0]
    spec = base_spec(ctx, variant)
    ground = random_or_natural(rng, rng.choice(["wood", "stone", "grass", "tiles"]), 0.6, ground=True)
    if ground["kind"] in ("glass", "emissive"):
        ground = _natural_class(rng, "stone", ground=True)
    objects = [obj({"source": "plane"}, (0.0, 0.0, 0.0), ground, dims=(400.0, 400.0, 1.0))]
    lens = _loguniform(rng, 35.0, 135.0)
    cam_h = rng.uniform(0.15, 1.6)
    location = (0.0, 0.0, cam_h)
    heading = math.pi / 2 + rng.uniform(-0.3, 0.3)
    near_d = _loguniform(rng, 0.3, 2.0) * lens / 50.0
    half_fov = math.atan(18.0 / lens)  # half the horizontal field of view (36 mm sensor)
    # the subject, on a stand so it sits about the camera's height when the camera is high
    size = near_d * 36.0 / lens * rng.uniform(0.3, 0.6)  # a fraction of the frame width at its distance
    sx, sy = near_d * math.cos(heading), near_d * math.sin(heading)
    stand = max(cam_h - size * 0.5 + rng.uniform(-0.2, 0.1) * near_d * 36.0 / lens, 0.0)
    if stand > 0.02:
        objects.append(obj({"source": "primitive", "name": "cylinder", "smooth": True}, (sx, sy, stand / 2),
                           _material(rng), dims=(size * 0.8, size * 0.8, stand)))
    objects.append(prop(rng, ctx, (sx, sy), size, z0=stand))
    subject = objects[-1]["location"]

    def in_view(near: float, far: float, spread: float = 1.3) -> tuple[float, float, float]:
        """A distance and direction inside the camera's view (a bit beyond its edges)."""
        return _loguniform(rng, near, far), heading + rng.uniform(-spread, spread) * half_fov, \
            rng.uniform(-0.8, 0.8) * half_fov

    # the background: things far behind, a wall maybe, bright little emitters for bokeh
    background = []
    for _ in range(rng.randint(3, 10)):
        d, a, _e = in_view(3.0, 40.0)
        background.append(len(objects))
        objects.append(prop(rng, ctx, (d * math.cos(a), d * math.sin(a)), _loguniform(rng, 0.3, 3.0) * d / 10.0))
    if rng.random() < 0.5:
        d = _loguniform(rng, 4.0, 30.0)
        wall = random_or_natural(rng, rng.choice(["brick", "plaster", "wood", "stone"]), 0.7, ground=True)
        objects.append(obj({"source": "plane"}, (d * math.cos(heading), d * math.sin(heading), 10.0), wall,
                           rotation=(math.pi / 2, 0.0, heading - math.pi / 2), dims=(200.0, 20.0, 1.0)))
    lights = []
    for _ in range(rng.randint(0, 25)):  # bokeh: tiny bright sphere lights far behind the subject
        d, a, e = in_view(3.0, 30.0)
        lights.append(light("point", (d * math.cos(a), d * math.sin(a), max(cam_h + d * math.tan(e), 0.1)),
                            _loguniform(rng, 1.0, 40.0) * (d / 10.0) ** 2, _color(rng, sat=(0.0, 0.9), val=(0.9, 1.0)),
                            _loguniform(rng, 0.005, 0.05) * d / 10.0))
    key = light("area", (sx + rng.uniform(-2, 2), sy - rng.uniform(0.5, 2.0), cam_h + rng.uniform(0.5, 2.5)),
                _loguniform(rng, 50, 500) * near_d, warm_white(rng), rng.uniform(0.3, 1.5), target=subject)
    lights.append(key)
    if rng.random() < 0.6:
        spec["world"] = {"kind": "gradient", "color": _color(rng, sat=(0.0, 0.7), val=(0.2, 0.9)),
                         "horizon": _color(rng, sat=(0.0, 0.5)), "strength": r(_loguniform(rng, 0.05, 1.0))}
    else:
        spec["world"] = {"kind": "color", "color": _color(rng, sat=(0.0, 0.5), val=(0.05, 0.5)),
                         "horizon": [0.0, 0.0, 0.0], "strength": r(_loguniform(rng, 0.01, 0.2))}
    target = list(subject)
    if variant == "far":  # focus on a background thing; the near subject is the blurred foreground
        focus_point = objects[rng.choice(background)]["location"]
        target = [(a + b) / 2 for a, b in zip(subject, focus_point)]
    else:
        focus_point = subject
    fstop = _loguniform(rng, 0.5, 2.8)
    dof = {"fstop": r(fstop, 3), "focus_distance": r(math.dist(location, focus_point))}
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, lens, dof=dof, motion=camera_motion(rng, 0.3, 0.02),
                            clip_end=1000.0)
    return spec
