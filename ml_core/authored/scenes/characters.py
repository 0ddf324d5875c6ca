"""Subjects: a subsurface-scattering head, fur (Blender hair curves), and a depth-of-field line-up."""
from __future__ import annotations

import math

import numpy as np

from .. import kit
from ..base import scene


def hair_material(name: str, melanin: float = 0.5, redness: float = 0.5, roughness: float = 0.3):
    """Principled Hair BSDF (melanin parametrisation) on the material's surface."""
    mat = kit._bpy().data.materials.new(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    for n in list(nodes):
        if n.bl_idname == "ShaderNodeBsdfPrincipled":
            nodes.remove(n)
    hair = nodes.new("ShaderNodeBsdfHairPrincipled")
    hair.parametrization = "MELANIN"
    hair.inputs["Melanin"].default_value = melanin
    hair.inputs["Melanin Redness"].default_value = redness
    hair.inputs["Roughness"].default_value = roughness
    links.new(hair.outputs["BSDF"], kit.output(mat).inputs["Surface"])
    return mat


def fur(name: str, radius: float, count: int, length: float, mat, rng, points: int = 6, droop: float = 0.35,
        thickness: float = 0.0012, parent=None):
    """A ball of fur: ``count`` hair curves (a Curves object, which Cycles renders as round curves) rooted on a
    sphere of ``radius`` at the origin (or ``parent``'s origin, which carries them), bent by a little gravity."""
    bpy = kit._bpy()
    normals = rng.normal(size=(count, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    dirs = normals + 0.45 * rng.normal(size=(count, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    lengths = length * rng.uniform(0.6, 1.2, (count, 1, 1))
    t = np.linspace(0.0, 1.0, points)[None, :, None]
    gravity = np.array([0.0, 0.0, -droop])
    pos = normals[:, None] * radius * 0.98 + lengths * (dirs[:, None] * t + gravity * t ** 2)
    curves = bpy.data.hair_curves.new(name)
    curves.add_curves([points] * count)
    curves.position_data.foreach_set("vector", pos.astype(np.float32).ravel())
    radii = curves.attributes.get("radius") or curves.attributes.new("radius", "FLOAT", "POINT")
    radii.data.foreach_set("value", np.tile(np.linspace(thickness, thickness * 0.2, points), count).astype(np.float32))
    curves.materials.append(mat)
    obj = kit.link(bpy.data.objects.new(name, curves))
    if parent is not None:
        obj.parent = parent
    return obj


def fur_ball(name: str, location, radius: float, mat, count: int = 30000, length: float = 0.07, seed: str = ""):
    """A skin sphere with fur parented to it (move the sphere: the fur follows)."""
    skin = kit.principled(f"{name}_skin", (0.08, 0.05, 0.03), roughness=0.9)
    ball = kit.sphere(name, radius, location, skin)
    fur(f"{name}_fur", radius, count, length, mat, kit.rng(seed or name), parent=ball)
    return ball


@scene("fur_ball", "hair",
       "two furry balls (30k hair curves each, Principled Hair BSDF) under a key light and a strong rim light")
def fur_ball_scene():
    floor = kit.principled("floor", (0.35, 0.33, 0.3), roughness=0.7)
    kit.plane("floor", 20.0, (0.0, 0.0, 0.0), floor)
    kit.plane("back", (20.0, 6.0), (0.0, 2.5, 3.0), kit.principled("back", (0.2, 0.22, 0.25), 0.9),
              rotation=(90, 0, 0))
    fur_ball("brown", (-0.2, 0.0, 0.3), 0.22, hair_material("brown_hair", 0.55, 0.6), length=0.12)
    fur_ball("blond", (0.45, 0.35, 0.2), 0.15, hair_material("blond_hair", 0.2, 0.4, 0.25), count=18000,
             length=0.08)
    kit.light("key", "area", (-1.5, -1.8, 1.8), 120.0, target=(0.0, 0.0, 0.3), size=1.0)
    kit.light("rim", "area", (1.0, 1.6, 1.2), 150.0, target=(0.0, 0.0, 0.3), size=0.4, color=(1.0, 0.85, 0.7))
    kit.world_color((0.05, 0.05, 0.06), 1.0)
    kit.camera((0.3, -1.9, 0.7), (0.1, 0.1, 0.28), lens=50.0)


@scene("sss_head", "subsurface",
       "a Suzanne head in skin-like subsurface scattering with a back light through the ears, beside a wax candle")
def sss_head():
    bpy = kit._bpy()
    kit.plane("floor", 20.0, (0.0, 0.0, 0.0), kit.principled("floor", (0.25, 0.25, 0.27), 0.6))
    kit.plane("back", (20.0, 6.0), (0.0, 1.2, 3.0), kit.principled("back", (0.12, 0.13, 0.15), 0.9),
              rotation=(90, 0, 0))
    skin = kit.principled("skin", (0.8, 0.52, 0.42), roughness=0.45, subsurface=1.0)
    b = kit.bsdf(skin)
    b.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
    b.inputs["Subsurface Scale"].default_value = 0.02
    bpy.ops.mesh.primitive_monkey_add(size=0.5, location=(0.0, 0.0, 0.3),
                                      rotation=(math.radians(-8), 0.0, math.radians(-20)))
    head = kit._added("head", skin, smooth=True)
    kit.subdivide(head, 2)
    wax = kit.principled("wax", (0.92, 0.86, 0.7), roughness=0.3, subsurface=1.0)
    kit.bsdf(wax).inputs["Subsurface Scale"].default_value = 0.05
    kit.cylinder("candle", 0.09, 0.3, (0.42, 0.25, 0.15), wax, vertices=64)
    kit.light("key", "area", (-1.2, -1.4, 1.2), 60.0, target=(0.0, 0.0, 0.3), size=0.8, color=(1.0, 0.95, 0.9))
    kit.light("back", "spot", (0.15, 0.9, 0.45), 120.0, target=(0.0, 0.0, 0.35), size=0.05, spot_deg=50.0,
              color=(1.0, 0.85, 0.7))
    kit.world_color((0.02, 0.02, 0.025), 1.0)
    kit.camera((0.2, -1.3, 0.45), (0.08, 0.0, 0.3), lens=60.0)


@scene("dof_row", "dof",
       "tabletop line-up receding on a checkerboard at f/1.4, 85 mm, focused on the third object; bokeh lights behind")
def dof_row():
    checker = kit.textured("checker", "checker", 12.0, [(0.0, (0.8, 0.8, 0.78)), (1.0, (0.08, 0.08, 0.1))],
                           roughness=0.4, Color1=(1, 1, 1, 1), Color2=(0, 0, 0, 1))
    kit.plane("floor", 60.0, (0.0, 0.0, 0.0), checker)
    rng = kit.rng("dof")
    shapes = ["sphere", "box", "cylinder", "sphere", "box", "cylinder", "sphere"]
    focus = None
    for k, shape in enumerate(shapes):
        x, y = 0.07 * k - 0.2, 0.18 * k
        color = tuple(float(c) for c in rng.uniform(0.1, 0.9, 3))
        mat = kit.textured(f"obj{k}", "noise", 120.0, [(0.3, color), (0.7, tuple(c * 0.4 for c in color))],
                           roughness=0.3, Detail=6.0)
        if shape == "sphere":
            obj = kit.sphere(f"obj{k}", 0.05, (x, y, 0.05), mat)
        elif shape == "box":
            obj = kit.box(f"obj{k}", (0.08, 0.08, 0.08), (x, y, 0.04), mat, rotation=(0, 0, 30))
        else:
            obj = kit.cylinder(f"obj{k}", 0.035, 0.12, (x, y, 0.06), mat)
        if k == 2:
            focus = obj
    bulb = kit.emissive("bulb", (1.0, 0.75, 0.4), 60.0)
    for k in range(-12, 13):  # a string of small bulbs 4-5 m behind: bokeh discs
        kit.sphere(f"bulb{k}", 0.01, (1.8 + 0.08 * k, 3.2 - 0.07 * k + 0.3 * math.sin(k), 0.28 + 0.06 * math.cos(k)),
                   bulb, segments=12, rings=6)
    kit.light("key", "area", (-1.0, -0.4, 1.4), 60.0, target=(0.0, 0.5, 0.0), size=1.0)
    kit.world_color((0.05, 0.06, 0.08), 1.0)
    kit.camera((-0.9, -0.5, 0.2), (0.01, 0.54, 0.05), lens=85.0, fstop=1.4, focus=focus)
