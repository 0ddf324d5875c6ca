"""Small bpy helpers the authored scenes share: materials, shapes, lights, world, camera, keyframes.

Every helper works on the current scene (``bpy.context.scene``) of a file reset by
``ml_core.blender.reset_scene``; bpy is imported when a helper runs, so importing this module needs no Blender.
Sizes are metres, angles degrees unless named ``*_rad``. Shapes are built from Blender primitives and numpy
geometry only (no mesh files), so every checkout renders the same pixels.
"""
from __future__ import annotations

import math

import numpy as np


def _bpy():
    from .. import blender

    return blender.import_bpy()


def link(obj):
    _bpy().context.scene.collection.objects.link(obj)
    return obj


# -- materials -------------------------------------------------------------------------------------------------
def principled(name: str, color=(0.8, 0.8, 0.8), roughness: float = 0.5, metallic: float = 0.0,
               transmission: float = 0.0, ior: float = 1.45, subsurface: float = 0.0, coat: float = 0.0,
               emission=None, strength: float = 0.0, specular: float | None = None):
    """A Principled BSDF material; returns it (its node tree holds ``Principled BSDF`` and ``Material Output``)."""
    mat = _bpy().data.materials.new(name)
    b = bsdf(mat)
    b.inputs["Base Color"].default_value = (*color[:3], 1.0)
    b.inputs["Roughness"].default_value = roughness
    b.inputs["Metallic"].default_value = metallic
    b.inputs["Transmission Weight"].default_value = transmission
    b.inputs["IOR"].default_value = ior
    b.inputs["Subsurface Weight"].default_value = subsurface
    b.inputs["Coat Weight"].default_value = coat
    if specular is not None:
        b.inputs["Specular IOR Level"].default_value = specular
    if emission is not None:
        b.inputs["Emission Color"].default_value = (*emission[:3], 1.0)
        b.inputs["Emission Strength"].default_value = strength
    return mat


