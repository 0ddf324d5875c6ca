"""Draws the family modules share: materials, objects, lights, cameras, motion, all as plain spec data.

Every function takes the family's ``random.Random`` first; numbers are rounded (4 decimals) so specs stay short
and JSON round-trips exactly.
"""
from __future__ import annotations

import math
import random

from ..draws import _color, _loguniform, _weighted
from ..palette import _natural_class
from ..spec import _material, _motion, _shape
from . import FAMILY_SPEC_VERSION



def r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


def rv(xs, nd: int = 4) -> list[float]:
    return [round(float(x), nd) for x in xs]


def base_spec(ctx, variant: str) -> dict:
    frames = ctx.frames
    if frames < 1:
        from ..meshes import SceneError
        raise SceneError(f"frames must be >= 1, got {frames}")
    return {"version": FAMILY_SPEC_VERSION, "seed": ctx.seed, "variant": variant, "frames": frames,
            "frame_still": (frames + 1) // 2, "ground": None}


def mat(kind: str = "diffuse", color=(0.5, 0.5, 0.5), roughness: float = 0.5, **extra) -> dict:
    """A material with every key the builder reads (classic keys + ``extra`` family keys)."""
    m = {"kind": kind, "color": rv(color, 5), "roughness": r(roughness), "metallic": 0.0, "ior": 1.5,
         "transmission": 0.0, "subsurface": 0.0, "coat": 0.0, "emission": 0.0, "texture": None, "bump": 0.0}
    if kind == "metal":
        m["metallic"] = 1.0
    elif kind == "glass":
        m["transmission"] = 1.0
    elif kind == "coat":
        m["coat"] = 1.0
    elif kind == "subsurface":
        m["subsurface"] = 1.0
    m.update(extra)
    return m


def random_or_natural(rng: random.Random, natural: str | None = None, p_natural: float = 0.6,
                      ground: bool = False) -> dict:
    """A classic random material, or (``p_natural``) one of the natural palette's class ``natural``."""
    if natural and rng.random() < p_natural:
        return _natural_class(rng, natural, ground=ground)
    return _material(rng)


def obj(shape: dict, location, material: dict, rotation=(0.0, 0.0, 0.0), scale: float = 1.0, dims=None,
        motion=None, **extra) -> dict:
    o = {"shape": shape, "location": rv(location), "rotation": rv(rotation), "scale": r(scale),
         "material": material, "motion": motion}
    if dims is not None:
        o["dims"] = rv(dims)
    o.update(extra)
    return o


def box(centre, dims, material: dict, rot_z: float = 0.0, motion=None, bevel_smooth: bool = False) -> dict:
    """An axis-aligned (then turned about Z) box of ``dims`` metres centred at ``centre``."""
    return obj({"source": "primitive", "name": "cube", "smooth": bevel_smooth}, centre, material,
               rotation=(0.0, 0.0, rot_z), dims=dims, motion=motion)


def curve(points, radius: float, material: dict, smooth: bool = True, cyclic: bool = False, motion=None) -> dict:
    return obj({"source": "curve", "points": [rv(p) for p in points], "radius": r(radius, 5), "smooth": smooth,
                "cyclic": cyclic}, (0.0, 0.0, 0.0), material, motion=motion)


def lathe(profile, location, material: dict, segments: int = 48, smooth: bool = True, motion=None) -> dict:
    return obj({"source": "lathe", "profile": [rv(p, 5) for p in profile], "segments": segments,
                "smooth": smooth}, location, material, motion=motion)


def prop(rng: random.Random, ctx, location_xy, size: float, z0: float = 0.0, material: dict | None = None,
         motion_prob: float = 0.4) -> dict:
    """One classic-style shape (primitive, trimesh or mesh file) of ``size`` standing at ``location_xy``."""
    shape = _shape(rng, list(ctx.meshes))
    upright = rng.random() < 0.7
    return obj(shape, (location_xy[0], location_xy[1], z0 + size * 0.5), material or _material(rng),
               rotation=(0.0, 0.0, rng.uniform(0, 2 * math.pi)) if upright
               else [rng.uniform(0, 2 * math.pi) for _ in range(3)],
               scale=size, motion=_motion(rng, motion_prob, 0.3 * size + 0.05, 12.0))


def light(kind: str, location, energy: float, color=(1.0, 1.0, 1.0), size: float = 0.1, target=None,
          spot_angle: float = 0.8, **extra) -> dict:
    li = {"type": kind, "location": rv(location), "energy": r(energy, 3), "color": rv(color, 5),
          "size": r(size, 5), "spot_angle": r(spot_angle)}
    if target is not None:
        li["target"] = rv(target)
    li.update(extra)
    return li


def warm_white(rng: random.Random) -> list[float]:
    """Light colours: tungsten-warm to daylight to slightly cool (linear)."""
    import colorsys

    from ..draws import _srgb_to_linear

    hue = rng.uniform(0.05, 0.12) if rng.random() < 0.65 else rng.uniform(0.55, 0.62)
    rgb = colorsys.hsv_to_rgb(hue, rng.uniform(0.0, 0.35), 1.0)
    return [round(_srgb_to_linear(x), 5) for x in rgb]


def look_from(target, distance: float, elevation: float, azimuth: float) -> list[float]:
    return rv([target[0] + distance * math.cos(elevation) * math.cos(azimuth),
               target[1] + distance * math.cos(elevation) * math.sin(azimuth),
               target[2] + distance * math.sin(elevation)])


def camera(location, target, lens: float, dof=None, motion=None, clip_end: float | None = None) -> dict:
    cam = {"location": rv(location), "target": rv(target), "lens": r(lens, 3), "dof": dof, "motion": motion}
    if clip_end:
        cam["clip_end"] = r(clip_end, 1)
    return cam


def camera_motion(rng: random.Random, prob: float, move: float, target_move: float | None = None) -> dict | None:
    """A camera drift per frame step (up to ``move`` metres per axis), like the classic camera's."""
    if rng.random() >= prob:
        return None
    tm = move / 3 if target_move is None else target_move
    return {"move": rv([rng.uniform(-move, move) for _ in range(3)]),
            "target_move": rv([rng.uniform(-tm, tm) for _ in range(3)])}


def sun_direction(elevation: float, azimuth: float) -> list[float]:
    """Unit vector towards the sun."""
    return rv([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation)],
              6)


