"""Outdoors under a physical sky: long shadows to the horizon, thin wires and a fence, foliage cards, and fine
textures seen at grazing angles."""
from __future__ import annotations

import math

import numpy as np

from .. import kit
from ..base import scene


def ground(name: str = "ground", size: float = 4000.0, kind: str = "grass"):
    """A huge plane out to the horizon with a two-scale noise colour (grass or sand)."""
    stops = {"grass": [(0.3, (0.08, 0.13, 0.03)), (0.55, (0.16, 0.22, 0.06)), (0.8, (0.25, 0.24, 0.1))],
             "sand": [(0.3, (0.45, 0.36, 0.24)), (0.6, (0.6, 0.5, 0.34)), (0.9, (0.5, 0.42, 0.3))]}[kind]
    mat = kit.textured(name, "noise", 0.6, stops, roughness=0.95, bump_strength=0.3, Detail=12.0, Roughness=0.65)
    return kit.plane(name, size, (0.0, 0.0, 0.0), mat)


def daylight(elevation: float, azimuth: float, sun_energy: float = 4.0, sky_strength: float = 0.35):
    kit.sun("sun", elevation, azimuth, sun_energy, angle=0.53)
    kit.world_sky(elevation, azimuth, sky_strength)


@scene("outdoor_sun_sky", "outdoor",
       "open plain under a low sun and a physical sky: posts, stones and a tree cast long hard shadows; flat horizon")
def outdoor_sun_sky():
    ground(kind="sand")
    wood = kit.principled("post", (0.3, 0.2, 0.12), roughness=0.8)
    for k in range(8):
        kit.cylinder(f"post{k}", 0.07, 1.4, (-1.5 + 0.25 * k, 4.0 + 3.0 * k, 0.7), wood, vertices=16)
    stone = kit.textured("stone", "voronoi", 4.0, [(0.0, (0.25, 0.24, 0.22)), (1.0, (0.5, 0.48, 0.44))],
                         roughness=0.8, bump_strength=0.4)
    rng = kit.rng("stones")
    for k, (x, y, r) in enumerate(((2.5, 7.0, 0.7), (4.0, 12.0, 1.1), (1.2, 18.0, 0.5), (-4.0, 10.0, 0.9))):
        obj = kit.ico(f"stone{k}", r, (x, y, 0.35 * r), stone, subdivisions=2, smooth=False)
        obj.scale = tuple(rng.uniform(0.7, 1.3, 3))
        obj.rotation_euler = tuple(rng.uniform(0, math.pi, 3))
    bark = kit.principled("bark", (0.2, 0.13, 0.08), roughness=0.9)
    kit.cylinder("trunk", 0.18, 3.0, (-3.0, 16.0, 1.5), bark, vertices=16)
    leaves = kit.principled("crown", (0.1, 0.22, 0.05), roughness=0.8)
    for k, (dx, dy, dz, r) in enumerate(((0, 0, 3.4, 1.4), (0.8, 0.3, 3.0, 1.0), (-0.7, -0.2, 3.1, 1.0))):
        kit.ico(f"crown{k}", r, (-3.0 + dx, 16.0 + dy, dz), leaves, subdivisions=2, smooth=False)
    daylight(elevation=9.0, azimuth=125.0, sun_energy=6.0, sky_strength=0.15)
    kit.camera((0.0, -1.0, 1.7), (0.0, 20.0, 0.9), lens=26.0)


def chain_link(name: str, x0: float, x1: float, y: float, height: float, cell: float, mat):
    """A chain-link fence: vertical zigzag wires (interlocking into diamonds) between ``x0`` and ``x1``."""
    wires = []
    steps = int(height / (cell / 2))
    z = np.linspace(0.05, 0.05 + steps * cell / 2, steps + 1)
    for k, x in enumerate(np.arange(x0, x1, cell)):
        zig = (np.arange(steps + 1) % 2) * cell / 2 * (1 if k % 2 == 0 else -1)
        xs = x + zig + (cell / 2 if k % 2 else 0.0)
        pts = np.stack([xs, np.full_like(z, y) + 0.004 * ((np.arange(steps + 1) + k) % 2), z], 1)
        wires.append(kit.tube(f"{name}{k}", pts, 0.003, mat, bevel_resolution=1))
    return wires


@scene("wires_fence", "thin",
       "chain-link fence seen at an angle (wires from several pixels to sub-pixel), posts, barbed wire, power cables")
