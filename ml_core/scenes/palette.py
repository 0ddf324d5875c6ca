"""The natural palette: colours that follow from what a grey image shows.

The default palette draws every hue uniformly, so nothing in a grey render predicts its colour (right for
the denoiser and up-res, which must keep any colour; useless for learning automatic colour). With
``palette="natural"`` materials come from classes whose colour goes with their look in grey: the texture
type and scale, roughness, metal or subsurface, and their place (ground, wall, sky). Hue, saturation and
value are jittered within each class, so it is no lookup table; a minority of plain painted/plastic objects
keep a random hue (that is what hints are for).

:func:`natural_palette` redraws a layout's colours in place (``make_spec(palette="natural")`` calls it with a
generator of its own, after every layout draw, so a seed keeps its layout whatever the palette).
"""
from __future__ import annotations

import colorsys
import random

from .draws import _loguniform, _srgb_to_linear, _weighted
from .meshes import SceneError

PALETTES = ("random", "natural")


def _hsv(rng: random.Random, hue, sat, val) -> list[float]:
    """A colour drawn from HSV ranges (display-referred; a hue range may wrap past 1), as linear Rec.709."""
    h = rng.uniform(*hue) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, min(max(rng.uniform(*sat), 0.0), 1.0), min(max(rng.uniform(*val), 0.0), 1.0))
    return [round(_srgb_to_linear(x), 5) for x in (r, g, b)]


def _shade(rng: random.Random, color: list[float], lo: float, hi: float, sat: float = 1.0) -> list[float]:
    """``color`` (linear) darker or lighter by a random factor in [lo, hi], its saturation scaled by ``sat``:
    the second colour of a texture, a variation of the first."""
    srgb = [(x * 12.92 if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055) for x in color]
    h, s, v = colorsys.rgb_to_hsv(*srgb)
    r, g, b = colorsys.hsv_to_rgb((h + rng.uniform(-0.015, 0.015)) % 1.0, min(1.0, s * sat),
                                  min(1.0, v * rng.uniform(lo, hi)))
    return [round(_srgb_to_linear(x), 5) for x in (r, g, b)]


def _natural_tex(rng: random.Random, kind: str, color, scale, detail=(0.0, 4.0), distortion=(0.0, 1.0)) -> dict:
    return {"type": kind, "scale": round(_loguniform(rng, *scale), 4), "color": color,
            "detail": round(rng.uniform(*detail), 3), "distortion": round(rng.uniform(*distortion), 3)}


def _base(kind: str, color, roughness: float, **extra) -> dict:
    mat = {"kind": kind, "color": color, "roughness": round(roughness, 4), "metallic": 0.0, "ior": 1.5,
           "transmission": 0.0, "subsurface": 0.0, "coat": 0.0, "emission": 0.0, "texture": None, "bump": 0.0}
    mat.update(extra)
    return mat


