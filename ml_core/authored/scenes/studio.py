"""Studio product shots: a sweep backdrop, soft area lights, a glossy floor."""
from __future__ import annotations

import math

import numpy as np

from .. import kit
from ..base import scene


def sweep(name: str = "sweep", width: float = 8.0, mat=None):
    """A cyclorama: floor from y = -4 curving (radius 1.2) up into a wall at y = 1.5, extruded along x."""
    profile = [(y, 0.0) for y in np.linspace(-4.0, 0.3, 6)]
    profile += [(0.3 + 1.2 * math.sin(a), 1.2 - 1.2 * math.cos(a)) for a in np.linspace(0.1, math.pi / 2, 16)]
    profile += [(1.5, z) for z in np.linspace(1.5, 4.0, 4)]
    xs = np.linspace(-width / 2, width / 2, 3)
    verts = [(x, y, z) for y, z in profile for x in xs]
    n = len(xs)
    faces = [(i * n + j, i * n + j + 1, (i + 1) * n + j + 1, (i + 1) * n + j)
             for i in range(len(profile) - 1) for j in range(n - 1)]
    return kit.mesh(name, verts, faces, mat, smooth=True)


def products():
    """A perfume bottle, a chrome ball, a clear-coated red box and a matte torus; returns the movable ones."""
    glass = kit.glass("bottle_glass", (0.92, 0.97, 1.0), ior=1.5)
    bottle = kit.lathe("bottle", [(0.0, 0.0), (0.2, 0.0), (0.23, 0.03), (0.23, 0.42), (0.2, 0.47), (0.07, 0.5),
                                  (0.06, 0.56), (0.0, 0.56)], glass, location=(-0.15, 0.1, 0.0))
    perfume = kit.principled("perfume", (1.0, 0.6, 0.85), roughness=0.0, transmission=1.0, ior=1.36)
    kit.lathe("perfume", [(0.0, 0.03), (0.19, 0.03), (0.2, 0.05), (0.2, 0.3), (0.0, 0.3)], perfume,
              location=(-0.15, 0.1, 0.0))
    gold = kit.principled("gold", (1.0, 0.76, 0.35), roughness=0.15, metallic=1.0)
    kit.cylinder("cap", 0.09, 0.18, (-0.15, 0.1, 0.64), gold, vertices=64)
    chrome = kit.principled("chrome", (0.95, 0.95, 0.95), roughness=0.02, metallic=1.0)
    ball = kit.sphere("chrome_ball", 0.2, (0.55, -0.25, 0.2), chrome, segments=64, rings=32)
    paint = kit.principled("paint", (0.6, 0.02, 0.03), roughness=0.4, coat=1.0)
    box = kit.box("red_box", (0.32, 0.32, 0.32), (-0.75, -0.2, 0.16), paint, rotation=(0, 0, 30))
    bevel = box.modifiers.new("bevel", "BEVEL")
    bevel.width, bevel.segments = 0.03, 4
    kit.subdivide(box, 1)
    bpy = kit._bpy()
    bpy.ops.mesh.primitive_torus_add(major_radius=0.16, minor_radius=0.05, location=(0.35, 0.45, 0.05))
    torus = kit._added("torus", kit.principled("rubber", (0.1, 0.35, 0.5), roughness=0.7), smooth=True)
    return {"bottle": bottle, "ball": ball, "box": box, "torus": torus}


def lights():
    kit.light("key", "area", (-2.2, -2.0, 2.4), 500.0, target=(0.0, 0.0, 0.3), size=1.6, size_y=1.0,
              shape="RECTANGLE", color=(1.0, 0.96, 0.9))
    kit.light("fill", "area", (2.6, -1.6, 1.2), 120.0, target=(0.0, 0.0, 0.3), size=1.2, color=(0.85, 0.9, 1.0))
    kit.light("rim", "area", (0.8, 1.2, 2.6), 250.0, target=(0.0, 0.0, 0.3), size=0.25, size_y=2.0,
              shape="RECTANGLE")
    kit.world_color((0.02, 0.02, 0.025), 1.0)


@scene("studio_product", "studio",
       "product shot on a glossy sweep: glass perfume bottle, chrome ball, clear-coat box, two softboxes and a strip")
def studio_product():
    sweep(mat=kit.principled("sweep", (0.75, 0.75, 0.78), roughness=0.12))
    products()
    lights()
    kit.camera((0.0, -4.2, 1.25), (-0.05, 0.05, 0.3), lens=80.0)


@scene("anim_turntable", "studio",
       "the product set turning on a turntable while the chrome ball rolls across in front of it", frames=5)
def anim_turntable():
    sweep(mat=kit.principled("sweep", (0.75, 0.75, 0.78), roughness=0.12))
    objs = products()
    table = kit.cylinder("turntable", 1.05, 0.04, (0.0, 0.05, 0.02), kit.principled("turntable", (0.1, 0.1, 0.1), 0.3))
    for key in ("bottle", "box", "torus"):
        objs[key].parent = table
        objs[key].location.z += 0.04
    kit.keys(table, "rotation_euler", {1: (0.0, 0.0, 0.0), 5: (0.0, 0.0, math.radians(70))})
    ball = objs["ball"]
    kit.keys(ball, "location", {1: (-1.3, -0.75, 0.2), 5: (1.1, -0.75, 0.2)})
    kit.keys(ball, "rotation_euler", {1: (0.0, 0.0, 0.0), 5: (0.0, 2.4 / 0.2, 0.0)})
    lights()
    kit.camera((0.0, -4.2, 1.25), (0.0, 0.0, 0.3), lens=62.0)
