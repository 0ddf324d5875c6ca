"""Spec -> Blender scene (bpy): meshes, Principled materials with procedural textures, lights, the camera, and
linear keyframes for the motion. Only this module of ``ml_core.scenes`` imports bpy (when called).

The scene families (``ml_core.scenes.families``) use a few more spec keys, all optional, so a classic spec builds
exactly as before: shapes ``plane``, ``lathe``, ``sweep`` and ``curve`` (tubes and wires), ``dims`` (a size in
metres baked into the mesh), ``hair`` (curves grown on an object's surface), materials with ``subsurface_radius``,
``alpha`` (procedural cut-out masks), ``volume`` and ``hair_bsdf``; lights with ``target``, ``shape``/``size_y``,
``spread`` and ``portal``; a ``sky`` world (Blender's Sky Texture); the camera's ``clip_end``; ``cycles``
(integrator options that belong to the scene, :data:`CYCLES_SPEC_KEYS`).
"""
from __future__ import annotations

import math

from .meshes import MeshLibrary, SceneError, lathe_shape, plane_shape, sweep_shape, trimesh_shape


def _mesh_object(bpy, name: str, verts, faces, smooth: bool):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts.tolist(), [], faces.tolist())
    mesh.validate()
    if smooth:
        mesh.shade_smooth()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _primitive_object(bpy, name: str, kind: str, smooth: bool):
    import mathutils

    add = {"cube": bpy.ops.mesh.primitive_cube_add, "uv_sphere": bpy.ops.mesh.primitive_uv_sphere_add,
           "ico_sphere": bpy.ops.mesh.primitive_ico_sphere_add, "cylinder": bpy.ops.mesh.primitive_cylinder_add,
           "cone": bpy.ops.mesh.primitive_cone_add, "torus": bpy.ops.mesh.primitive_torus_add,
           "monkey": bpy.ops.mesh.primitive_monkey_add}[kind]
    add()
    obj = bpy.context.object
    obj.name = name
    # Primitives come at size 2 (torus ~2.5 wide): bring them to the unit box every other shape uses.
    obj.data.transform(mathutils.Matrix.Scale(1.0 / max(obj.dimensions), 4))
    if smooth:
        obj.data.shade_smooth()
    return obj


def _texture_node(nodes, tex: dict):
    kind = tex["type"]
    node = nodes.new({"noise": "ShaderNodeTexNoise", "voronoi": "ShaderNodeTexVoronoi",
                      "checker": "ShaderNodeTexChecker", "wave": "ShaderNodeTexWave",
                      "magic": "ShaderNodeTexMagic", "brick": "ShaderNodeTexBrick"}[kind])
    node.inputs["Scale"].default_value = tex["scale"]
    if "Detail" in node.inputs:
        node.inputs["Detail"].default_value = min(tex["detail"], 15.0)
    if "Distortion" in node.inputs:
        node.inputs["Distortion"].default_value = tex["distortion"]
    factor = node.outputs["Distance"] if kind == "voronoi" else node.outputs["Factor"]
    return node, factor