def _natural_class(rng: random.Random, name: str, ground: bool = False) -> dict:
    """One material of class ``name``; ``ground``: sized for a 60 m ground plane or wall (coarser textures)."""
    big = 0.25 if ground else 1.0  # ground textures are laid in object space over a 60 m plane
    if name == "wood":
        color = _hsv(rng, (0.045, 0.1), (0.45, 0.8), (0.3, 0.75))
        mat = _base(rng.choice(["diffuse", "coat", "diffuse"]), color, rng.uniform(0.35, 0.85))
        mat["coat"] = 1.0 if mat["kind"] == "coat" else 0.0
        mat["texture"] = _natural_tex(rng, "wave", _shade(rng, color, 0.45, 0.75, 1.1),
                                      (1.0 * big * 2, 5.0 * big * 2), (1.0, 6.0), (2.0, 10.0))
        mat["bump"] = round(rng.uniform(0.0, 0.15), 3)
    elif name == "foliage":
        color = _hsv(rng, (0.2, 0.38), (0.45, 0.85), (0.18, 0.6))
        mat = _base(rng.choice(["diffuse", "diffuse", "subsurface"]), color, rng.uniform(0.55, 1.0))
        mat["subsurface"] = 1.0 if mat["kind"] == "subsurface" else 0.0
        second = _hsv(rng, (0.16, 0.3), (0.5, 0.9), (0.25, 0.7))
        mat["texture"] = _natural_tex(rng, "noise", second, (4.0 * big * 2, 40.0 * big * 2), (2.0, 8.0), (0.0, 2.0))
        mat["bump"] = round(rng.uniform(0.1, 0.5), 3)
    elif name == "brick":
        color = _hsv(rng, (-0.01, 0.05), (0.5, 0.8), (0.3, 0.6))
        mat = _base("diffuse", color, rng.uniform(0.7, 1.0))
        mortar = _hsv(rng, (0.05, 0.12), (0.0, 0.15), (0.6, 0.88))
        mat["texture"] = _natural_tex(rng, "brick", mortar, (2.0 * big * 2, 6.0 * big * 2))
        mat["bump"] = round(rng.uniform(0.1, 0.4), 3)
    elif name == "stone":
        color = _hsv(rng, (0.05, 0.15), (0.0, 0.12), (0.3, 0.75))
        mat = _base("diffuse", color, rng.uniform(0.7, 1.0))
        mat["texture"] = _natural_tex(rng, rng.choice(["voronoi", "noise"]), _shade(rng, color, 0.6, 1.3),
                                      (3.0 * big * 2, 30.0 * big * 2), (1.0, 8.0), (0.0, 1.5))
        mat["bump"] = round(rng.uniform(0.1, 0.6), 3)
    elif name == "grass":  # ground only: fine green noise, some yellow-brown patches
        color = _hsv(rng, (0.2, 0.33), (0.5, 0.85), (0.2, 0.55))
        mat = _base("diffuse", color, rng.uniform(0.8, 1.0))
        mat["texture"] = _natural_tex(rng, "noise", _hsv(rng, (0.14, 0.28), (0.45, 0.8), (0.25, 0.6)),
                                      (5.0, 30.0), (4.0, 10.0), (0.0, 1.0))
        mat["bump"] = round(rng.uniform(0.2, 0.6), 3)
    elif name == "sand":  # ground only: pale warm beige, faint noise
        color = _hsv(rng, (0.08, 0.13), (0.2, 0.45), (0.6, 0.88))
        mat = _base("diffuse", color, rng.uniform(0.85, 1.0))
        mat["texture"] = _natural_tex(rng, "noise", _shade(rng, color, 0.8, 0.95), (10.0, 60.0), (2.0, 8.0))
        mat["bump"] = round(rng.uniform(0.05, 0.3), 3)
    elif name == "tiles":  # ground only: a checker of two stone, terracotta or cream tones
        family = rng.choice(["grey", "terracotta", "cream"])
        hue, sat, val = {"grey": ((0.0, 1.0), (0.0, 0.06), (0.2, 0.85)), "terracotta": ((0.02, 0.07), (0.45, 0.75),
                         (0.35, 0.7)), "cream": ((0.1, 0.15), (0.1, 0.35), (0.7, 0.92))}[family]
        color = _hsv(rng, hue, sat, val)
        other = _shade(rng, color, 0.4, 0.8) if rng.random() < 0.6 else _hsv(rng, (0.0, 1.0), (0.0, 0.06), (0.2, 0.9))
        mat = _base(rng.choice(["diffuse", "glossy"]), color, rng.uniform(0.1, 0.6) if rng.random() < 0.5
                    else rng.uniform(0.5, 0.9))
        mat["texture"] = _natural_tex(rng, "checker", other, (0.5, 3.0))
    elif name == "plaster":  # walls: warm off-white
        color = _hsv(rng, (0.06, 0.16), (0.0, 0.18), (0.65, 0.92))
        mat = _base("diffuse", color, rng.uniform(0.8, 1.0))
        if rng.random() < 0.5:
            mat["texture"] = _natural_tex(rng, "noise", _shade(rng, color, 0.85, 0.97), (2.0, 20.0), (2.0, 8.0))
    elif name == "metal":
        family = rng.choices(["steel", "gold", "copper"], weights=[0.55, 0.25, 0.2])[0]
        hue, sat, val = {"steel": ((0.0, 1.0), (0.0, 0.05), (0.55, 0.95)), "gold": ((0.11, 0.14), (0.5, 0.75),
                         (0.8, 1.0)), "copper": ((0.035, 0.07), (0.5, 0.72), (0.72, 0.95))}[family]
        mat = _base("metal", _hsv(rng, hue, sat, val), _loguniform(rng, 0.01, 0.5), metallic=1.0)
        mat["metal"] = family
    elif name == "skin":  # skin / clay / terracotta: subsurface, warm pinks and oranges
        color = _hsv(rng, (0.015, 0.09), (0.25, 0.6), (0.5, 0.95))
        mat = _base("subsurface", color, rng.uniform(0.3, 0.7), subsurface=1.0)
    elif name == "glass":
        mat = _base("glass", _hsv(rng, (0.0, 1.0), (0.0, 0.12), (0.85, 1.0)),
                    rng.choice([0.0, 0.0, _loguniform(rng, 0.01, 0.2)]), transmission=1.0,
                    ior=round(rng.uniform(1.3, 1.8), 3))
    elif name == "lamp":  # emissive: warm or neutral white
        mat = _base("emissive", _hsv(rng, (0.06, 0.15), (0.0, 0.4), (0.85, 1.0)), 0.5,
                    emission=round(_loguniform(rng, 2.0, 20.0), 3))
    elif name == "painted":  # plastic / paint: any hue, the part hints are for
        kind = rng.choice(["diffuse", "glossy", "coat"])
        color = _hsv(rng, (0.0, 1.0), (0.35, 0.95), (0.2, 0.95))
        rough = _loguniform(rng, 0.02, 0.4) if kind == "glossy" else rng.uniform(0.25, 0.9)
        mat = _base(kind, color, rough, coat=1.0 if kind == "coat" else 0.0)
        if rng.random() < 0.15:  # a two-colour pattern now and then
            mat["texture"] = _natural_tex(rng, rng.choice(["checker", "magic"]),
                                          _hsv(rng, (0.0, 1.0), (0.0, 0.95), (0.2, 0.95)), (1.0, 8.0))
    else:
        raise SceneError(f"unknown material class {name!r}")
    mat["class"] = name
    return mat


