"""interior: a closed room seen from inside, lit by small lamps and/or through windows; most light indirect.

The floor, ceiling and four walls are real boxes (15 cm thick) that close the room; a window is a hole in a
wall (the wall built from the pieces around it, maybe with mullions) with the sky and a sun lamp outside and a
window portal (an area light marked as portal) guiding Cycles' sampling through it. Lamps are small sphere lights:
ceiling pendants under an open shade, table lamps in a shade, uplights (spots at the ceiling: all their light
indirect), corner lamps. Furniture-like boxes stand against the walls and in the room: tables (with props on
them), cabinets, bookcases with books, sofas, beds, rugs, pictures. The camera stands inside (14-35 mm) looking
across the room.

Variants: ``lamps`` (night: lamps only, dark sky outside any window), ``window`` (day: sun and sky through 1-2
windows, no lamps), ``mixed`` (both).
"""
from __future__ import annotations

import math

from . import family
from ._common import (_color, _loguniform, _material, _natural_class, base_spec, box, camera, camera_motion,
                      floor_material, lathe, light, mat, obj, prop, r, sky_world, sun_direction, wall_material,
                      warm_white)

THICK = 0.15


def _wall_boxes(side: str, W: float, D: float, H: float, material: dict, window: dict | None,
                mullion: dict | None) -> list[dict]:
    """The boxes of one wall (``side`` in s, n, w, e), around its window's hole if any. ``window``: ``u`` (centre
    along the wall), ``width``, ``sill``, ``height``."""
    t = THICK
    if side in ("s", "n"):
        length, fixed = W + 2 * t, (-1 if side == "s" else 1) * (D / 2 + t / 2)
    else:
        length, fixed = D, (-1 if side == "w" else 1) * (W / 2 + t / 2)

    def piece(u0: float, u1: float, z0: float, z1: float, m=material) -> dict:
        uc, zc, lu, lz = (u0 + u1) / 2, (z0 + z1) / 2, u1 - u0, z1 - z0
        if side in ("s", "n"):
            return box((uc, fixed, zc), (lu, t, lz), m)
        return box((fixed, uc, zc), (t, lu, lz), m)

    if window is None:
        return [piece(-length / 2, length / 2, 0.0, H)]
    u, w, s, h = window["u"], window["width"], window["sill"], window["height"]
    out = [piece(-length / 2, u - w / 2, 0.0, H), piece(u + w / 2, length / 2, 0.0, H),
           piece(u - w / 2, u + w / 2, 0.0, s), piece(u - w / 2, u + w / 2, s + h, H)]
    if mullion:  # a cross of window bars: patterned shadows
        bar = mullion["width"]
        vertical = piece(u - bar / 2, u + bar / 2, s, s + h, mullion["material"])
        horizontal = piece(u - w / 2, u + w / 2, s + h * mullion["at"] - bar / 2, s + h * mullion["at"] + bar / 2,
                           mullion["material"])
        for b in (vertical, horizontal):  # thinner than the wall, set in its middle
            b["dims"] = [d * (0.4 if abs(d - t) < 1e-9 else 1.0) for d in b["dims"]]
        out += [vertical, horizontal]
    return out


