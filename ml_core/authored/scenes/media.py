"""Participating media: fog with sun shafts through a slatted wall, and a smoke-like noise-density box."""
from __future__ import annotations

from .. import kit
from ..base import scene


@scene("fog_shafts", "volume",
       "a dark barn filled with thin fog: the low sun through gaps between wall boards makes visible light shafts")
def fog_shafts():
    size = (6.0, 8.0, 4.0)
    boards = kit.principled("boards", (0.35, 0.25, 0.16), roughness=0.9)
    floor = kit.textured("barn_floor", "noise", 4.0, [(0.3, (0.2, 0.16, 0.1)), (0.7, (0.35, 0.28, 0.18))],
                         roughness=0.95, bump_strength=0.3)
    kit.room("barn", size, boards, floor, window=("west", 1.0, 7.0, 0.4, 3.6))
    # the west wall's opening is closed by vertical boards with gaps between them
    y = 1.0
    k = 0
    while y < 7.0:
        width = 0.22 if k % 3 else 0.3
        kit.box(f"board{k}", (0.1, width, 3.2), (-0.05, y + width / 2, 2.0), boards)
        y += width + 0.05
        k += 1
    hay = kit.principled("hay", (0.55, 0.42, 0.2), roughness=0.95)
    for k, (x, yy) in enumerate(((4.5, 6.5), (4.0, 5.0), (5.0, 5.6))):
        kit.box(f"bale{k}", (0.9, 0.5, 0.45), (x, yy, 0.225 + 0.45 * (k == 2)), hay, rotation=(0, 0, 10 * k))
    fog = kit.volume("fog", 0.08, (0.9, 0.9, 0.9), anisotropy=0.4)
    kit.box("fog", (5.9, 7.9, 3.9), (3.0, 4.0, 1.95), fog)
    kit.sun("sun", elevation=30.0, azimuth=250.0, energy=12.0, angle=0.5)
    kit.world_sky(30.0, 250.0, 0.3)
    kit.camera((5.6, 0.4, 1.7), (2.0, 4.8, 1.3), lens=20.0)


@scene("smoke_box", "volume",
       "a puff of smoke: a box whose density is fractal noise faded to a sphere, warm key and cool rim lights",
       cycles={"volume_bounces": 1, "volume_biased": True})
def smoke_box():
    kit.plane("floor", 20.0, (0.0, 0.0, 0.0), kit.principled("floor", (0.1, 0.1, 0.11), 0.5))
    kit.plane("back", (20.0, 6.0), (0.0, 2.5, 3.0), kit.principled("back", (0.08, 0.08, 0.1), 0.9),
              rotation=(90, 0, 0))
    mat = kit.volume("smoke", 1.0, (0.6, 0.6, 0.62), anisotropy=0.2)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    # density: fractal noise plus a spherical falloff, thresholded, so the puff has wisps and a soft core
    noise = kit.texture(mat, "noise", 2.5, Detail=6.0, Roughness=0.6, Distortion=0.5)
    shape = nodes.new("ShaderNodeTexGradient")
    shape.gradient_type = "SPHERICAL"
    coords = nodes.new("ShaderNodeTexCoord")
    scale = nodes.new("ShaderNodeVectorMath")
    scale.operation = "SCALE"
    scale.inputs["Scale"].default_value = 1.3
    links.new(coords.outputs["Object"], scale.inputs[0])
    links.new(scale.outputs["Vector"], shape.inputs["Vector"])
    both = nodes.new("ShaderNodeMath")
    both.operation = "MULTIPLY_ADD"  # shape * 0.7 + noise
    both.inputs[1].default_value = 0.7
    links.new(shape.outputs["Fac"], both.inputs[0])
    links.new(noise.outputs["Fac"], both.inputs[2])
    density = nodes.new("ShaderNodeMapRange")
    density.inputs["From Min"].default_value = 0.75
    density.inputs["From Max"].default_value = 1.1
    density.inputs["To Max"].default_value = 10.0
    links.new(both.outputs["Value"], density.inputs["Value"])
    vol = next(n for n in nodes if n.bl_idname == "ShaderNodeVolumePrincipled")
    links.new(density.outputs["Result"], vol.inputs["Density"])
    kit.box("smoke", (1.6, 1.6, 1.6), (0.0, 0.0, 0.85), mat)
    kit.light("key", "area", (-2.2, -1.0, 1.2), 250.0, target=(0.0, 0.0, 0.85), size=0.8, color=(1.0, 0.8, 0.6))
    kit.light("rim", "area", (1.2, 1.6, 1.6), 200.0, target=(0.0, 0.0, 0.85), size=0.6, color=(0.5, 0.7, 1.0))
    kit.world_color((0.01, 0.01, 0.015), 1.0)
    kit.camera((0.3, -2.6, 1.0), (0.0, 0.0, 0.85), lens=40.0)