#: class -> draw weight, per place in the scene
NATURAL_OBJECTS = {"wood": 0.14, "foliage": 0.13, "brick": 0.06, "stone": 0.12, "metal": 0.12, "skin": 0.1,
                   "glass": 0.05, "lamp": 0.03, "painted": 0.25}
NATURAL_GROUNDS = {"grass": 0.3, "wood": 0.2, "stone": 0.2, "tiles": 0.2, "sand": 0.1}
NATURAL_WALLS = {"brick": 0.3, "plaster": 0.35, "wood": 0.15, "stone": 0.2}


def _natural_world(rng: random.Random) -> dict:
    """Sky-like worlds: blue zenith over a paler horizon, a sunset, an overcast grey, or a plain studio grey."""
    kind = rng.choices(["sky", "sunset", "overcast", "studio"], weights=[0.5, 0.12, 0.18, 0.2])[0]
    if kind == "sky":
        zenith = _hsv(rng, (0.55, 0.63), (0.4, 0.8), (0.5, 0.95))
        horizon = _hsv(rng, (0.53, 0.6), (0.05, 0.3), (0.75, 1.0))
    elif kind == "sunset":
        zenith = _hsv(rng, (0.58, 0.72), (0.35, 0.7), (0.3, 0.7))
        horizon = _hsv(rng, (0.02, 0.11), (0.4, 0.8), (0.75, 1.0))
    elif kind == "overcast":
        zenith = _hsv(rng, (0.55, 0.65), (0.0, 0.12), (0.55, 0.9))
        horizon = _hsv(rng, (0.0, 1.0), (0.0, 0.05), (0.7, 0.95))
    else:
        zenith = horizon = _hsv(rng, (0.0, 1.0), (0.0, 0.06), (0.15, 0.8))
    return {"kind": "color" if kind == "studio" else "gradient", "color": zenith, "horizon": horizon,
            "strength": round(_loguniform(rng, 0.1, 1.5), 4), "class": kind}


def _natural_light_color(rng: random.Random) -> list[float]:
    """Daylight, tungsten-warm or slightly cool white."""
    return _hsv(rng, (0.05, 0.13) if rng.random() < 0.6 else (0.55, 0.62), (0.0, 0.25), (0.9, 1.0))



def natural_palette(spec: dict, rng: random.Random) -> None:
    """Redraw ``spec``'s world, ground, wall, object and light colours from the natural palette (in place)."""
    spec["palette"] = "natural"
    spec["world"] = _natural_world(rng)
    if spec["ground"]:
        spec["ground"]["material"] = _natural_class(rng, _weighted(rng, NATURAL_GROUNDS), ground=True)
        spec["ground"]["wall_material"] = _natural_class(rng, _weighted(rng, NATURAL_WALLS), ground=True)
    for obj in spec["objects"]:
        obj["material"] = _natural_class(rng, _weighted(rng, NATURAL_OBJECTS))
    for light in spec["lights"]:
        light["color"] = _natural_light_color(rng)
