"""Mesh sources of the scenes: mesh files from a folder (:class:`MeshLibrary`) and trimesh-made procedural shapes
(:func:`trimesh_shape`, deterministic from their own seed). Both give (vertices, faces) in a unit box centred on
the origin. :class:`SceneError` lives here, the lowest module of the package: every other one raises it.
"""
from __future__ import annotations

from pathlib import Path

MESH_SUFFIXES = (".obj", ".ply", ".glb", ".gltf", ".stl", ".off")
TRIMESH_SHAPES = ("blob", "hull", "capsule", "annulus", "torus", "cone")


class SceneError(ValueError):
    """A scene cannot be made (e.g. an unreadable mesh file); the message names the file and the problem."""


class MeshLibrary:
    """Meshes from a folder (OBJ/PLY/GLB/...), loaded with trimesh, centred and scaled to a unit box."""

    def __init__(self, folder: Path | str | None):
        self.folder = Path(folder) if folder else None
        if self.folder is not None and not self.folder.is_dir():
            raise SceneError(f"{self.folder}: mesh folder does not exist")
        self.names = sorted(p.name for p in self.folder.iterdir()
                            if p.suffix.lower() in MESH_SUFFIXES) if self.folder else []
        self._cache: dict[str, tuple] = {}

    def load(self, name: str):
        """(vertices Nx3, faces Mx3) of a mesh file, normalised to fit a unit cube centred on the origin."""
        if name not in self._cache:
            import numpy as np
            import trimesh

            path = (self.folder / name) if self.folder else Path(name)
            try:
                mesh = trimesh.load(path, force="mesh", process=True)
                verts = np.asarray(mesh.vertices, dtype=np.float64)
                faces = np.asarray(mesh.faces, dtype=np.int64)
            except Exception as exc:  # trimesh raises many kinds; all mean "unreadable"
                raise SceneError(f"{path}: cannot read mesh ({type(exc).__name__}: {exc})".splitlines()[0]) from None
            if len(faces) == 0 or not np.isfinite(verts).all():
                raise SceneError(f"{path}: mesh has no faces or non-finite vertices")
            lo, hi = verts.min(0), verts.max(0)
            verts = (verts - (lo + hi) / 2) / max(float((hi - lo).max()), 1e-9)
            self._cache[name] = (verts, faces)
        return self._cache[name]

    def validate(self) -> None:
        """Load every mesh once, so a bad file fails before hours of rendering, not in the middle."""
        for name in self.names:
            self.load(name)

    def fingerprint(self) -> str:
        import hashlib

        h = hashlib.sha256()
        for name in self.names:
            h.update(name.encode())
            h.update((self.folder / name).read_bytes())
        return h.hexdigest()[:16]



