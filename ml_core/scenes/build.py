"""Spec -> Blender scene (bpy): meshes, Principled materials with procedural textures, lights, the camera, and
linear keyframes for the motion. Only this module of ``ml_core.scenes`` imports bpy (when called).
"""
from __future__ import annotations

import math

from .meshes import MeshLibrary, SceneError, trimesh_shape


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
            links.new(factor, bump.inputs["Height"])
            links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return mat


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
        else:
            if meshes is None or shape["name"] not in meshes.names:
                where = meshes.folder if meshes is not None else "no mesh folder"
                raise SceneError(f"scene {spec['seed']}: mesh {shape['name']!r} not found ({where})")
            obj = _mesh_object(bpy, name, *meshes.load(shape["name"]), shape["smooth"])
        obj.location = o["location"]
        obj.rotation_euler = o["rotation"]
        obj.scale = (o["scale"],) * 3
        obj.data.materials.append(_make_material(bpy, f"{name}_mat", o["material"]))
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
        obj = bpy.data.objects.new(f"light{i}", data)
        scene.collection.objects.link(obj)
        obj.location = li["location"]
        # Lights shine along their local -Z: point +Z away from the scene centre.
        obj.rotation_euler = mathutils.Vector(li["location"]).to_track_quat("Z", "Y").to_euler()

    c = spec["camera"]
    cam_data = bpy.data.cameras.new("camera")
    cam_data.lens = c["lens"]
    cam_data.clip_start = 0.05
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
    scene.frame_set(spec["frame_still"])
    return scene