def wires_fence():
    ground()
    steel = kit.principled("steel", (0.6, 0.62, 0.65), roughness=0.35, metallic=1.0)
    chain_link("link", -1.0, 7.0, 0.0, 2.0, 0.06, steel)
    for k, x in enumerate(np.arange(-1.0, 7.01, 2.0)):
        kit.cylinder(f"fence_post{k}", 0.03, 2.2, (x, 0.02, 1.1), steel, vertices=16)
    kit.cylinder("top_rail", 0.02, 8.0, (3.0, 0.02, 2.08), steel, rotation=(0, 90, 0), vertices=12)
    # two strands of barbed wire above the fence
    t = np.linspace(0, 8.0, 800)
    for k, z in enumerate((2.25, 2.4)):
        pts = np.stack([t - 1.0, 0.02 + 0.006 * np.sin(t * 60), z + 0.006 * np.cos(t * 60)], 1)
        kit.tube(f"barbed{k}", pts, 0.0015, steel, bevel_resolution=1)
    # power line: two poles and four sagging cables against the sky
    pole = kit.principled("pole", (0.25, 0.18, 0.12), roughness=0.8)
    cable = kit.principled("cable", (0.02, 0.02, 0.02), roughness=0.4)
    poles = [(-6.0, 14.0), (14.0, 22.0)]
    for k, (x, y) in enumerate(poles):
        kit.cylinder(f"pole{k}", 0.12, 9.0, (x, y, 4.5), pole, vertices=16)
        kit.box(f"crossarm{k}", (2.4, 0.1, 0.1), (x, y, 8.4), pole, rotation=(0, 0, 22))
    (xa, ya), (xb, yb) = poles
    for dx in (-1.05, -0.35, 0.35, 1.05):
        c, s = math.cos(math.radians(22)), math.sin(math.radians(22))
        a, b = (xa + dx * c, ya + dx * s, 8.48), (xb + dx * c, yb + dx * s, 8.48)
        kit.tube(f"power{dx}", kit.catenary(a, b, 1.2, 96), 0.008, cable, bevel_resolution=2)
    daylight(elevation=35.0, azimuth=210.0, sun_energy=4.0, sky_strength=0.35)
    kit.camera((-1.6, -1.2, 1.4), (4.0, 1.0, 1.8), lens=24.0)