def trimesh_shape(name: str, seed: int):
    """(vertices, faces) of a procedural shape, normalised to a unit box."""
    import numpy as np
    import trimesh

    rng = np.random.default_rng(seed)
    if name == "blob":
        mesh = trimesh.creation.icosphere(subdivisions=4)
        v = mesh.vertices
        # Low-frequency sinusoidal displacement: smooth organic lumps with concavities (self-shadowing).
        disp = np.zeros(len(v))
        for _ in range(4):
            k = rng.normal(size=3) * rng.uniform(1.0, 4.0)
            disp += rng.uniform(0.05, 0.2) * np.sin(v @ k + rng.uniform(0, 2 * np.pi))
        mesh.vertices = v * (1.0 + disp)[:, None]
    elif name == "hull":
        mesh = trimesh.convex.convex_hull(rng.normal(size=(int(rng.integers(8, 40)), 3)) * rng.uniform(0.5, 1.5, 3))
    elif name == "capsule":
        mesh = trimesh.creation.capsule(height=float(rng.uniform(0.5, 2.0)), radius=float(rng.uniform(0.2, 0.6)))
    elif name == "annulus":
        r_in = float(rng.uniform(0.2, 0.6))
        mesh = trimesh.creation.annulus(r_min=r_in, r_max=r_in + float(rng.uniform(0.1, 0.6)),
                                        height=float(rng.uniform(0.1, 1.0)))
    elif name == "torus":
        mesh = trimesh.creation.torus(major_radius=1.0, minor_radius=float(rng.uniform(0.1, 0.6)))
    elif name == "cone":
        mesh = trimesh.creation.cone(radius=float(rng.uniform(0.3, 1.0)), height=float(rng.uniform(0.5, 2.0)))
    else:
        raise SceneError(f"unknown trimesh shape {name!r}")
    v = np.asarray(mesh.vertices, dtype=np.float64)
    lo, hi = v.min(0), v.max(0)
    return (v - (lo + hi) / 2) / float((hi - lo).max()), np.asarray(mesh.faces, dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# Shapes of the scene families (``ml_core.scenes.families``), in metres (not normalised): the spec gives their
# size, so walls, glasses and backdrops keep their proportions. Each returns (vertices Nx3, faces Mx3/Mx4).
# --------------------------------------------------------------------------------------------------
def plane_shape():
    """A 1 x 1 quad in the XY plane, centred, facing +Z (its ``dims`` give the size)."""
    import numpy as np

    verts = np.array([[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.5, 0.5, 0.0], [-0.5, 0.5, 0.0]])
    return verts, np.array([[0, 1, 2, 3]], dtype=np.int64)


def lathe_shape(profile, segments: int = 48):
    """A surface of revolution about Z from ``profile``, a list of (radius, z) points.

    A profile that starts and ends on the axis (radius 0) gives a closed, watertight solid with outward faces (a
    glass with its hollow, a bottle, a liquid); one that does not gives an open shell (a lampshade)."""
    import numpy as np

    profile = [(float(r), float(z)) for r, z in profile]
    if len(profile) < 2 or segments < 3:
        raise SceneError(f"lathe needs >= 2 profile points and >= 3 segments, got {len(profile)}, {segments}")
    angles = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    verts, rings = [], []
    for r, z in profile:
        if r <= 1e-9:  # a pole: one vertex on the axis
            rings.append([len(verts)])
            verts.append((0.0, 0.0, z))
        else:
            rings.append(list(range(len(verts), len(verts) + segments)))
            verts.extend((r * np.cos(a), r * np.sin(a), z) for a in angles)
    faces = []
    for a, b in zip(rings, rings[1:]):
        for k in range(segments):
            k1 = (k + 1) % segments
            if len(a) == 1 and len(b) == 1:
                continue
            if len(a) == 1:
                faces.append([a[0], b[k1], b[k]])
            elif len(b) == 1:
                faces.append([a[k], a[k1], b[0]])
            else:
                faces.append([a[k], a[k1], b[k1]])
                faces.append([a[k], b[k1], b[k]])
    verts, faces = np.asarray(verts, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    closed = profile[0][0] <= 1e-9 and profile[-1][0] <= 1e-9
    if closed:  # make the winding outward (glass refracts by the face normals)
        import trimesh

        mesh = trimesh.Trimesh(verts, faces, process=True)
        trimesh.repair.fix_normals(mesh)
        verts, faces = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
    return verts, faces


def sweep_shape(width: float, depth: float, height: float, radius: float, steps: int = 16):
    """A photo-studio sweep (cyclorama): a floor from y = -depth to the back, curving up with ``radius`` into a
    wall at y = 0 of ``height``; ``width`` along X, centred. Floor faces +Z, the wall faces -Y (the camera)."""
    import numpy as np

    radius = min(radius, height * 0.9, depth * 0.9)
    profile = [(-depth, 0.0)]
    for i in range(steps + 1):
        a = (np.pi / 2) * i / steps  # from the floor (a = 0) to the wall (a = pi/2)
        profile.append((-radius + radius * np.sin(a), radius - radius * np.cos(a)))
    profile.append((0.0, height))
    n = len(profile)
    verts = [(x, y, z) for x in (-width / 2, width / 2) for y, z in profile]
    faces = [[i, i + 1, n + i + 1, n + i] for i in range(n - 1)]
    return np.asarray(verts, dtype=np.float64), np.asarray(faces, dtype=np.int64)[:, ::-1]