def bsdf(mat):
    return next(n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")


def output(mat):
    return next(n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial")


def glass(name: str, color=(1.0, 1.0, 1.0), ior: float = 1.5, roughness: float = 0.0):
    return principled(name, color, roughness=roughness, transmission=1.0, ior=ior)


def _bare_material(name: str):
    """A new node material holding only its output node (the default Principled BSDF removed)."""
    mat = _bpy().data.materials.new(name)
    nodes = mat.node_tree.nodes
    for n in list(nodes):
        if n.bl_idname == "ShaderNodeBsdfPrincipled":
            nodes.remove(n)
    return mat


def emissive(name: str, color, strength: float):
    """A pure emitter (Emission shader only): neon tubes, bulbs, screens."""
    mat = _bare_material(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    em = nodes.new("ShaderNodeEmission")
    em.inputs["Color"].default_value = (*color[:3], 1.0)
    em.inputs["Strength"].default_value = strength
    links.new(em.outputs["Emission"], output(mat).inputs["Surface"])
    return mat


def texture(mat, kind: str, scale: float, coords: str = "Object", **inputs):
    """Add a procedural texture node fed by ``coords`` (Object, Generated, UV); returns the node."""
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    node = nodes.new({"noise": "ShaderNodeTexNoise", "voronoi": "ShaderNodeTexVoronoi",
                      "checker": "ShaderNodeTexChecker", "wave": "ShaderNodeTexWave", "magic": "ShaderNodeTexMagic",
                      "brick": "ShaderNodeTexBrick", "gradient": "ShaderNodeTexGradient"}[kind])
    tc = nodes.new("ShaderNodeTexCoord")
    links.new(tc.outputs[coords], node.inputs["Vector"])
    if "Scale" in node.inputs:
        node.inputs["Scale"].default_value = scale
    for key, value in inputs.items():
        node.inputs[key].default_value = value
    return node


def ramp(mat, factor_socket, stops):
    """A colour ramp ``[(position, (r, g, b)), ...]`` driven by ``factor_socket``; returns its Color output."""
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    node = nodes.new("ShaderNodeValToRGB")
    elements = node.color_ramp.elements
    while len(elements) < len(stops):
        elements.new(0.5)
    for element, (position, color) in zip(elements, stops):
        element.position = position
        element.color = (*color[:3], 1.0)
    links.new(factor_socket, node.inputs["Fac"])
    return node.outputs["Color"]


def bump(mat, height_socket, strength: float, distance: float = 0.02):
    """Feed ``height_socket`` into the Principled BSDF's normal through a Bump node."""
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    node = nodes.new("ShaderNodeBump")
    node.inputs["Strength"].default_value = strength
    node.inputs["Distance"].default_value = distance
    links.new(height_socket, node.inputs["Height"])
    links.new(node.outputs["Normal"], bsdf(mat).inputs["Normal"])
    return node


def textured(name: str, kind: str, scale: float, stops, roughness: float = 0.5, bump_strength: float = 0.0,
             coords: str = "Object", factor: str = "Fac", roughness_stops=None, **inputs):
    """A Principled material whose base colour (and optionally roughness, bump) follow one procedural texture."""
    mat = principled(name, roughness=roughness)
    node = texture(mat, kind, scale, coords, **inputs)
    out = node.outputs["Distance" if kind == "voronoi" else factor if factor in node.outputs else "Color"]
    mat.node_tree.links.new(ramp(mat, out, stops), bsdf(mat).inputs["Base Color"])
    if roughness_stops:
        rough = ramp(mat, out, [(p, (v, v, v)) for p, v in roughness_stops])
        mat.node_tree.links.new(rough, bsdf(mat).inputs["Roughness"])
    if bump_strength:
        bump(mat, out, bump_strength)
    return mat


def volume(name: str, density: float, color=(1.0, 1.0, 1.0), anisotropy: float = 0.0, density_socket=None):
    """A volume-only material (no surface): fog or smoke with a Principled Volume."""
    mat = _bare_material(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    vol = nodes.new("ShaderNodeVolumePrincipled")
    vol.inputs["Color"].default_value = (*color[:3], 1.0)
    vol.inputs["Density"].default_value = density
    vol.inputs["Anisotropy"].default_value = anisotropy
    links.new(vol.outputs["Volume"], output(mat).inputs["Volume"])
    return mat


def assign(obj, mat):
    obj.data.materials.append(mat)
    return obj


# -- shapes ----------------------------------------------------------------------------------------------------
def _added(name: str, mat, smooth: bool = False):
    obj = _bpy().context.object
    obj.name = name
    if smooth:
        obj.data.shade_smooth()
    if mat is not None:
        assign(obj, mat)
    return obj


def box(name: str, size, location, mat=None, rotation=(0.0, 0.0, 0.0)):
    """A box of ``size`` (x, y, z) centred at ``location``; rotation in degrees."""
    import mathutils

    bpy = _bpy()
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=location, rotation=[math.radians(a) for a in rotation])
    obj = _added(name, mat)
    obj.data.transform(mathutils.Matrix.Diagonal((*size, 1.0)))
    return obj


def sphere(name: str, radius: float, location, mat=None, segments: int = 48, rings: int = 24, smooth: bool = True):
    _bpy().ops.mesh.primitive_uv_sphere_add(radius=radius, location=location, segments=segments, ring_count=rings)
    return _added(name, mat, smooth)


def ico(name: str, radius: float, location, mat=None, subdivisions: int = 3, smooth: bool = True):
    _bpy().ops.mesh.primitive_ico_sphere_add(radius=radius, location=location, subdivisions=subdivisions)
    return _added(name, mat, smooth)


def cylinder(name: str, radius: float, depth: float, location, mat=None, rotation=(0.0, 0.0, 0.0),
             vertices: int = 48, smooth: bool = True):
    _bpy().ops.mesh.primitive_cylinder_add(radius=radius, depth=depth, location=location, vertices=vertices,
                                           rotation=[math.radians(a) for a in rotation])
    obj = _added(name, mat, smooth)
    if smooth:  # keep the caps flat
        obj.data.set_sharp_from_angle(angle=math.radians(40))
    return obj


def plane(name: str, size, location, mat=None, rotation=(0.0, 0.0, 0.0)):
    """A plane ``size`` (x, y) wide; rotation in degrees."""
    import mathutils

    bpy = _bpy()
    bpy.ops.mesh.primitive_plane_add(size=1.0, location=location, rotation=[math.radians(a) for a in rotation])
    obj = _added(name, mat)
    sx, sy = (size, size) if np.isscalar(size) else size
    obj.data.transform(mathutils.Matrix.Diagonal((sx, sy, 1.0, 1.0)))
    return obj


def mesh(name: str, verts, faces, mat=None, smooth: bool = False, uvs=None, location=(0.0, 0.0, 0.0)):
    """A mesh object from numpy vertices and faces (lists of vertex indices); ``uvs`` per face corner."""
    bpy = _bpy()
    data = bpy.data.meshes.new(name)
    data.from_pydata(np.asarray(verts, float).tolist(), [], [list(map(int, f)) for f in faces])
    if uvs is not None:
        layer = data.uv_layers.new(name="UVMap")
        layer.data.foreach_set("uv", np.asarray(uvs, np.float32).ravel())
    data.validate()
    if smooth:
        data.shade_smooth()
    obj = link(bpy.data.objects.new(name, data))
    obj.location = location
    if mat is not None:
        assign(obj, mat)
    return obj


def lathe(name: str, profile, mat=None, segments: int = 64, location=(0.0, 0.0, 0.0), smooth: bool = True):
    """Revolve ``profile`` [(radius, z), ...] about the z axis; a radius of 0 at either end closes it there.

    Walk the profile counter-clockwise around the solid's cross-section (up its outside, down its inside) so the
    normals point outwards: Cycles decides entering or leaving glass by the normal's side."""
    profile = [(float(r), float(z)) for r, z in profile]
    angles = np.linspace(0.0, 2 * math.pi, segments, endpoint=False)
    verts, rings = [], []
    for r, z in profile:
        if r == 0.0:
            rings.append([len(verts)])
            verts.append((0.0, 0.0, z))
        else:
            rings.append(list(range(len(verts), len(verts) + segments)))
            verts += [(r * math.cos(a), r * math.sin(a), z) for a in angles]
    faces = []
    for a, b in zip(rings, rings[1:]):
        for i in range(segments):
            j = (i + 1) % segments
            if len(a) == 1:  # winding as the quads': normals point out of the solid (glass needs it)
                faces.append((a[0], b[j], b[i]))
            elif len(b) == 1:
                faces.append((a[i], a[j], b[0]))
            else:
                faces.append((a[i], a[j], b[j], b[i]))
    obj = mesh(name, verts, faces, mat, smooth, location=location)
    if smooth:  # smooth around the axis, sharp at the profile's corners (a glass rim must not bend the walls)
        obj.data.set_sharp_from_angle(angle=math.radians(40))
    return obj


def tube(name: str, points, radius: float, mat=None, closed: bool = False, bevel_resolution: int = 4):
    """A round tube along a polyline (a bevelled curve): neon tubes, cables, wires."""
    bpy = _bpy()
    curve = bpy.data.curves.new(name, "CURVE")
    curve.dimensions = "3D"
    curve.bevel_depth = radius
    curve.bevel_resolution = bevel_resolution
    curve.use_fill_caps = True
    spline = curve.splines.new("POLY")
    points = np.asarray(points, float)
    spline.points.add(len(points) - 1)
    spline.points.foreach_set("co", np.hstack([points, np.ones((len(points), 1))]).ravel())
    spline.use_cyclic_u = closed
    obj = link(bpy.data.objects.new(name, curve))
    if mat is not None:
        curve.materials.append(mat)
    return obj


def catenary(a, b, sag: float, n: int = 48) -> np.ndarray:
    """Points of a hanging cable from ``a`` to ``b`` sagging ``sag`` metres at the middle (a parabola)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = a + (b - a) * t
    pts[:, 2] -= sag * 4 * t[:, 0] * (1 - t[:, 0])
    return pts


def subdivide(obj, levels: int = 2):
    mod = obj.modifiers.new("subsurf", "SUBSURF")
    mod.levels = mod.render_levels = levels
    return mod


def room(name: str, size, mat_walls, mat_floor=None, mat_ceiling=None, wall_thickness: float = 0.1,
         window=None):
    """A closed box room from (0, 0, 0) to ``size``, walls ``wall_thickness`` thick outside it.

    ``window``: optional ``(wall, u0, u1, z0, z1)`` hole in wall ``"north"`` (y = size y), ``"south"``, ``"east"``
    (x = size x) or ``"west"``, from ``u0`` to ``u1`` along the wall and ``z0`` to ``z1`` up. Returns the objects.
    """
    sx, sy, sz = size
    t = wall_thickness
    objs = [box(f"{name}_floor", (sx + 2 * t, sy + 2 * t, t), (sx / 2, sy / 2, -t / 2), mat_floor or mat_walls),
            box(f"{name}_ceiling", (sx + 2 * t, sy + 2 * t, t), (sx / 2, sy / 2, sz + t / 2), mat_ceiling or mat_walls)]
    walls = {"north": ((sx / 2, sy + t / 2), "x", sx + 2 * t), "south": ((sx / 2, -t / 2), "x", sx + 2 * t),
             "east": ((sx + t / 2, sy / 2), "y", sy), "west": ((-t / 2, sy / 2), "y", sy)}
    for wall, ((cx, cy), axis, length) in walls.items():
        def piece(u_lo, u_hi, z_lo, z_hi, tag):
            if u_hi - u_lo <= 1e-6 or z_hi - z_lo <= 1e-6:
                return
            # u runs along the wall from its low end (x = -t or y = 0)
            start = -t if axis == "x" else 0.0
            mid_u, mid_z = start + (u_lo + u_hi) / 2, (z_lo + z_hi) / 2
            loc = (mid_u, cy, mid_z) if axis == "x" else (cx, mid_u, mid_z)
            dims = (u_hi - u_lo, t, z_hi - z_lo) if axis == "x" else (t, u_hi - u_lo, z_hi - z_lo)
            objs.append(box(f"{name}_{wall}{tag}", dims, loc, mat_walls))

        if window and window[0] == wall:
            _, u0, u1, z0, z1 = window
            off = t if axis == "x" else 0.0  # window u measured from the room's inner corner
            u0, u1 = u0 + off, u1 + off
            piece(0, length, 0, z0, "_below")
            piece(0, length, z1, sz, "_above")
            piece(0, u0, z0, z1, "_left")
            piece(u1, length, z0, z1, "_right")
        else:
            piece(0, length, 0, sz, "")
    return objs


# -- lights, world, camera -------------------------------------------------------------------------------------
def aim(obj, target):
    """Point ``obj``'s -Z axis (lights, cameras) at ``target``."""
    import mathutils

    direction = mathutils.Vector(target) - mathutils.Vector(obj.location)
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    return obj


def light(name: str, kind: str, location, energy: float, target=None, size: float = 0.1, color=(1.0, 1.0, 1.0),
          spot_deg: float = 45.0, blend: float = 0.15, shape: str = "SQUARE", size_y: float | None = None):
    """A lamp: ``kind`` point, spot, area or sun (``size`` is the radius, area side, or sun angle in degrees)."""
    bpy = _bpy()
    data = bpy.data.lights.new(name, kind.upper())
    data.energy = energy
    data.color = color[:3]
    if kind == "area":
        data.shape = shape
        data.size = size
        if size_y is not None:
            data.size_y = size_y
    elif kind == "sun":
        data.angle = math.radians(size)
    else:
        data.shadow_soft_size = size
        if kind == "spot":
            data.spot_size = math.radians(spot_deg)
            data.spot_blend = blend
    obj = link(bpy.data.objects.new(name, data))
    obj.location = location
    if target is not None:
        aim(obj, target)
    return obj


def sun(name: str, elevation: float, azimuth: float, energy: float, angle: float = 0.5, color=(1.0, 0.95, 0.88)):
    """A sun lamp ``elevation`` degrees above the horizon, coming from ``azimuth`` degrees (0: from +y, 90: from
    +x)."""
    el, az = math.radians(elevation), math.radians(azimuth)
    direction = (math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el))  # towards the sun
    return light(name, "sun", direction, energy, target=(0.0, 0.0, 0.0), size=angle, color=color)


def world_color(color, strength: float = 1.0):
    bpy = _bpy()
    world = bpy.data.worlds.new("World")
    bpy.context.scene.world = world
    bg = next(n for n in world.node_tree.nodes if n.bl_idname == "ShaderNodeBackground")
    bg.inputs["Color"].default_value = (*color[:3], 1.0)
    bg.inputs["Strength"].default_value = strength
    return world


def world_sky(elevation: float, azimuth: float, strength: float = 1.0, sky_type: str = "MULTIPLE_SCATTERING",
              sun_disc: bool = False):
    """A physical sky whose sun sits where :func:`sun` with the same angles puts the lamp (its disc off: the
    lamp gives the sharp shadow and is sampled directly)."""
    bpy = _bpy()
    world = world_color((0, 0, 0), strength)
    nodes, links = world.node_tree.nodes, world.node_tree.links
    sky = nodes.new("ShaderNodeTexSky")
    sky.sky_type = sky_type
    sky.sun_disc = sun_disc
    sky.sun_elevation = math.radians(elevation)
    # measured: sun_rotation 0 puts the sky's sun towards +y, 90 degrees towards +x (as :func:`sun`'s azimuth)
    sky.sun_rotation = math.radians(azimuth)
    bg = next(n for n in nodes if n.bl_idname == "ShaderNodeBackground")
    links.new(sky.outputs["Color"], bg.inputs["Color"])
    # the importance map of a smooth sky (its sun disc is off) needs no 1024 px: 256 saves ~2 s per render
    world.cycles.sampling_method = "MANUAL"  # AUTOMATIC ignores the resolution
    world.cycles.sample_map_resolution = 256
    bpy.context.scene.world = world
    return world


def camera(location, target, lens: float = 35.0, fstop: float | None = None, focus=None, sensor: float = 36.0):
    """The scene camera at ``location`` tracking an empty at ``target`` (both can be keyframed).

    ``fstop`` turns depth of field on, focused on ``focus`` (an object, a point, or by default the target).
    Returns (camera object, target empty)."""
    bpy = _bpy()
    scene = bpy.context.scene
    data = bpy.data.cameras.new("camera")
    data.lens = lens
    data.sensor_width = sensor
    data.clip_start = 0.02
    data.clip_end = 5000.0
    cam = link(bpy.data.objects.new("camera", data))
    empty = link(bpy.data.objects.new("camera_target", None))
    cam.location, empty.location = location, target
    track = cam.constraints.new("TRACK_TO")
    track.target, track.track_axis, track.up_axis = empty, "TRACK_NEGATIVE_Z", "UP_Y"
    if fstop:
        data.dof.use_dof = True
        data.dof.aperture_fstop = fstop
        if focus is None:
            data.dof.focus_object = empty
        elif hasattr(focus, "location"):
            data.dof.focus_object = focus
        else:
            focus_empty = link(bpy.data.objects.new("focus", None))
            focus_empty.location = focus
            data.dof.focus_object = focus_empty
    scene.camera = cam
    return cam, empty


def keys(obj, path: str, values: dict):
    """Keyframe ``obj.<path>`` at each ``{frame: value}`` (linear interpolation: ``reset_scene`` sets it)."""
    for frame, value in values.items():
        setattr(obj, path, value)
        obj.keyframe_insert(path, frame=frame)
    return obj


def rng(name: str) -> np.random.Generator:
    """A generator seeded by the scene's name: the same geometry on every run and machine."""
    return np.random.default_rng(int.from_bytes(name.encode(), "little") % (2**63))
