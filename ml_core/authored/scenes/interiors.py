"""Interiors: a closed living room lit by one shaded lamp, and a room lit by the sun through a window."""
from __future__ import annotations

import math

from .. import kit
from ..base import scene

ROOM = (5.0, 4.0, 2.6)


def wood(name: str = "wood", scale: float = 3.0):
    """Banded wood: a wave texture with noise distortion, light and dark browns, a little bump."""
    return kit.textured(name, "wave", scale, [(0.0, (0.32, 0.16, 0.07)), (0.6, (0.55, 0.3, 0.14)),
                                             (1.0, (0.42, 0.22, 0.1))],
                        roughness=0.35, bump_strength=0.05, Distortion=6.0, Detail=4.0)


def living_room():
    """The furnished closed room (no lamp, no camera); returns the objects scenes animate or light."""
    wall = kit.principled("wall", (0.72, 0.68, 0.6), roughness=0.9)
    ceiling = kit.principled("ceiling", (0.8, 0.8, 0.78), roughness=0.9)
    kit.room("room", ROOM, wall, wood("floor", 2.0), ceiling)
    # skirting along the walls
    skirting = kit.principled("skirting", (0.85, 0.85, 0.82), roughness=0.4)
    kit.box("skirting_n", (5.0, 0.02, 0.1), (2.5, 3.99, 0.05), skirting)
    kit.box("skirting_w", (0.02, 4.0, 0.1), (0.01, 2.0, 0.05), skirting)
    # sofa against the north wall
    fabric = kit.textured("sofa", "noise", 180.0, [(0.3, (0.12, 0.18, 0.3)), (0.7, (0.2, 0.27, 0.42))],
                          roughness=0.95, bump_strength=0.15, Detail=2.0)
    kit.box("sofa_base", (2.0, 0.9, 0.42), (2.6, 3.5, 0.21), fabric)
    kit.box("sofa_back", (2.0, 0.22, 0.5), (2.6, 3.84, 0.67), fabric)
    for x in (1.52, 3.68):
        kit.box(f"sofa_arm{x}", (0.16, 0.9, 0.62), (x, 3.5, 0.31), fabric)
    cushion = kit.principled("cushion", (0.75, 0.35, 0.12), roughness=0.9)
    kit.box("cushion", (0.45, 0.15, 0.4), (2.0, 3.6, 0.62), cushion, rotation=(-15, 0, 8))
    # coffee table
    table = wood("table", 6.0)
    kit.box("table_top", (1.1, 0.6, 0.05), (2.6, 2.3, 0.42), table)
    metal = kit.principled("legs", (0.1, 0.1, 0.1), roughness=0.3, metallic=1.0)
    for dx in (-0.5, 0.5):
        for dy in (-0.25, 0.25):
            kit.cylinder(f"table_leg{dx}{dy}", 0.02, 0.4, (2.6 + dx, 2.3 + dy, 0.2), metal, vertices=12)
    kit.cylinder("mug", 0.045, 0.1, (2.4, 2.25, 0.495), kit.principled("mug", (0.8, 0.1, 0.08), 0.2))
    # rug
    rug = kit.textured("rug", "checker", 9.0, [(0.0, (0.5, 0.45, 0.35)), (1.0, (0.25, 0.08, 0.06))],
                       roughness=1.0, Color1=(1, 1, 1, 1), Color2=(0, 0, 0, 1))
    kit.box("rug", (2.4, 1.6, 0.012), (2.6, 2.4, 0.006), rug)
    # side table and the lamp's body (the light is added by the scene)
    kit.box("side_table", (0.45, 0.45, 0.55), (1.05, 3.5, 0.275), table)
    brass = kit.principled("brass", (0.8, 0.55, 0.25), roughness=0.25, metallic=1.0)
    kit.cylinder("lamp_base", 0.09, 0.03, (1.05, 3.5, 0.565), brass)
    kit.cylinder("lamp_stem", 0.012, 0.35, (1.05, 3.5, 0.75), brass, vertices=12)
    shade = kit.principled("shade", (0.9, 0.82, 0.62), roughness=0.9)
    kit.lathe("lamp_shade", [(0.2, 0.82), (0.13, 1.08), (0.128, 1.08), (0.197, 0.82)], shade)
    # bookshelf on the west wall, books of random colours
    shelf = kit.principled("shelf", (0.25, 0.22, 0.2), roughness=0.6)
    kit.box("shelf_side0", (0.35, 0.03, 2.0), (0.18, 0.6, 1.0), shelf)
    kit.box("shelf_side1", (0.35, 0.03, 2.0), (0.18, 1.8, 1.0), shelf)
    rng = kit.rng("books")
    for k, z in enumerate((0.05, 0.5, 0.95, 1.4, 1.85)):
        kit.box(f"shelf_board{k}", (0.35, 1.2, 0.03), (0.18, 1.2, z), shelf)
        if z > 1.8:
            continue
        y = 0.63
        while y < 1.72:
            w, h = rng.uniform(0.025, 0.06), rng.uniform(0.26, 0.4)
            color = tuple(rng.uniform(0.05, 0.7, 3) * rng.choice([1.0, 0.4]))
            kit.box(f"book{k}_{y:.2f}", (0.24, w, h), (0.16, y + w / 2, z + 0.015 + h / 2),
                    kit.principled(f"book{k}_{y:.2f}", color, roughness=rng.uniform(0.3, 0.8)),
                    rotation=(rng.uniform(-3, 3), 0, 0))
            y += w + 0.004
    # a framed picture on the east wall
    kit.box("frame", (0.03, 1.0, 0.7), (4.985, 1.6, 1.6), kit.principled("frame", (0.05, 0.04, 0.03), 0.3))
    kit.box("picture", (0.01, 0.9, 0.6), (4.965, 1.6, 1.6),
            kit.textured("picture", "magic", 3.0, [(0.0, (0.05, 0.2, 0.4)), (1.0, (0.9, 0.7, 0.3))],
                         roughness=0.2, coords="Generated"))
    # a ball on the floor (animated scenes roll it)
    ball = kit.sphere("ball", 0.15, (3.9, 2.9, 0.15),
                      kit.textured("ball", "checker", 4.0, [(0.0, (0.9, 0.9, 0.85)), (1.0, (0.85, 0.25, 0.05))],
                                   roughness=0.35, coords="Generated", Color1=(1, 1, 1, 1), Color2=(0, 0, 0, 1)))
    return {"ball": ball}


