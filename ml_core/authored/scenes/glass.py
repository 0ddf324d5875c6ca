"""Glass: refractive caustics on a diffuse floor, and a liquid in a tumbler."""
from __future__ import annotations

from .. import kit
from ..base import scene


def tumbler(name: str, location, liquid_color=(0.95, 0.55, 0.15), fill: float = 0.075, absorption: float = 25.0):
    """A 12 cm glass tumbler (3 mm walls, thick base) holding a coloured liquid and an ice cube."""
    x, y, z = location
    glass = kit.glass(f"{name}_glass", ior=1.5)
    kit.lathe(f"{name}_glass", [(0.0, 0.0), (0.04, 0.0), (0.042, 0.004), (0.046, 0.12), (0.043, 0.12),
                                (0.038, 0.016), (0.0, 0.016)], glass, location=location)
    liquid = kit.principled(f"{name}_liquid", (1.0, 1.0, 1.0), roughness=0.0, transmission=1.0, ior=1.33)
    absorb = liquid.node_tree.nodes.new("ShaderNodeVolumeAbsorption")
    absorb.inputs["Color"].default_value = (*liquid_color, 1.0)
    absorb.inputs["Density"].default_value = absorption
    liquid.node_tree.links.new(absorb.outputs["Volume"], kit.output(liquid).inputs["Volume"])
    top = 0.016 + fill
    r_top = 0.038 + (top - 0.016) / 0.104 * 0.005 - 0.0003
    kit.lathe(f"{name}_liquid", [(0.0, 0.0163), (0.0377, 0.0163), (r_top, top), (0.0, top)], liquid,
              location=location)
    ice = kit.box(f"{name}_ice", (0.028, 0.028, 0.026), (x + 0.008, y - 0.004, z + top - 0.006),
                  kit.principled(f"{name}_ice", (1.0, 1.0, 1.0), roughness=0.08, transmission=1.0, ior=1.31),
                  rotation=(12, 8, 30))
    bevel = ice.modifiers.new("bevel", "BEVEL")
    bevel.width, bevel.segments = 0.004, 3


@scene("glass_caustics", "caustics",
       "glass ball, lens and block on a pale floor under one small spot: focused caustics inside their shadows",
       cycles={"transmission_bounces": 12})
def glass_caustics():
    floor = kit.textured("floor", "noise", 8.0, [(0.3, (0.62, 0.6, 0.56)), (0.7, (0.72, 0.7, 0.66))], roughness=0.8)
    kit.plane("floor", 30.0, (0.0, 0.0, 0.0), floor)
    kit.plane("back", (30.0, 6.0), (0.0, 3.0, 3.0), kit.principled("back", (0.3, 0.3, 0.32), 0.9), rotation=(90, 0, 0))
    ball = kit.sphere("glass_ball", 0.3, (-0.45, 0.2, 0.3), kit.glass("ball_glass"), segments=96, rings=48)
    lens = kit.sphere("lens", 0.28, (0.35, -0.2, 0.12), kit.glass("lens_glass", (0.85, 0.95, 1.0)), segments=96,
                      rings=48)
    lens.scale = (1.0, 1.0, 0.4)
    block = kit.box("block", (0.25, 0.25, 0.5), (0.55, 0.65, 0.25), kit.glass("block_glass", (1.0, 0.9, 0.7)),
                    rotation=(0, 0, 25))
    bevel = block.modifiers.new("bevel", "BEVEL")
    bevel.width, bevel.segments = 0.02, 3
    # manifold next-event estimation: Cycles' own shadow caustics through the ball and the lens
    for caster in (ball, lens):
        caster.cycles.is_caustics_caster = True
    floor_obj = kit._bpy().data.objects["floor"]
    floor_obj.cycles.is_caustics_receiver = True
    spot = kit.light("spot", "spot", (-2.2, -1.0, 2.0), 900.0, target=(0.1, 0.3, 0.0), size=0.04, spot_deg=70.0)
    spot.data.cycles.is_caustics_light = True
    kit.world_color((0.03, 0.035, 0.05), 1.0)
    kit.camera((0.5, -1.3, 1.7), (0.05, 0.35, 0.05), lens=35.0)


@scene("liquid_glass", "liquid",
       "two tumblers of amber and green drink with ice on a wooden table, striped backdrop seen through the refraction",
       cycles={"transmission_bounces": 16, "max_bounces": 16})
def liquid_glass():
    from .interiors import wood

    kit.box("table", (1.5, 1.0, 0.04), (0.0, 0.1, -0.02), wood("table", 14.0))
    stripes = kit.principled("backdrop", roughness=0.9)
    wave = kit.texture(stripes, "wave", 6.0, coords="Generated", Distortion=0.0)
    stripes.node_tree.links.new(kit.ramp(stripes, wave.outputs["Fac"], [(0.45, (0.7, 0.7, 0.68)),
                                                                         (0.55, (0.08, 0.1, 0.2))]),
                                kit.bsdf(stripes).inputs["Base Color"])
    kit.plane("backdrop", (1.5, 1.0), (0.0, 0.45, 0.5), stripes, rotation=(90, 0, 0))
    tumbler("amber", (-0.05, 0.05, 0.0))
    tumbler("green", (0.07, 0.14, 0.0), liquid_color=(0.35, 0.9, 0.3), fill=0.055, absorption=18.0)
    kit.light("window", "area", (-0.7, -0.3, 0.7), 40.0, target=(0.0, 0.1, 0.05), size=0.6)
    kit.light("back", "area", (0.25, 0.4, 0.3), 6.0, target=(0.0, 0.1, 0.05), size=0.2, color=(1.0, 0.9, 0.8))
    kit.world_color((0.35, 0.38, 0.42), 0.6)
    kit.camera((0.05, -0.55, 0.17), (0.01, 0.09, 0.06), lens=60.0)