def _wall_frame(side: str, W: float, D: float):
    """(point on the wall's inner face at u = 0, unit vector along u, inward normal) of a wall."""
    if side == "s":
        return (0.0, -D / 2, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
    if side == "n":
        return (0.0, D / 2, 0.0), (1.0, 0.0, 0.0), (0.0, -1.0, 0.0)
    if side == "w":
        return (-W / 2, 0.0, 0.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)
    return (W / 2, 0.0, 0.0), (0.0, 1.0, 0.0), (-1.0, 0.0, 0.0)


class _Floor:
    """Footprints taken on the floor (axis-aligned rectangles), to place furniture without overlaps."""

    def __init__(self, W: float, D: float):
        self.W, self.D, self.taken = W, D, []

    def free(self, x: float, y: float, hw: float, hd: float, margin: float = 0.08) -> bool:
        if abs(x) + hw > self.W / 2 or abs(y) + hd > self.D / 2:
            return False
        return all(abs(x - a) >= hw + b + margin or abs(y - c) >= hd + d + margin for a, c, b, d in self.taken)

    def take(self, x: float, y: float, hw: float, hd: float) -> None:
        self.taken.append((x, y, hw, hd))


def _against_wall(rng, W: float, D: float, depth: float, width: float):
    """A spot with its back against a random wall: (x, y, rot_z, half extents along x and y)."""
    side = rng.choice("snwe")
    if side in "sn":
        x = rng.uniform(-W / 2 + width / 2, W / 2 - width / 2) if W > width else 0.0
        y = (-1 if side == "s" else 1) * (D / 2 - depth / 2 - 0.02)
        return x, y, (0.0 if side == "s" else math.pi), width / 2, depth / 2
    y = rng.uniform(-D / 2 + width / 2, D / 2 - width / 2) if D > width else 0.0
    x = (-1 if side == "w" else 1) * (W / 2 - depth / 2 - 0.02)
    return x, y, (-math.pi / 2 if side == "w" else math.pi / 2), depth / 2, width / 2


def _local(x: float, y: float, rot: float, dx: float, dy: float):
    c, s = math.cos(rot), math.sin(rot)
    return x + c * dx - s * dy, y + s * dx + c * dy


def _furniture(rng, ctx, kind: str, floor: _Floor, W: float, D: float, H: float, objects: list) -> bool:
    wood = _natural_class(rng, "wood") if rng.random() < 0.7 else _material(rng)
    if wood["kind"] in ("glass", "emissive"):
        wood = _natural_class(rng, "wood")
    if kind == "table":
        tw, td, th = rng.uniform(0.7, 1.8), rng.uniform(0.5, 1.0), rng.uniform(0.7, 0.78)
        for _ in range(20):
            x, y = rng.uniform(-W / 2, W / 2), rng.uniform(-D / 2, D / 2)
            if floor.free(x, y, tw / 2, td / 2):
                break
        else:
            return False
        floor.take(x, y, tw / 2, td / 2)
        objects.append(box((x, y, th - 0.02), (tw, td, 0.04), wood))
        leg = mat("metal", _color(rng, sat=(0.0, 0.2), val=(0.3, 0.9)), rng.uniform(0.1, 0.5)) \
            if rng.random() < 0.4 else wood
        for sx in (-1, 1):
            for sy in (-1, 1):
                objects.append(box((x + sx * (tw / 2 - 0.05), y + sy * (td / 2 - 0.05), (th - 0.04) / 2),
                                   (0.05, 0.05, th - 0.04), leg))
        for _ in range(rng.randint(0, 3)):  # things on the table
            size = rng.uniform(0.08, 0.3)
            objects.append(prop(rng, ctx, (x + rng.uniform(-tw / 2 + size, tw / 2 - size) * 0.8,
                                           y + rng.uniform(-td / 2 + size, td / 2 - size) * 0.8), size, z0=th))
        return True
    if kind in ("cabinet", "bookcase", "sofa", "bed"):
        width, depth, height = {"cabinet": (rng.uniform(0.5, 1.6), rng.uniform(0.35, 0.6), rng.uniform(0.5, 2.0)),
                                "bookcase": (rng.uniform(0.6, 1.6), rng.uniform(0.25, 0.4), rng.uniform(1.2, 2.2)),
                                "sofa": (rng.uniform(1.4, 2.4), rng.uniform(0.8, 1.0), rng.uniform(0.75, 0.95)),
                                "bed": (rng.uniform(1.0, 1.9), rng.uniform(1.9, 2.2), rng.uniform(0.4, 0.6))}[kind]
        height = min(height, H - 0.1)
        for _ in range(20):
            x, y, rot, hx, hy = _against_wall(rng, W, D, depth, width)
            if floor.free(x, y, hx, hy):
                break
        else:
            return False
        floor.take(x, y, hx, hy)
        if kind == "cabinet":
            objects.append(box((x, y, height / 2), (width, depth, height), wood, rot_z=rot))
            if rng.random() < 0.6:
                size = rng.uniform(0.1, 0.35)
                objects.append(prop(rng, ctx, (x, y), size, z0=height))
        elif kind == "bookcase":
            side = 0.03
            for s in (-1, 1):
                px, py = _local(x, y, rot, s * (width / 2 - side / 2), 0.0)
                objects.append(box((px, py, height / 2), (side, depth, height), wood, rot_z=rot))
            px, py = _local(x, y, rot, 0.0, depth / 2 - 0.01)  # back panel
            objects.append(box((px, py, height / 2), (width, 0.02, height), wood, rot_z=rot))
            shelves = rng.randint(3, 5)
            for k in range(shelves + 1):
                z = 0.02 + k * (height - 0.04) / shelves
                objects.append(box((x, y, z), (width - 2 * side, depth, 0.025), wood, rot_z=rot))
                if k < shelves:  # books
                    u = -width / 2 + side + 0.02
                    gap = (height - 0.04) / shelves
                    while True:
                        bw = rng.uniform(0.02, 0.06)
                        if u + bw > width / 2 - side - 0.02:
                            break
                        if rng.random() < 0.8:
                            bh = rng.uniform(0.5, 0.9) * (gap - 0.03)
                            bx, by = _local(x, y, rot, u + bw / 2, 0.0)
                            book = mat("diffuse", _color(rng, sat=(0.2, 0.8), val=(0.15, 0.8)), rng.uniform(0.4, 0.9))
                            objects.append(box((bx, by, z + 0.0125 + bh / 2), (bw, depth * rng.uniform(0.6, 0.9), bh),
                                               book, rot_z=rot))
                        u += bw + 0.003
        else:
            fabric = mat("diffuse", _color(rng, sat=(0.05, 0.6), val=(0.2, 0.85)), rng.uniform(0.7, 1.0))
            if rng.random() < 0.5:
                fabric = _natural_class(rng, "painted")
                fabric.update(kind="diffuse", roughness=0.85, coat=0.0)
            seat = height * (0.5 if kind == "sofa" else 1.0)
            objects.append(box((x, y, seat / 2), (width, depth, seat), fabric, rot_z=rot))
            back_h = height if kind == "sofa" else rng.uniform(0.9, 1.3)
            px, py = _local(x, y, rot, 0.0, depth / 2 - 0.1)
            objects.append(box((px, py, back_h / 2), (width, 0.2, back_h), fabric if kind == "sofa" else wood,
                               rot_z=rot))
            if kind == "sofa":
                for s in (-1, 1):
                    px, py = _local(x, y, rot, s * (width / 2 - 0.1), 0.0)
                    objects.append(box((px, py, seat * 0.65), (0.2, depth, seat * 1.3), fabric, rot_z=rot))
            else:  # pillows
                pillow = mat("diffuse", _color(rng, sat=(0.0, 0.3), val=(0.6, 0.95)), 0.9)
                px, py = _local(x, y, rot, 0.0, depth / 2 - 0.35)
                objects.append(box((px, py, seat + 0.06), (width * 0.8, 0.35, 0.12), pillow, rot_z=rot,
                                   bevel_smooth=True))
        return True
    if kind == "rug":
        rw, rd = rng.uniform(1.0, min(3.0, W - 0.4)), rng.uniform(0.8, min(2.5, D - 0.4))
        rug = _material(rng) if rng.random() < 0.5 else _natural_class(rng, "painted")
        rug.update(kind="diffuse", roughness=0.95, metallic=0.0, transmission=0.0, emission=0.0, coat=0.0)
        objects.append(box((rng.uniform(-0.3, 0.3) * (W - rw), rng.uniform(-0.3, 0.3) * (D - rd), 0.006),
                           (rw, rd, 0.012), rug))
        return True
    if kind == "picture":
        side = rng.choice("snwe")
        origin, along, normal = _wall_frame(side, W, D)
        pw, ph = rng.uniform(0.3, 1.2), rng.uniform(0.3, 0.9)
        u = rng.uniform(-0.3, 0.3) * (W if side in "sn" else D)
        z = rng.uniform(1.2, min(1.8, H - ph / 2 - 0.1))
        centre = [origin[i] + along[i] * u + normal[i] * 0.02 for i in range(3)]
        centre[2] = z
        dims = [pw, 0.03, ph] if side in "sn" else [0.03, pw, ph]
        art = _material(rng)
        if art["kind"] in ("glass", "metal"):
            art["kind"], art["transmission"], art["metallic"] = "diffuse", 0.0, 0.0
        objects.append(box(centre, dims, art))
        return True
    raise ValueError(kind)


def _lamp(rng, kind: str, floor: _Floor, W: float, D: float, H: float, objects: list, lights: list) -> None:
    warm = warm_white(rng)
    radius = rng.uniform(0.02, 0.12)
    shade = mat("diffuse", _color(rng, sat=(0.0, 0.5), val=(0.5, 0.95)), 0.8)
    if kind == "pendant":
        x, y = rng.uniform(-0.35, 0.35) * W, rng.uniform(-0.35, 0.35) * D
        z = H - rng.uniform(0.4, 0.9)
        lights.append(light("point", (x, y, z), _loguniform(rng, 30, 250), warm, radius))
        if rng.random() < 0.7:  # an open shade over it: light goes down, the ceiling is lit indirectly
            top, bottom = rng.uniform(0.04, 0.1), rng.uniform(0.15, 0.35)
            objects.append(lathe([(bottom, -0.12), (top, 0.12)], (x, y, z + 0.05), shade, segments=32))
        objects.append(lathe([(0.008, 0.0), (0.008, H - z)], (x, y, z), mat("diffuse", [0.05, 0.05, 0.05], 0.6),
                             segments=8))  # the cord
    elif kind == "table":
        for _ in range(20):
            x, y = rng.uniform(-W / 2 + 0.3, W / 2 - 0.3), rng.uniform(-D / 2 + 0.3, D / 2 - 0.3)
            if floor.free(x, y, 0.2, 0.2):
                break
        else:
            return
        floor.take(x, y, 0.2, 0.2)
        z = rng.uniform(1.0, 1.6)
        objects.append(lathe([(0.012, 0.0), (0.012, z)], (x, y, 0.0), mat("metal", [0.6, 0.6, 0.6], 0.3),
                             segments=8))
        objects.append(lathe([(0.0, 0.0), (0.15, 0.0), (0.15, 0.02), (0.0, 0.02)], (x, y, 0.0),
                             mat("metal", [0.3, 0.3, 0.3], 0.4), segments=24))
        lights.append(light("point", (x, y, z), _loguniform(rng, 20, 150), warm, radius * 0.6))
        top, bottom = rng.uniform(0.08, 0.15), rng.uniform(0.15, 0.25)
        objects.append(lathe([(bottom, -0.15), (top, 0.12)], (x, y, z), shade, segments=32))
    elif kind == "uplight":  # a spot aimed at the ceiling: everything it lights is indirect
        x, y = rng.uniform(-0.45, 0.45) * W, rng.uniform(-0.45, 0.45) * D
        z = rng.uniform(0.3, 1.8)
        lights.append(light("spot", (x, y, z), _loguniform(rng, 100, 600), warm, radius,
                            target=(x + rng.uniform(-0.3, 0.3), y + rng.uniform(-0.3, 0.3), H),
                            spot_angle=rng.uniform(0.8, 2.2)))
    else:  # a bare small lamp low in a corner
        x, y = rng.choice([-1, 1]) * (W / 2 - 0.25), rng.choice([-1, 1]) * (D / 2 - 0.25)
        lights.append(light("point", (x, y, rng.uniform(0.2, 1.2)), _loguniform(rng, 10, 100), warm, radius))


@family("interior", weight=0.14, variants=("lamps", "window", "mixed"))
def make(ctx) -> dict:
    """A closed room lit by small lamps and/or through windows, furniture-like boxes, the camera inside."""
    rng = ctx.rng
    variant = rng.choices(["lamps", "window", "mixed"], weights=[0.35, 0.4, 0.25])[0]
    spec = base_spec(ctx, variant)
    W, D, H = rng.uniform(3.0, 7.0), rng.uniform(3.0, 7.0), rng.uniform(2.4, 3.4)
    spec["room"] = {"width": r(W), "depth": r(D), "height": r(H)}
    objects: list[dict] = []
    lights: list[dict] = []
    floor_m, wall_m = floor_material(rng), wall_material(rng)
    ceil_m = _natural_class(rng, "plaster") if rng.random() < 0.8 else wall_m
    objects.append(box((0.0, 0.0, -THICK / 2), (W + 2 * THICK, D + 2 * THICK, THICK), floor_m))
    objects.append(box((0.0, 0.0, H + THICK / 2), (W + 2 * THICK, D + 2 * THICK, THICK), ceil_m))

    day = variant in ("window", "mixed")
    window_sides = []
    if day or rng.random() < 0.4:  # night rooms may have a dark window too
        window_sides = rng.sample("snwe", rng.choice([1, 1, 2]))
    sun_elev, sun_azim = rng.uniform(0.15, 0.9), 0.0
    for k, side in enumerate("snwe"):
        window = mullion = None
        if side in window_sides:
            length = W if side in "sn" else D
            width = rng.uniform(0.7, min(2.4, length - 0.8))
            sill = rng.uniform(0.2, 1.0)
            height = rng.uniform(0.9, min(2.0, H - sill - 0.2))
            u = rng.uniform(-length / 2 + width / 2 + 0.3, length / 2 - width / 2 - 0.3)
            window = {"u": u, "width": width, "sill": sill, "height": height}
            if rng.random() < 0.5:
                mullion = {"width": rng.uniform(0.03, 0.08), "at": rng.uniform(0.4, 0.7),
                           "material": mat("diffuse", _color(rng, sat=(0.0, 0.2), val=(0.6, 0.95)), 0.6)}
            origin, along, normal = _wall_frame(side, W, D)
            centre = [origin[i] + along[i] * u for i in range(3)]
            centre[2] = sill + height / 2
            if day:  # a portal in the opening (inner face), facing into the room
                lights.append(light("area", centre, 1.0, (1.0, 1.0, 1.0), width,
                                    target=[centre[i] + normal[i] for i in range(3)], shape="RECTANGLE",
                                    size_y=r(height), portal=True))
            if side == window_sides[0]:  # the sun comes in through the first window
                out_azim = math.atan2(-normal[1], -normal[0])
                sun_azim = out_azim + rng.uniform(-0.8, 0.8)
        objects += _wall_boxes(side, W, D, H, wall_m, window, mullion)

    if window_sides:  # the world outside: ground to the horizon
        ground = _natural_class(rng, rng.choice(["grass", "stone", "sand"]), ground=True)
        objects.append(obj({"source": "plane"}, (0.0, 0.0, -THICK - 0.05), ground, dims=(400.0, 400.0, 1.0)))
    if day:
        spec["world"] = sky_world(rng, sun_elev, sun_azim, _loguniform(rng, 0.2, 1.0))
        if rng.random() < 0.85:  # some days are overcast: the sky alone
            lights.append(light("sun", [60 * c for c in sun_direction(sun_elev, sun_azim)], _loguniform(rng, 3.0, 10.0),
                                warm_white(rng), rng.uniform(0.005, 0.03), target=(0.0, 0.0, 0.0)))
    else:
        spec["world"] = {"kind": "color", "color": _color(rng, sat=(0.2, 0.7), val=(0.02, 0.2)),
                         "horizon": [0.0, 0.0, 0.0], "strength": r(_loguniform(rng, 0.005, 0.1))}

    # the camera first: furniture keeps clear of it
    floor = _Floor(W, D)
    cx, cy = rng.uniform(-W / 2 + 0.4, W / 2 - 0.4), rng.uniform(-D / 2 + 0.4, D / 2 - 0.4)
    floor.take(cx, cy, 0.35, 0.35)
    kinds = ["table", "cabinet", "bookcase", "sofa", "bed", "rug", "picture", "picture"]
    for kind in rng.sample(kinds, rng.randint(3, 6)):
        _furniture(rng, ctx, kind, floor, W, D, H, objects)
    if variant in ("lamps", "mixed"):
        for _ in range(rng.randint(1, 3) if variant == "lamps" else 1):
            _lamp(rng, rng.choice(["pendant", "table", "uplight", "corner"]), floor, W, D, H, objects, lights)

    # look across the room, away from the nearest wall
    for _ in range(50):
        tx, ty = rng.uniform(-W / 2 + 0.2, W / 2 - 0.2), rng.uniform(-D / 2 + 0.2, D / 2 - 0.2)
        if math.hypot(tx - cx, ty - cy) > 0.45 * max(W, D):
            break
    location = (cx, cy, rng.uniform(0.9, min(1.8, H - 0.3)))
    target = (tx, ty, rng.uniform(0.4, min(1.6, H - 0.5)))
    spec["objects"], spec["lights"] = objects, lights
    spec["camera"] = camera(location, target, rng.uniform(14.0, 35.0),
                            motion=camera_motion(rng, 0.4, 0.06, 0.1), clip_end=500.0)
    return spec
