"""Many small emitters: neon tubes and strings of bulbs in a wet alley with no other light."""
from __future__ import annotations

import math

import numpy as np

from .. import kit
from ..base import scene

#: neon letters as strokes in a 0.6 x 1 box
LETTERS = {
    "O": [[(0.3 + 0.3 * math.cos(a), 0.5 + 0.5 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 40)]],
    "P": [[(0, 0), (0, 1), (0.45, 1), (0.58, 0.88), (0.58, 0.62), (0.45, 0.5), (0, 0.5)]],
    "E": [[(0.58, 0), (0, 0), (0, 1), (0.58, 1)], [(0, 0.5), (0.42, 0.5)]],
    "N": [[(0, 0), (0, 1), (0.58, 0), (0.58, 1)]],
    "B": [[(0, 0), (0, 1), (0.42, 1), (0.55, 0.88), (0.55, 0.62), (0.42, 0.5), (0, 0.5)],
          [(0.42, 0.5), (0.58, 0.38), (0.58, 0.12), (0.45, 0.0), (0, 0)]],
    "A": [[(0, 0), (0.29, 1), (0.58, 0)], [(0.12, 0.42), (0.46, 0.42)]],
    "R": [[(0, 0), (0, 1), (0.45, 1), (0.58, 0.88), (0.58, 0.62), (0.45, 0.5), (0, 0.5), (0.58, 0)]],
}


def neon_text(name: str, text: str, origin, along, height: float, mat, radius: float = 0.012):
    """Neon letters standing in the plane spanned by ``along`` (a unit vector) and +z, from ``origin``."""
    origin, along = np.asarray(origin, float), np.asarray(along, float)
    up = np.array([0.0, 0.0, 1.0])
    objs = []
    for i, letter in enumerate(text):
        for j, stroke in enumerate(LETTERS[letter]):
            pts = [origin + along * height * (0.8 * i + u) + up * height * v for u, v in stroke]
            objs.append(kit.tube(f"{name}_{i}{letter}{j}", _densify(pts), radius, mat))
    return objs


def _densify(points, step: float = 0.02) -> np.ndarray:
    """Extra points along straight strokes so bevelled corners stay sharp and the tube stays round."""
    points = np.asarray(points, float)
    out = [points[0]]
    for a, b in zip(points, points[1:]):
        n = max(1, int(np.linalg.norm(b - a) / step))
        out += [a + (b - a) * t for t in np.linspace(0, 1, n + 1)[1:]]
    return np.array(out)


def bulb_string(name: str, a, b, count: int, sag: float, mat, wire_mat):
    """A sagging wire with ``count`` small glowing bulbs hanging on it."""
    pts = kit.catenary(a, b, sag, 64)
    kit.tube(f"{name}_wire", pts, 0.004, wire_mat, bevel_resolution=1)
    ts = np.linspace(0.04, 0.96, count)
    for k, t in enumerate(ts):
        p = np.asarray(a, float) + (np.asarray(b, float) - np.asarray(a, float)) * t
        p[2] -= sag * 4 * t * (1 - t) + 0.05
        kit.sphere(f"{name}_bulb{k}", 0.025, tuple(p), mat, segments=12, rings=6)


