"""Procedural scenes: a seed gives one deterministic scene.

Two steps, so the randomness is testable without Blender:
``make_spec(seed)`` draws a plain JSON-able description (shapes, materials, lights, camera, motion) from
``random.Random(seed)``; ``build_scene(spec)`` turns it into a Blender scene. The spec is saved next to the
renders, so every image in a dataset can be traced to the exact scene that made it.

What varies, and why: the four networks must meet whatever users render, so shapes mix Blender primitives,
trimesh-made shapes and real meshes from a folder; materials cover diffuse, glossy, metal, glass, emissive and
subsurface with procedural textures from coarse to fine; lights include tiny bright ones (fireflies); cameras
vary focal length and depth of field; objects and the camera move between frames (with occlusion), so the
renders carry real motion vectors.

Modules: ``meshes`` (mesh files, trimesh-made shapes, :class:`SceneError`), ``draws`` (the seeded draws both
palettes use), ``spec`` (:func:`make_spec`, bpy-free), ``palette`` (the natural palette's material classes),
``build`` (:func:`build_scene`, bpy), ``families`` (scene engine v2: one module per kind of shot, interiors,
studio, outdoor, glass, depth of field, skin, hair, thin geometry, volumes, neon, grazing textures, motion, and
``classic``, this original generator; ``make_spec(seed, families=...)`` draws one). Every public name is
importable from here.
"""
from __future__ import annotations

from .build import build_scene
from .meshes import MESH_SUFFIXES, TRIMESH_SHAPES, MeshLibrary, SceneError, trimesh_shape
from .palette import NATURAL_GROUNDS, NATURAL_OBJECTS, NATURAL_WALLS, PALETTES, natural_palette
from .spec import MATERIAL_KINDS, PRIMITIVES, SPEC_VERSION, TEXTURES, make_spec

__all__ = ["MATERIAL_KINDS", "MESH_SUFFIXES", "NATURAL_GROUNDS", "NATURAL_OBJECTS", "NATURAL_WALLS", "PALETTES",
           "PRIMITIVES", "SPEC_VERSION", "TEXTURES", "TRIMESH_SHAPES", "MeshLibrary", "SceneError", "build_scene",
           "make_spec", "natural_palette", "trimesh_shape"]
