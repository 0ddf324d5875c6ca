"""Scenes that mix the families: the closed room lit by a neon sign with drinks on the table, fur outdoors with
shallow depth of field (a still and a rolling animation)."""
from __future__ import annotations

import math

import numpy as np

from .. import kit
from ..base import scene
from .characters import fur_ball, hair_material
from .emitters import neon_text
from .glass import tumbler
from .interiors import living_room
from .outdoors import daylight, ground


@scene("room_glass_neon", ("interior_lamp", "emitters", "liquid", "caustics"),
       "the closed living room lit only by a neon sign over the sofa: two drinks on the coffee table, a glass ball")
def room_glass_neon():
    living_room()
    pink = kit.emissive("neon_pink", (1.0, 0.15, 0.5), 15.0)
    blue = kit.emissive("neon_blue", (0.15, 0.5, 1.0), 15.0)
    # tubes 5 cm proud of a black acrylic backing board, as signs are mounted
    kit.box("sign_board", (1.7, 0.012, 0.9), (2.6, 3.99, 1.675), kit.principled("acrylic", (0.01, 0.01, 0.01), 0.05))
    neon_text("bar", "BAR", (2.11, 3.93, 1.45), (1.0, 0.0, 0.0), 0.45, pink, radius=0.01)
    ring = [(2.6 + 0.72 * math.cos(a), 3.93, 1.675 + 0.38 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 72)]
    kit.tube("neon_ring", ring, 0.01, blue, closed=True)
    tumbler("amber", (2.75, 2.2, 0.445))
    tumbler("green", (2.52, 2.36, 0.445), liquid_color=(0.4, 0.9, 0.3), fill=0.05)
    kit.sphere("glass_ball", 0.06, (2.95, 2.38, 0.505), kit.glass("ball_glass"), segments=64, rings=32)
    kit.world_color((0, 0, 0), 0.0)
    kit.camera((3.5, 1.05, 1.0), (2.55, 2.7, 0.7), lens=24.0)


def _grass_field():
    ground()
    rng = kit.rng("tufts")
    blade = kit.principled("blade", (0.1, 0.25, 0.05), roughness=0.6)
    # a few tufts of grass blades (thin tubes) around the subject
    for k in range(60):
        x, y = rng.uniform(-1.5, 1.5), rng.uniform(-0.5, 3.0)
        for j in range(5):
            h = rng.uniform(0.06, 0.16)
            lean = rng.normal(size=2) * 0.04
            pts = [(x + lean[0] * t * t, y + lean[1] * t * t, h * t) for t in np.linspace(0, 1, 5)]
            kit.tube(f"tuft{k}_{j}", pts, 0.0015, blade, bevel_resolution=1)


@scene("fur_dof_outdoor", ("hair", "dof", "outdoor"),
       "furry balls on a lawn against a low sun (rim-lit fur), 85 mm at f/1.8: the horizon and trees melt into bokeh")
def fur_dof_outdoor():
    _grass_field()
    fur_ball("ginger", (0.0, 0.6, 0.2), 0.2, hair_material("ginger", 0.45, 0.9, 0.3))
    fur_ball("grey", (0.55, 1.6, 0.16), 0.16, hair_material("grey", 0.3, 0.05, 0.35), count=20000)
    bark = kit.principled("bark", (0.2, 0.13, 0.08), roughness=0.9)
    leaves = kit.principled("crown", (0.1, 0.22, 0.05), roughness=0.8)
    for k, (x, y) in enumerate(((-4.0, 14.0), (3.0, 22.0), (9.0, 30.0))):
        kit.cylinder(f"trunk{k}", 0.2, 3.0, (x, y, 1.5), bark, vertices=16)
        kit.ico(f"crown{k}", 1.5, (x, y, 3.8), leaves, subdivisions=2)
    daylight(elevation=9.0, azimuth=20.0, sun_energy=4.0, sky_strength=0.35)
    ball = kit._bpy().data.objects["ginger"]
    kit.camera((-0.3, -1.3, 0.45), (0.05, 0.6, 0.25), lens=85.0, fstop=1.8, focus=ball)


@scene("anim_fur_roll", ("hair", "outdoor"),
       "a furry ball rolling across the lawn behind a wooden post while the camera pans to follow it", frames=5)
def anim_fur_roll():
    _grass_field()
    ball = fur_ball("ginger", (0.0, 0.6, 0.2), 0.2, hair_material("ginger", 0.45, 0.9, 0.3), count=20000)
    kit.keys(ball, "location", {1: (-0.9, 0.9, 0.2), 5: (0.7, 0.9, 0.2)})
    kit.keys(ball, "rotation_euler", {1: (0.0, 0.0, 0.0), 5: (0.0, 1.6 / 0.2, 0.0)})
    kit.cylinder("post", 0.06, 1.2, (0.0, 0.2, 0.6), kit.principled("post", (0.3, 0.2, 0.12), 0.8), vertices=16)
    daylight(elevation=25.0, azimuth=300.0, sun_energy=4.0, sky_strength=0.35)
    cam, target = kit.camera((-0.3, -1.8, 0.6), (-0.4, 0.9, 0.2), lens=45.0)
    kit.keys(target, "location", {1: (-0.5, 0.9, 0.2), 5: (0.4, 0.9, 0.2)})