def _make_material(bpy, name: str, m: dict):
    mat = bpy.data.materials.new(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next(n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    color = (*m["color"], 1.0)
    bsdf.inputs["Base Color"].default_value = color
    bsdf.inputs["Roughness"].default_value = m["roughness"]
    bsdf.inputs["Metallic"].default_value = m["metallic"]
    bsdf.inputs["IOR"].default_value = m["ior"]
    bsdf.inputs["Transmission Weight"].default_value = m["transmission"]
    bsdf.inputs["Subsurface Weight"].default_value = m["subsurface"]
    bsdf.inputs["Coat Weight"].default_value = m["coat"]
    if m["emission"] > 0:
        bsdf.inputs["Emission Color"].default_value = color
        bsdf.inputs["Emission Strength"].default_value = m["emission"]
    tex = m.get("texture")
    if tex:
        coords = nodes.new("ShaderNodeTexCoord")
        node, factor = _texture_node(nodes, tex)
        links.new(coords.outputs["Object"], node.inputs["Vector"])
        mix = nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        for sock in mix.inputs:
            if sock.identifier == "A_Color":
                sock.default_value = color
            elif sock.identifier == "B_Color":
                sock.default_value = (*tex["color"], 1.0)
        links.new(factor, next(s for s in mix.inputs if s.identifier == "Factor_Float"))
        links.new(next(o for o in mix.outputs if o.identifier == "Result_Color"), bsdf.inputs["Base Color"])
        if m["bump"] > 0:
            bump = nodes.new("ShaderNodeBump")
            bump.inputs["Strength"].default_value = m["bump"]
            if "bump_distance" in m:
                bump.inputs["Distance"].default_value = m["bump_distance"]
            links.new(factor, bump.inputs["Height"])
            links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    _family_material(mat, bsdf, m)
    return mat


def _family_material(mat, bsdf, m: dict) -> None:
    """The material keys only family specs carry (none of them is in a classic spec)."""
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    output = next(n for n in nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    if "subsurface_radius" in m:
        bsdf.inputs["Subsurface Radius"].default_value = m["subsurface_radius"]
        bsdf.inputs["Subsurface Scale"].default_value = m.get("subsurface_scale", 0.05)
    if m.get("alpha"):
        links.new(_alpha_mask(nodes, links, m["alpha"]), bsdf.inputs["Alpha"])
    if m.get("hair_bsdf"):  # Principled Hair (melanin) for curves
        h = m["hair_bsdf"]
        hair = nodes.new("ShaderNodeBsdfHairPrincipled")
        hair.parametrization = "MELANIN"
        hair.inputs["Melanin"].default_value = h["melanin"]
        hair.inputs["Melanin Redness"].default_value = h["redness"]
        hair.inputs["Tint"].default_value = (*h.get("tint", [1.0, 1.0, 1.0]), 1.0)
        hair.inputs["Roughness"].default_value = h["roughness"]
        hair.inputs["Radial Roughness"].default_value = h["radial_roughness"]
        hair.inputs["Random Color"].default_value = h["random_color"]
        links.new(hair.outputs[0], output.inputs["Surface"])
    if m.get("volume"):
        v = m["volume"]
        vol = nodes.new("ShaderNodeVolumePrincipled")
        vol.inputs["Color"].default_value = (*v["color"], 1.0)
        vol.inputs["Anisotropy"].default_value = v["anisotropy"]
        vol.inputs["Absorption Color"].default_value = (*v.get("absorption", [0.0, 0.0, 0.0]), 1.0)
        vol.inputs["Density"].default_value = v["density"]
        if v.get("noise"):  # smoke: noise density, fading out towards the box's faces
            n = v["noise"]
            coords, noise = nodes.new("ShaderNodeTexCoord"), nodes.new("ShaderNodeTexNoise")
            noise.inputs["Scale"].default_value = n["scale"]
            noise.inputs["Detail"].default_value = n["detail"]
            noise.inputs["Distortion"].default_value = n.get("distortion", 0.0)
            links.new(coords.outputs["Object"], noise.inputs["Vector"])
            ramp = nodes.new("ShaderNodeMapRange")  # contrast: density from noise above a threshold
            ramp.inputs["From Min"].default_value = n["threshold"]
            ramp.inputs["From Max"].default_value = min(n["threshold"] + n["softness"], 1.0)
            links.new(noise.outputs["Factor"], ramp.inputs["Value"])
            fade = _radial_fade(nodes, links, coords, (0.5, 0.5, 0.5), 0.25, 0.5)  # thins out towards the box
            mul1, mul2 = nodes.new("ShaderNodeMath"), nodes.new("ShaderNodeMath")
            mul1.operation = mul2.operation = "MULTIPLY"
            links.new(ramp.outputs["Result"], mul1.inputs[0])
            links.new(fade.outputs["Result"], mul1.inputs[1])
            links.new(mul1.outputs[0], mul2.inputs[0])
            mul2.inputs[1].default_value = v["density"]
            links.new(mul2.outputs[0], vol.inputs["Density"])
        links.new(vol.outputs[0], output.inputs["Volume"])
        if m["kind"] == "volume":  # a pure volume: no surface at its boundary
            for link in list(output.inputs["Surface"].links):
                links.remove(link)


def _radial_fade(nodes, links, coords, centre, start: float, end: float):
    """A Map Range node: 1 within ``start`` of ``centre`` in Generated (0..1) coordinates, falling to 0 at ``end``."""
    distance = nodes.new("ShaderNodeVectorMath")
    distance.operation = "DISTANCE"
    distance.inputs[1].default_value = centre
    links.new(coords.outputs["Generated"], distance.inputs[0])
    fade = nodes.new("ShaderNodeMapRange")
    fade.inputs["From Min"].default_value, fade.inputs["From Max"].default_value = start, end
    fade.inputs["To Min"].default_value, fade.inputs["To Max"].default_value = 1.0, 0.0
    links.new(distance.outputs["Value"], fade.inputs["Value"])
    return fade


def _alpha_mask(nodes, links, a: dict):
    """A procedural cut-out (1 opaque, 0 cut away) from the surface's Generated (0..1) or Object coordinates.

    ``leaves``: round Voronoi cells (a card of leaves); ``grid``: a wire mesh of ``width`` (chain-link fence,
    rotated by ``angle``), ``scale`` cells per unit; ``holes``: noise with holes (lace, torn cloth)."""
    coords = nodes.new("ShaderNodeTexCoord")
    kind = a["type"]
    if kind == "leaves":
        vor = nodes.new("ShaderNodeTexVoronoi")
        vor.inputs["Scale"].default_value = a["scale"]
        vor.inputs["Randomness"].default_value = a.get("randomness", 1.0)
        links.new(coords.outputs["Generated"], vor.inputs["Vector"])
        ramp = nodes.new("ShaderNodeMapRange")  # 1 inside a cell's disc, 0 between cells
        ramp.inputs["From Min"].default_value = a["threshold"]
        ramp.inputs["From Max"].default_value = a["threshold"] + 0.02
        ramp.inputs["To Min"].default_value, ramp.inputs["To Max"].default_value = 1.0, 0.0
        links.new(vor.outputs["Distance"], ramp.inputs["Value"])
        # and a soft edge to the card: the leaves thin out towards its border
        edge = _radial_fade(nodes, links, coords, (0.5, 0.5, 0.0), 0.42, 0.5)
        mul = nodes.new("ShaderNodeMath")
        mul.operation = "MULTIPLY"
        links.new(ramp.outputs["Result"], mul.inputs[0])
        links.new(edge.outputs["Result"], mul.inputs[1])
        out = nodes.new("ShaderNodeMath")  # hard cut-out, as game and film foliage cards are
        out.operation = "GREATER_THAN"
        out.inputs[1].default_value = 0.5
        links.new(mul.outputs[0], out.inputs[0])
        return out.outputs[0]
    if kind == "grid":
        mapping = nodes.new("ShaderNodeMapping")
        mapping.inputs["Rotation"].default_value = (0.0, 0.0, a.get("angle", 0.0))
        mapping.inputs["Scale"].default_value = (a["scale"], a["scale"], a["scale"])
        links.new(coords.outputs["Object"], mapping.inputs["Vector"])
        frac = nodes.new("ShaderNodeVectorMath")
        frac.operation = "FRACTION"
        links.new(mapping.outputs["Vector"], frac.inputs[0])
        sep = nodes.new("ShaderNodeSeparateXYZ")
        links.new(frac.outputs["Vector"], sep.inputs["Vector"])
        wires = []
        for axis in ("X", "Y"):
            less = nodes.new("ShaderNodeMath")
            less.operation = "LESS_THAN"
            less.inputs[1].default_value = a["width"]
            links.new(sep.outputs[axis], less.inputs[0])
            wires.append(less)
        both = nodes.new("ShaderNodeMath")
        both.operation = "MAXIMUM"
        links.new(wires[0].outputs[0], both.inputs[0])
        links.new(wires[1].outputs[0], both.inputs[1])
        return both.outputs[0]
    if kind == "holes":
        noise = nodes.new("ShaderNodeTexNoise")
        noise.inputs["Scale"].default_value = a["scale"]
        noise.inputs["Detail"].default_value = a.get("detail", 2.0)
        links.new(coords.outputs["Object"], noise.inputs["Vector"])
        cut = nodes.new("ShaderNodeMath")
        cut.operation = "GREATER_THAN"
        cut.inputs[1].default_value = a["threshold"]
        links.new(noise.outputs["Factor"], cut.inputs[0])
        return cut.outputs[0]
    raise SceneError(f"unknown alpha mask {kind!r}")


def _keyframe_motion(obj, motion: dict | None, frames: int, turn: bool = True) -> None:
    """Linear motion from frame 1 to ``frames``, centred so the still frame keeps the spec's placement.

    The keys are made LINEAR: Blender's default (Bezier) eases in and out, which leaves 3-frame renders as they
    are (frame 2 is the midpoint either way, and the vectors of frames 1 and 3 reach it), but would put the
    inner frames of a longer animation off their times t = (k - 1) / (frames - 1)."""
    if not motion or frames < 2:
        return
    mid = (frames + 1) / 2
    base_loc, base_rot = obj.location.copy(), obj.rotation_euler.copy()
    for frame in (1, frames):
        steps = frame - mid
        obj.location = [b + steps * d for b, d in zip(base_loc, motion["move"])]
        obj.keyframe_insert("location", frame=frame)
        if turn and "turn" in motion:
            obj.rotation_euler = [b + steps * d for b, d in zip(base_rot, motion["turn"])]
            obj.keyframe_insert("rotation_euler", frame=frame)
    obj.location, obj.rotation_euler = base_loc, base_rot
    _linear_keys(obj)


def _linear_keys(obj) -> None:
    from bpy_extras import anim_utils

    anim = obj.animation_data
    bag = anim_utils.action_get_channelbag_for_slot(anim.action, anim.action_slot)
    for curve in bag.fcurves:
        for key in curve.keyframe_points:
            key.interpolation = "LINEAR"


def _plane(bpy, name: str, shape: dict):
    return _mesh_object(bpy, name, *plane_shape(), False)


def _lathe(bpy, name: str, shape: dict):
    return _mesh_object(bpy, name, *lathe_shape(shape["profile"], shape["segments"]), shape["smooth"])


def _sweep(bpy, name: str, shape: dict):
    obj = _mesh_object(bpy, name, *sweep_shape(shape["width"], shape["depth"], shape["height"], shape["radius"]),
                       True)
    return obj


def _curve(bpy, name: str, shape: dict):
    """A tube along a polyline (``smooth``: a NURBS through it): wires, cables, neon tubes, branches."""
    cu = bpy.data.curves.new(name, "CURVE")
    cu.dimensions = "3D"
    cu.bevel_depth = shape["radius"]
    cu.bevel_resolution = shape.get("bevel_resolution", 2)
    cu.use_fill_caps = True
    spline = cu.splines.new("NURBS" if shape["smooth"] else "POLY")
    points = shape["points"]
    spline.points.add(len(points) - 1)
    for p, co in zip(spline.points, points):
        p.co = (*co, 1.0)
    spline.use_cyclic_u = shape.get("cyclic", False)
    if shape["smooth"]:
        spline.order_u = min(4, len(points))
        spline.use_endpoint_u = not spline.use_cyclic_u
        spline.resolution_u = shape.get("resolution", 6)
    obj = bpy.data.objects.new(name, cu)
    bpy.context.scene.collection.objects.link(obj)
    return obj


#: shape sources only family specs use -> builder (primitive / trimesh / file stay in build_scene)
FAMILY_SHAPES = {"plane": _plane, "lathe": _lathe, "sweep": _sweep, "curve": _curve}


def _hair(bpy, base, h: dict, scale: float, name: str):
    """Hair curves grown on ``base``'s surface (fur, long hair, grass), parented to it so they move with it.

    Roots are sampled uniformly over the surface (seeded); each strand leaves along the surface normal, leans
    a random ``tilt`` sideways, droops under ``droop`` (world -Z, in object space) and waves with ``curl``.
    Lengths and radii are in metres whatever the base object's scale."""
    import numpy as np

    mesh = base.data
    mesh.calc_loop_triangles()
    n_verts, n_tris = len(mesh.vertices), len(mesh.loop_triangles)
    verts = np.empty(n_verts * 3, np.float32)
    mesh.vertices.foreach_get("co", verts)
    tris = np.empty(n_tris * 3, np.int32)
    mesh.loop_triangles.foreach_get("vertices", tris)
    verts, tris = verts.reshape(-1, 3).astype(np.float64), tris.reshape(-1, 3)
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    cross = np.cross(b - a, c - a)
    area = np.linalg.norm(cross, axis=1)
    if "up_only" in h and h["up_only"]:  # grass: grow from faces that look up only
        area = area * (cross[:, 2] > 0)
    rng = np.random.default_rng(h["seed"])
    count, k = h["count"], h["segments"]
    face = rng.choice(len(tris), size=count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    roots = a[face] + u[:, None] * (b[face] - a[face]) + v[:, None] * (c[face] - a[face])
    normal = cross[face] / np.maximum(area[face], 1e-12)[:, None]
    side = rng.normal(size=(count, 3))
    side -= (side * normal).sum(1, keepdims=True) * normal
    side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-12)
    direction = normal + h["tilt"] * side
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    length = h["length"] * np.exp(rng.normal(0.0, h.get("length_jitter", 0.25), count)) / scale
    t = np.linspace(0.0, 1.0, k)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, count)[:, None, None]
    wave = np.sin(2 * np.pi * h["curl_turns"] * t + phase) * h["curl"]  # sideways waves along the strand
    down = np.array([0.0, 0.0, -1.0])
    pts = roots[:, None, :] + length[:, None, None] * (
        direction[:, None, :] * t + h["droop"] * down * t ** 2 + side[:, None, :] * wave * t)
    hair = bpy.data.hair_curves.new(name)
    hair.add_curves([k] * count)
    hair.position_data.foreach_set("vector", pts.astype(np.float32).ravel())
    radius = hair.attributes.new("radius", "FLOAT", "POINT")
    taper = np.linspace(1.0, h.get("tip", 0.25), k)[None, :]
    radius.data.foreach_set("value", (h["radius"] / scale * taper * np.ones((count, 1))).astype(np.float32).ravel())
    hair.materials.append(_make_material(bpy, f"{name}_mat", h["material"]))
    obj = bpy.data.objects.new(name, hair)
    bpy.context.scene.collection.objects.link(obj)
    obj.parent = base
    return obj


def build_scene(spec: dict, meshes: MeshLibrary | None = None):
    """Build ``spec`` into a fresh Blender scene (the current file is reset). Returns the scene."""
    from .. import blender

    bpy = blender.import_bpy()
    import mathutils

    scene = blender.reset_scene()
    frames = spec["frames"]
    scene.frame_start, scene.frame_end = 1, frames

    world = bpy.data.worlds.new("World")
    scene.world = world
    wn, wl = world.node_tree.nodes, world.node_tree.links
    background = next(n for n in wn if n.bl_idname == "ShaderNodeBackground")
    w = spec["world"]
    background.inputs["Color"].default_value = (*w["color"], 1.0)
    background.inputs["Strength"].default_value = w["strength"]
    if w["kind"] == "sky":  # Blender's Sky Texture (the sun itself is a sun lamp of the spec)
        sky, k = wn.new("ShaderNodeTexSky"), w["sky"]
        sky.sky_type = k["type"]
        if k["type"] in ("PREETHAM", "HOSEK_WILKIE"):
            sky.sun_direction = k["sun_direction"]
            sky.turbidity = k["turbidity"]
            sky.ground_albedo = k["ground_albedo"]
        else:
            sky.sun_disc = False
            sky.sun_elevation, sky.sun_rotation = k["sun_elevation"], k["sun_rotation"]
            sky.altitude = k["altitude"]
            sky.air_density, sky.aerosol_density, sky.ozone_density = k["air"], k["aerosol"], k["ozone"]
        wl.new(sky.outputs["Color"], background.inputs["Color"])
    if w["kind"] == "gradient":
        # Horizon colour blending into the zenith colour by the view direction's height.
        coords, sep, mix = wn.new("ShaderNodeTexCoord"), wn.new("ShaderNodeSeparateXYZ"), wn.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        for sock in mix.inputs:
            if sock.identifier == "A_Color":
                sock.default_value = (*w["horizon"], 1.0)
            elif sock.identifier == "B_Color":
                sock.default_value = (*w["color"], 1.0)
        wl.new(coords.outputs["Generated"], sep.inputs["Vector"])
        wl.new(sep.outputs["Z"], next(s for s in mix.inputs if s.identifier == "Factor_Float"))
        wl.new(next(o for o in mix.outputs if o.identifier == "Result_Color"), background.inputs["Color"])

    ground = spec.get("ground")
    if ground:
        bpy.ops.mesh.primitive_plane_add(size=60.0)
        plane = bpy.context.object
        plane.name = "ground"
        plane.data.materials.append(_make_material(bpy, "ground", ground["material"]))
        if ground["wall"]:
            bpy.ops.mesh.primitive_plane_add(size=60.0, location=(0.0, 6.0, 0.0), rotation=(math.pi / 2, 0.0, 0.0))
            bpy.context.object.name = "wall"
            bpy.context.object.data.materials.append(_make_material(bpy, "wall", ground["wall_material"]))

    for i, o in enumerate(spec["objects"]):
        shape, name = o["shape"], f"object{i}"
        if shape["source"] == "primitive":
            obj = _primitive_object(bpy, name, shape["name"], shape["smooth"])
        elif shape["source"] == "trimesh":
            obj = _mesh_object(bpy, name, *trimesh_shape(shape["name"], shape["seed"]), shape["smooth"])
        elif shape["source"] in FAMILY_SHAPES:
            obj = FAMILY_SHAPES[shape["source"]](bpy, name, shape)
        else:
            if meshes is None or shape["name"] not in meshes.names:
                where = meshes.folder if meshes is not None else "no mesh folder"
                raise SceneError(f"scene {spec['seed']}: mesh {shape['name']!r} not found ({where})")
            obj = _mesh_object(bpy, name, *meshes.load(shape["name"]), shape["smooth"])
        if "dims" in o:  # a size in metres, baked into the mesh: textures and hair then work in metres
            obj.data.transform(mathutils.Matrix.Diagonal((*o["dims"], 1.0)))
        obj.location = o["location"]
        obj.rotation_euler = o["rotation"]
        obj.scale = (o["scale"],) * 3
        obj.data.materials.append(_make_material(bpy, f"{name}_mat", o["material"]))
        if o.get("hair"):
            _hair(bpy, obj, o["hair"], o["scale"], f"{name}_hair")
        _keyframe_motion(obj, o["motion"], frames)

    for i, li in enumerate(spec["lights"]):
        data = bpy.data.lights.new(f"light{i}", li["type"].upper())
        data.color = li["color"]
        data.energy = li["energy"]
        if li["type"] == "area":
            data.size = li["size"]
        elif li["type"] in ("point", "spot"):
            data.shadow_soft_size = li["size"]
            if li["type"] == "spot":
                data.spot_size = li["spot_angle"]
        elif li["type"] == "sun":
            data.angle = min(li["size"], 0.5)
        if "shape" in li:  # family lights: rectangular / disc area lights, spread, window portals
            data.shape = li["shape"]
            if li["shape"] in ("RECTANGLE", "ELLIPSE"):
                data.size_y = li["size_y"]
        if "spread" in li:
            data.spread = li["spread"]
        if li.get("portal"):
            data.cycles.is_portal = True
        obj = bpy.data.objects.new(f"light{i}", data)
        scene.collection.objects.link(obj)
        obj.location = li["location"]
        # Lights shine along their local -Z: point +Z away from the scene centre (or from the light's target).
        aim = mathutils.Vector(li["location"]) - mathutils.Vector(li.get("target", (0.0, 0.0, 0.0)))
        obj.rotation_euler = aim.to_track_quat("Z", "Y").to_euler()

    c = spec["camera"]
    cam_data = bpy.data.cameras.new("camera")
    cam_data.lens = c["lens"]
    cam_data.clip_start = 0.05
    if "clip_end" in c:
        cam_data.clip_end = c["clip_end"]
    if "clip_start" in c:
        cam_data.clip_start = c["clip_start"]
    if c["dof"]:
        cam_data.dof.use_dof = True
        cam_data.dof.aperture_fstop = c["dof"]["fstop"]
        cam_data.dof.focus_distance = c["dof"]["focus_distance"]
    cam = bpy.data.objects.new("camera", cam_data)
    target = bpy.data.objects.new("camera_target", None)
    scene.collection.objects.link(cam)
    scene.collection.objects.link(target)
    cam.location, target.location = c["location"], c["target"]
    track = cam.constraints.new("TRACK_TO")
    track.target, track.track_axis, track.up_axis = target, "TRACK_NEGATIVE_Z", "UP_Y"
    if c["motion"]:
        _keyframe_motion(cam, {"move": c["motion"]["move"]}, frames, turn=False)
        _keyframe_motion(target, {"move": c["motion"]["target_move"]}, frames, turn=False)
    scene.camera = cam
    # family scenes may pick integrator options that are part of their look, e.g. smoke is ray-marched
    # (``volume_biased``): Blender 5's unbiased volumes cost ~7x more on noise-textured density
    for key, value in spec.get("cycles", {}).items():
        if key not in CYCLES_SPEC_KEYS:
            raise SceneError(f"scene {spec['seed']}: unknown cycles setting {key!r}")
        setattr(scene.cycles, key, value)
    scene.frame_set(spec["frame_still"])
    return scene


#: scene.cycles settings a spec may set (``spec["cycles"]``); render configs set the rest
CYCLES_SPEC_KEYS = ("volume_biased",)