def alley():
    """The alley: brick walls, wet asphalt, neon signs, bulb strings, lit windows; returns movable props."""
    brick = kit.principled("brick", roughness=0.85)
    tex = kit.texture(brick, "brick", 6.0)
    tex.inputs["Color1"].default_value = (0.3, 0.12, 0.08, 1)
    tex.inputs["Color2"].default_value = (0.22, 0.1, 0.07, 1)
    tex.inputs["Mortar"].default_value = (0.35, 0.33, 0.3, 1)
    brick.node_tree.links.new(tex.outputs["Color"], kit.bsdf(brick).inputs["Base Color"])
    kit.bump(brick, tex.outputs["Fac"], 0.5, 0.02)
    for side in (-1, 1):
        kit.box(f"wall{side}", (0.2, 24.0, 7.0), (side * 1.6, 10.0, 3.5), brick)
    kit.box("end_wall", (3.4, 0.2, 7.0), (0.0, 22.0, 3.5), brick)
    asphalt = kit.principled("asphalt", (0.04, 0.04, 0.045), roughness=0.3)
    wet = kit.texture(asphalt, "noise", 0.8, Detail=6.0)
    puddles = kit.ramp(asphalt, wet.outputs["Fac"], [(0.48, (0.02, 0.02, 0.02)), (0.56, (0.5, 0.5, 0.5))])
    asphalt.node_tree.links.new(puddles, kit.bsdf(asphalt).inputs["Roughness"])
    grain = kit.texture(asphalt, "noise", 200.0, Detail=2.0)
    kit.bump(asphalt, grain.outputs["Fac"], 0.15, 0.005)
    kit.plane("asphalt", (3.2, 24.0), (0.0, 10.0, 0.0), asphalt)
    pink = kit.emissive("neon_pink", (1.0, 0.1, 0.6), 12.0)
    cyan = kit.emissive("neon_cyan", (0.1, 0.8, 1.0), 12.0)
    orange = kit.emissive("neon_orange", (1.0, 0.4, 0.05), 12.0)
    neon_text("open", "OPEN", (1.48, 4.3, 2.3), (0.0, -1.0, 0.0), 0.45, pink)  # reads left to right from the alley
    neon_text("bar", "BAR", (-1.48, 6.0, 3.0), (0.0, 1.0, 0.0), 0.5, cyan)
    ring = [(-1.48, 9.0 + 0.45 * math.cos(a), 2.2 + 0.45 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 64)]
    kit.tube("ring", ring, 0.014, orange, closed=True)
    zig = [(1.48, 10.5 + 0.25 * k, 1.8 + 0.35 * (k % 2)) for k in range(9)]
    kit.tube("zigzag", zig, 0.012, cyan)
    kit.tube("strip", [(1.48, 14.0, 0.5), (1.48, 14.0, 4.0)], 0.015, orange)
    warm = kit.emissive("bulb", (1.0, 0.72, 0.4), 40.0)
    wire = kit.principled("wire", (0.02, 0.02, 0.02), 0.5)
    bulb_string("lights0", (-1.5, 4.0, 4.2), (1.5, 6.0, 4.2), 18, 0.6, warm, wire)
    bulb_string("lights1", (-1.5, 11.0, 4.6), (1.5, 9.0, 4.6), 18, 0.5, warm, wire)
    window = kit.emissive("window", (1.0, 0.8, 0.55), 1.5)
    for k, (x, y, z) in enumerate(((-1.49, 3.0, 4.5), (1.49, 8.0, 5.0), (-1.49, 13.0, 3.8), (1.49, 17.0, 4.4))):
        kit.box(f"window{k}", (0.02, 0.8, 1.0), (x, y, z), window)
    metal = kit.principled("dumpster", (0.05, 0.2, 0.1), roughness=0.4, metallic=0.6)
    kit.box("dumpster", (1.0, 1.8, 1.2), (-0.95, 5.0, 0.6), metal)
    barrel = kit.cylinder("barrel", 0.28, 0.85, (0.9, 6.5, 0.425), kit.principled("barrel", (0.5, 0.1, 0.05), 0.5, 0.8))
    kit.world_color((0.0004, 0.0006, 0.0012), 1.0)  # a night sky
    return {"barrel": barrel}


@scene("neon_alley", "emitters",
       "a wet night alley lit only by neon signs, two strings of bulbs and lit windows: many small bright emitters")
def neon_alley():
    alley()
    kit.camera((0.3, -1.5, 1.5), (-0.1, 8.0, 2.3), lens=22.0)


@scene("anim_neon_walk", "emitters",
       "walking down the neon alley past a lamp post (occlusion) while a barrel rolls across", frames=5)
def anim_neon_walk():
    objs = alley()
    post = kit.principled("post", (0.1, 0.1, 0.1), roughness=0.4, metallic=1.0)
    kit.cylinder("lamp_post", 0.07, 6.0, (0.75, 0.6, 3.0), post, vertices=24)
    barrel = objs["barrel"]
    kit.keys(barrel, "location", {1: (1.0, 5.2, 0.28), 5: (-0.8, 5.2, 0.28)})
    barrel.rotation_euler = (math.radians(90), 0.0, 0.0)
    kit.keys(barrel, "rotation_euler", {1: (math.radians(90), 0.0, 0.0), 5: (math.radians(90), -1.8 / 0.28, 0.0)})
    cam, target = kit.camera((0.3, -1.5, 1.5), (-0.1, 8.0, 2.3), lens=22.0)
    kit.keys(cam, "location", {1: (0.35, -1.8, 1.55), 5: (0.1, 0.6, 1.6)})
    kit.keys(target, "location", {1: (-0.2, 8.0, 2.2), 5: (0.3, 9.0, 2.0)})