def foliage_material(name: str = "leaves"):
    """Leaf clusters on cards: Voronoi cells (one leaf each, own green) inside a round card, cut out by alpha."""
    bpy = kit._bpy()
    mat = bpy.data.materials.new(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    leaf = kit.bsdf(mat)
    leaf.inputs["Roughness"].default_value = 0.5
    leaf.inputs["Subsurface Weight"].default_value = 0.0
    uv = nodes.new("ShaderNodeTexCoord")
    vor = nodes.new("ShaderNodeTexVoronoi")
    vor.inputs["Scale"].default_value = 6.0
    links.new(uv.outputs["UV"], vor.inputs["Vector"])
    links.new(kit.ramp(mat, vor.outputs["Color"], [(0.0, (0.05, 0.16, 0.02)), (0.5, (0.12, 0.3, 0.04)),
                                                    (1.0, (0.3, 0.35, 0.05))]), leaf.inputs["Base Color"])
    cell = nodes.new("ShaderNodeMath")
    cell.operation = "LESS_THAN"
    cell.inputs[1].default_value = 0.36
    links.new(vor.outputs["Distance"], cell.inputs[0])
    centre = nodes.new("ShaderNodeVectorMath")
    centre.operation = "DISTANCE"
    centre.inputs[1].default_value = (0.5, 0.5, 0.0)
    links.new(uv.outputs["UV"], centre.inputs[0])
    round_card = nodes.new("ShaderNodeMath")
    round_card.operation = "LESS_THAN"
    round_card.inputs[1].default_value = 0.48
    links.new(centre.outputs["Value"], round_card.inputs[0])
    mask = nodes.new("ShaderNodeMath")
    mask.operation = "MULTIPLY"
    links.new(cell.outputs[0], mask.inputs[0])
    links.new(round_card.outputs[0], mask.inputs[1])
    translucent = nodes.new("ShaderNodeBsdfTranslucent")
    translucent.inputs["Color"].default_value = (0.25, 0.45, 0.05, 1.0)
    both = nodes.new("ShaderNodeMixShader")
    both.inputs["Fac"].default_value = 0.3
    links.new(leaf.outputs["BSDF"], both.inputs[1])
    links.new(translucent.outputs["BSDF"], both.inputs[2])
    cut = nodes.new("ShaderNodeMixShader")
    transparent = nodes.new("ShaderNodeBsdfTransparent")
    links.new(mask.outputs[0], cut.inputs["Fac"])
    links.new(transparent.outputs["BSDF"], cut.inputs[1])
    links.new(both.outputs["Shader"], cut.inputs[2])
    links.new(cut.outputs["Shader"], kit.output(mat).inputs["Surface"])
    return mat


def cards(name: str, centre, radii, count: int, size: float, mat, rng):
    """``count`` square cards, randomly turned, scattered in an ellipsoid: one mesh with a 0-1 UV per card."""
    centre, radii = np.asarray(centre, float), np.asarray(radii, float)
    d = rng.normal(size=(count, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pos = centre + d * radii * rng.uniform(0.4, 1.0, (count, 1)) ** 0.5
    verts, faces, uvs = [], [], []
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], float) * size / 2
    for k in range(count):
        a = rng.normal(size=3)
        a /= np.linalg.norm(a)
        u = np.cross(a, (0.0, 0.0, 1.0) if abs(a[2]) < 0.9 else (1.0, 0.0, 0.0))
        u /= np.linalg.norm(u)
        v = np.cross(a, u)
        for cu, cv in corners:
            verts.append(pos[k] + cu * u + cv * v)
        faces.append(tuple(range(4 * k, 4 * k + 4)))
        uvs += [(0, 0), (1, 0), (1, 1), (0, 1)]
    return kit.mesh(name, verts, faces, mat, uvs=uvs)


@scene("foliage_cards", "foliage",
       "a tree and bushes made of alpha-cut leaf cards against the sky: binary alpha edges, layered transparency",
       cycles={"transparent_max_bounces": 64})
def foliage_cards():
    ground()
    rng = kit.rng("foliage")
    bark = kit.textured("bark", "noise", 30.0, [(0.3, (0.12, 0.08, 0.05)), (0.7, (0.25, 0.18, 0.12))],
                        roughness=0.9, bump_strength=0.5)
    kit.cylinder("trunk", 0.16, 3.2, (0.0, 0.0, 1.6), bark, vertices=16)
    for k, (rx, ry) in enumerate(((35, 10), (-30, 40), (10, -40))):
        kit.cylinder(f"branch{k}", 0.05, 1.4, (0.0, 0.0, 2.6), bark, rotation=(rx, ry, 0), vertices=8)
    leaves = foliage_material()
    cards("crown", (0.0, 0.0, 3.4), (1.7, 1.7, 1.2), 420, 0.55, leaves, rng)
    for k, (x, y) in enumerate(((2.6, -1.2), (-2.4, -0.6), (3.8, 1.5))):
        cards(f"bush{k}", (x, y, 0.45), (0.8, 0.8, 0.5), 90, 0.4, leaves, rng)
    daylight(elevation=40.0, azimuth=230.0, sun_energy=4.0, sky_strength=0.35)
    kit.camera((1.0, -5.2, 1.5), (0.3, 0.0, 2.6), lens=28.0)


@scene("grazing_textures", "texture",
       "fine brick paving, corrugated metal and a bumpy ball seen from 25 cm above the ground: bump at grazing angles")
def grazing_textures():
    # brick texture: colour from its Color output, bump from its mortar factor
    paving = kit.principled("paving", roughness=0.7)
    brick = kit.texture(paving, "brick", 12.0)
    brick.inputs["Color1"].default_value = (0.42, 0.2, 0.12, 1)
    brick.inputs["Color2"].default_value = (0.3, 0.16, 0.1, 1)
    brick.inputs["Mortar"].default_value = (0.6, 0.58, 0.55, 1)
    brick.inputs["Mortar Size"].default_value = 0.04
    paving.node_tree.links.new(brick.outputs["Color"], kit.bsdf(paving).inputs["Base Color"])
    inv = paving.node_tree.nodes.new("ShaderNodeMath")
    inv.operation = "SUBTRACT"
    inv.inputs[0].default_value = 1.0
    paving.node_tree.links.new(brick.outputs["Fac"], inv.inputs[1])
    kit.bump(paving, inv.outputs[0], 0.6, 0.01)
    kit.plane("paving", (8.0, 300.0), (0.0, 148.0, 0.0), paving)
    # corrugated metal wall along the right side
    metal = kit.principled("corrugated", (0.55, 0.57, 0.6), roughness=0.3, metallic=1.0)
    wave = kit.texture(metal, "wave", 6.0, Distortion=0.0)
    wave.wave_type = "BANDS"
    wave.bands_direction = "Y"
    rust = kit.texture(metal, "noise", 3.0, Detail=10.0)
    rusty = kit.ramp(metal, rust.outputs["Fac"], [(0.45, (0.55, 0.57, 0.6)), (0.7, (0.35, 0.15, 0.06))])
    metal.node_tree.links.new(rusty, kit.bsdf(metal).inputs["Base Color"])
    kit.bump(metal, wave.outputs["Fac"], 0.8, 0.02)
    kit.box("wall", (0.05, 120.0, 2.5), (2.0, 60.0, 1.25), metal)
    # a ball with fine magic-texture bump, a fabric-like cylinder with a wave weave
    ball = kit.textured("ball", "magic", 40.0, [(0.2, (0.7, 0.6, 0.4)), (0.8, (0.2, 0.3, 0.5))], roughness=0.4,
                        bump_strength=0.4)
    kit.sphere("ball", 0.22, (-0.4, 2.6, 0.22), ball, segments=64, rings=32)
    weave = kit.textured("weave", "wave", 60.0, [(0.0, (0.5, 0.1, 0.1)), (1.0, (0.8, 0.5, 0.2))], roughness=0.8,
                         bump_strength=0.6, Distortion=1.0)
    kit.cylinder("bolt", 0.18, 0.5, (0.7, 4.5, 0.25), weave, vertices=64)
    # grass beyond the paving on the left
    g = ground("grass", 600.0)
    g.location.x = -304.0
    daylight(elevation=32.0, azimuth=240.0, sun_energy=4.0, sky_strength=0.35)
    kit.camera((0.3, -0.6, 0.25), (0.2, 12.0, 0.15), lens=24.0)