#: Sky Texture model -> strength giving a mean sky radiance of about 1 (measured at a 10 degree sun, no disc)
SKY_STRENGTH = {"SINGLE_SCATTERING": 0.43, "MULTIPLE_SCATTERING": 0.35, "HOSEK_WILKIE": 20.0, "PREETHAM": 2.7}


def sky_world(rng: random.Random, elevation: float, azimuth: float, radiance: float) -> dict:
    """A world of Blender's Sky Texture with the sun at (``elevation``, ``azimuth`` counter-clockwise from +X),
    without its sun disc (the sun is a sun lamp of the spec), about ``radiance`` bright on average. The physical
    (Nishita-style) single and multiple scattering models or the analytic Hosek-Wilkie / Preetham ones."""
    kind = rng.choices(list(SKY_STRENGTH), weights=[0.35, 0.25, 0.25, 0.15])[0]
    sky = {"type": kind}
    if kind in ("HOSEK_WILKIE", "PREETHAM"):
        sky.update(sun_direction=sun_direction(elevation, azimuth), turbidity=r(rng.uniform(2.0, 6.0)),
                   ground_albedo=r(rng.uniform(0.1, 0.5)))
    else:  # these measure the sun's rotation clockwise from +Y (checked by rendering)
        sky.update(sun_elevation=r(elevation, 5), sun_rotation=r((math.pi / 2 - azimuth) % (2 * math.pi), 5),
                   altitude=r(rng.uniform(0.0, 800.0), 1), air=r(rng.uniform(0.6, 1.6)),
                   aerosol=r(rng.uniform(0.3, 3.0)), ozone=r(rng.uniform(0.5, 1.5)))
    return {"kind": "sky", "sky": sky, "color": [0.2, 0.35, 0.7], "horizon": [0.7, 0.75, 0.8],
            "strength": r(radiance * SKY_STRENGTH[kind])}


def floor_material(rng: random.Random) -> dict:
    """A floor: wood, tiles, stone or a classic random material."""
    return random_or_natural(rng, rng.choice(["wood", "tiles", "stone"]), 0.75, ground=True)


def wall_material(rng: random.Random) -> dict:
    if rng.random() < 0.7:
        return _natural_class(rng, _weighted(rng, {"plaster": 0.55, "brick": 0.2, "wood": 0.1, "stone": 0.15}),
                              ground=True)
    m = _material(rng)
    if m["kind"] in ("glass", "emissive", "metal"):
        m = mat("diffuse", _color(rng, sat=(0.0, 0.5), val=(0.3, 0.9)), rng.uniform(0.6, 1.0))
    return m