def lamp():
    """One small bulb inside the shade: light leaves only through its top and bottom openings."""
    return kit.light("bulb", "point", (1.05, 3.5, 0.97), 25.0, size=0.02, color=(1.0, 0.8, 0.55))


@scene("room_lamp", "interior_lamp",
       "closed living room lit only by one small bulb inside a lampshade: nearly all light is indirect")
def room_lamp():
    living_room()
    lamp()
    kit.world_color((0, 0, 0), 0.0)
    kit.camera((4.7, 0.35, 1.55), (2.0, 2.9, 0.75), lens=18.0)


@scene("anim_room_lamp", "interior_lamp",
       "the closed lamp-lit room: the camera dollies in while a ball rolls behind the coffee table", frames=5)
def anim_room_lamp():
    objs = living_room()
    lamp()
    kit.world_color((0, 0, 0), 0.0)
    cam, target = kit.camera((4.7, 0.35, 1.55), (2.0, 2.9, 0.75), lens=18.0)
    kit.keys(cam, "location", {1: (4.75, 0.3, 1.6), 5: (4.2, 0.75, 1.45)})
    kit.keys(target, "location", {1: (2.1, 2.9, 0.75), 5: (1.8, 2.9, 0.8)})
    ball = objs["ball"]
    kit.keys(ball, "location", {1: (3.9, 2.75, 0.15), 5: (1.5, 2.75, 0.15)})
    kit.keys(ball, "rotation_euler", {1: (0.0, 0.0, 0.0), 5: (0.0, -2.4 / 0.15, 0.0)})


@scene("room_window_sun", "interior_sun",
       "room lit by the sun and sky through a mullioned window: a hard sun patch on the floor, the rest bounced")
def room_window_sun():
    wall = kit.principled("wall", (0.8, 0.78, 0.74), roughness=0.9)
    sx, sy, sz = ROOM
    kit.room("room", ROOM, wall, wood("floor", 2.0), window=("west", 1.1, 2.9, 0.8, 2.2))
    frame = kit.principled("window_frame", (0.9, 0.9, 0.9), roughness=0.4)
    kit.box("mullion_v", (0.1, 0.06, 1.4), (-0.05, 2.0, 1.5), frame)
    kit.box("mullion_h", (0.1, 1.8, 0.05), (-0.05, 2.0, 1.55), frame)
    kit.box("sill", (0.3, 1.9, 0.04), (0.05, 2.0, 0.78), frame)
    # a table with two chairs, a pot plant, a rug
    table = wood("table", 5.0)
    kit.box("table_top", (1.4, 0.85, 0.05), (2.6, 2.1, 0.74), table)
    for dx in (-0.62, 0.62):
        for dy in (-0.35, 0.35):
            kit.box(f"leg{dx}{dy}", (0.05, 0.05, 0.72), (2.6 + dx, 2.1 + dy, 0.36), table)
    chair = kit.principled("chair", (0.15, 0.3, 0.22), roughness=0.6)
    for k, (x, y, r) in enumerate(((2.3, 1.4, 5.0), (3.0, 2.85, 185.0))):
        kit.box(f"chair_seat{k}", (0.45, 0.45, 0.04), (x, y, 0.45), chair, rotation=(0, 0, r))
        back = (x, y - 0.21, 0.72) if r < 90 else (x, y + 0.21, 0.72)
        kit.box(f"chair_back{k}", (0.45, 0.04, 0.55), back, chair, rotation=(0, 0, r))
        for dx in (-0.2, 0.2):
            for dy in (-0.2, 0.2):
                kit.box(f"chair{k}_leg{dx}{dy}", (0.035, 0.035, 0.45), (x + dx, y + dy, 0.225), chair)
    kit.box("vase", (0.12, 0.12, 0.25), (2.75, 2.0, 0.89), kit.glass("vase", (0.7, 0.9, 0.8)))
    pot = kit.principled("pot", (0.6, 0.25, 0.12), roughness=0.7)
    kit.lathe("pot", [(0.0, 0.0), (0.16, 0.0), (0.2, 0.35), (0.18, 0.35), (0.0, 0.3)], pot,
              location=(0.5, 3.4, 0.0))
    leaves = kit.principled("plant", (0.08, 0.3, 0.06), roughness=0.6)
    for k in range(7):
        a = k * 2 * math.pi / 7
        kit.ico(f"leaf{k}", 0.16, (0.5 + 0.15 * math.cos(a), 3.4 + 0.15 * math.sin(a), 0.55 + 0.08 * (k % 3)), leaves,
                subdivisions=2)
    kit.box("rug", (1.8, 1.4, 0.01), (2.6, 2.1, 0.005),
            kit.textured("rug", "wave", 6.0, [(0.0, (0.6, 0.5, 0.3)), (1.0, (0.2, 0.15, 0.3))], roughness=1.0))
    kit.sun("sun", elevation=28.0, azimuth=262.0, energy=6.0, angle=0.6)
    kit.world_sky(elevation=28.0, azimuth=262.0, strength=0.35)
    kit.camera((4.75, 0.3, 1.6), (1.4, 2.4, 0.8), lens=18.0)
