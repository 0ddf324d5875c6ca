"""Shared fixtures. Everything here is made by the project itself (real Cycles renders, trimesh meshes):
the suite passes from a plain clone with no ../shared folder."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

# Blender must not read or write the user's config: set before anything imports bpy.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="postpass-test-blender-"))
os.environ.setdefault("POSTPASS_CACHE", tempfile.mkdtemp(prefix="postpass-test-cache-"))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mesh_dir(tmp_path_factory):
    """A folder of real mesh files (OBJ, PLY, GLB) written by trimesh."""
    import trimesh

    folder = tmp_path_factory.mktemp("meshes")
    trimesh.creation.icosphere(subdivisions=2).export(folder / "ball.obj")
    trimesh.creation.box(extents=(1.0, 0.5, 0.25)).export(folder / "brick.ply")
    trimesh.creation.capsule(height=1.0, radius=0.3).export(folder / "pill.glb")
    return folder


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, mesh_dir):
    """Two train scenes, one validation and one test scene rendered with the ``tiny`` preset (48 px, every
    product present)."""
    from ml_core import data, render

    out = tmp_path_factory.mktemp("dataset")
    config = render.preset("tiny")
    data.build(out, "train", 2, config=config, mesh_dir=mesh_dir, progress=False, sheet=False)
    data.build(out, "val", 1, config=config, mesh_dir=mesh_dir, progress=False, sheet=False)
    data.build(out, "test", 1, config=config, mesh_dir=mesh_dir, progress=False, sheet=False)
    return out


@pytest.fixture(scope="session")
def tiny_anim_dataset(tmp_path_factory, mesh_dir):
    """Longer animations (issue 8): one anim_train and one anim_test scene of 5 frames (t = 1/4, 1/2, 3/4
    between the first and last), animation frames only, first-to-last motion as in the 3-frame scenes."""
    from ml_core import data, render

    out = tmp_path_factory.mktemp("dataset_anim5")
    config = render.preset("tiny", frames=5, stills=False, motion_span=2, anim_spp=4)
    data.build(out, "anim_train", 1, config=config, mesh_dir=mesh_dir, progress=False, sheet=False)
    data.build(out, "anim_test", 1, config=config, mesh_dir=mesh_dir, progress=False, sheet=True)
    return out


@pytest.fixture(scope="session")
def temporal_sequences(tmp_path_factory, mesh_dir):
    """Two train and one validation sequence of the ``temporal_tiny`` preset (3 frames, 32 px, 4 spp and a
    reference per frame, every pass): the temporal denoiser's and the guided inbetweener's data (issues 26, 28)."""
    from ml_core import data, render

    out = tmp_path_factory.mktemp("temporal")
    config = render.preset("temporal_tiny")
    data.build(out, "train", 2, config=config, mesh_dir=mesh_dir, progress=False, sheet=False)
    data.build(out, "val", 1, config=config, mesh_dir=mesh_dir, progress=False, sheet=True)
    return out


# ----------------------------------------------------------------------------------------------------------
# Exported models (issue 3): every kind of small untrained ml_core model, exported into a private registry
# ----------------------------------------------------------------------------------------------------------
#: registry name -> (architecture, parameters): every task and variant, tiny so the suite stays fast.
TEST_MODELS = {
    "denoise_aux": ("denoise_unet", {"aux": ["albedo", "normal"], "widths": [8, 12, 16]}),
    "denoise_rgb": ("denoise_unet", {"aux": [], "widths": [4, 8]}),
    "denoise_kpn": ("denoise_kpn", {"aux": ["albedo", "normal"], "widths": [8, 12, 16], "demodulate": True}),
    "denoise_kpn_ldr": ("denoise_kpn", {"aux": [], "widths": [8, 12, 16], "color_space": "srgb"}),
    "upres_x2": ("upres_net", {"scale": 2, "width": 12, "depth": 3}),
    "upres_x4_srgb": ("upres_net", {"scale": 4, "color_space": "srgb", "width": 12, "depth": 3}),
    "upres_x2_guided": ("upres_net", {"scale": 2, "guides": ["albedo", "normal"], "width": 12, "depth": 3}),
    "colorize": ("colorize_unet", {"widths": [8, 12, 16]}),
    "inbetween": ("inbetween_net", {"widths": [8, 12, 16]}),
    "inbetween_vectors": ("inbetween_splat", {"widths": [8, 12, 16]}),
    "inbetween_flow": ("inbetween_splat", {"widths": [8, 12, 16], "motion": "flow"}),
    "inbetween_guided": ("inbetween_guided", {"widths": [8, 12, 16]}),
}
FP16_MODELS = ("denoise_aux",)


@pytest.fixture(scope="session")
def untrained_checkpoints(tmp_path_factory):
    """name -> checkpoint path of each TEST_MODELS entry, randomly initialised with a fixed seed."""
    from ml_core.checkpoint import save_checkpoint
    from ml_core.models import build

    folder = tmp_path_factory.mktemp("checkpoints")
    training = {"command": "untrained: ml_core.models.build(..., seed=0)", "seed": 0,
                "dataset_fingerprint": "none", "metrics": {}}
    return {name: save_checkpoint(folder / f"{name}.pt", build(arch, seed=0, **params), name=name,
                                  version="0.0.1", training=training)
            for name, (arch, params) in TEST_MODELS.items()}


@pytest.fixture(scope="session")
def exported_models(tmp_path_factory, untrained_checkpoints):
    """(models folder with its registry.json, {name: [ExportReport, ...]}) for every TEST_MODELS entry."""
    from export import export_checkpoint

    folder = tmp_path_factory.mktemp("models")
    reports = {name: export_checkpoint(path, folder, fp16=name in FP16_MODELS)
               for name, path in untrained_checkpoints.items()}
    return folder, reports


@pytest.fixture(scope="session")
def models_dir(exported_models):
    return exported_models[0]


def copy_models(source, names, folder):
    """``folder`` (made if needed) holding only the models ``names`` of ``source``'s registry: their files and
    registry entries as they are."""
    import json
    import shutil
    from pathlib import Path

    from addon.runtime.registry import REGISTRY_FILE

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = json.loads((Path(source) / REGISTRY_FILE).read_text())["models"]
    for name in names:
        shutil.copy(Path(source) / entries[name]["file"], folder / entries[name]["file"])
    (folder / REGISTRY_FILE).write_text(json.dumps({"format": 1, "models": {n: entries[n] for n in names}}, indent=1))
    return folder


#: The denoisers for fewer passes and for 8-bit images (issue 25), beside the shipped colour + albedo + normal one.
DENOISE_SET = ("denoise_kpn", "denoise_kpn_color", "denoise_kpn_albedo", "denoise_kpn_ldr")


def export_residual_model(folder, work):
    """A small ``denoise_oidn_residual`` (a correction of Blender's denoised render, as a shot fine-tune keeps
    one) exported into the models folder ``folder`` as ``denoise_oidn_residual_shot``; its head is perturbed so
    it changes Blender's result (an untrained one returns it exactly). Returns the torch model."""
    from pathlib import Path

    import torch

    from export import export_checkpoint
    from ml_core.checkpoint import save_checkpoint
    from ml_core.models import build

    net = build("denoise_oidn_residual", seed=0, widths=[8, 12, 16])
    with torch.no_grad():
        net.unet.head.weight.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(0))
        net.unet.head.bias.fill_(0.05)
    training = {"command": "test", "seed": 0, "dataset_fingerprint": "none", "metrics": {}}
    checkpoint = save_checkpoint(Path(work) / "denoise_oidn_residual_shot.pt", net, name="denoise_oidn_residual_shot",
                                 version="0.0.1", training=training)
    export_checkpoint(checkpoint, folder)
    return net


@pytest.fixture(scope="session")
def denoise_models():
    """The shipped models folder, which holds ``denoise_kpn`` (colour + albedo + normal), ``denoise_kpn_color``
    (colour only), ``denoise_kpn_albedo`` (colour + albedo) and ``denoise_kpn_ldr`` (8-bit sRGB images); a missing
    one fails here, not skips."""
    import json

    from addon.runtime.registry import DEFAULT_MODELS_DIR, REGISTRY_FILE

    shipped = json.loads((DEFAULT_MODELS_DIR / REGISTRY_FILE).read_text())["models"]
    missing = [name for name in DENOISE_SET if name not in shipped]
    assert not missing, f"{DEFAULT_MODELS_DIR}: no {', '.join(missing)}"
    return DEFAULT_MODELS_DIR


@pytest.fixture(scope="session")
def cycles_render(tmp_path_factory):
    """One test-split scene rendered by real Cycles (48 px): noisy_spp0004.exr, target.exr, lowres_x2.exr and
    frame_0001..3.exr, multilayer with Combined, Denoising Albedo/Normal/Depth, Depth and Vector.

    Rendered in a child process so bpy's bundled libraries never share a process with OpenEXR/onnxruntime.
    """
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("cycles")
    script = ("import sys; from pathlib import Path; from ml_core import render, scenes, splits\n"
              "seed = splits.split_seeds('test', 1)[0]\n"
              "config = render.preset('tiny', noisy_spp=(4,), target_spp=8, lowres_scales=(2,), anim_spp=4)\n"
              "render.render_scene(scenes.make_spec(seed, meshes=[], frames=3), Path(sys.argv[1]), config)\n")
    subprocess.run([sys.executable, "-c", script, str(folder)], check=True, capture_output=True, timeout=300)
    return folder


# ----------------------------------------------------------------------------------------------------------
# Frame sequences (issue 4): a short animation rendered by Cycles, named the way farms name frames
# ----------------------------------------------------------------------------------------------------------
SEQUENCE_FRAMES = range(1001, 1007)


def _render_sequence(folder, denoise: bool):
    """Render :func:`cycles_sequence`'s frames into ``folder``; ``denoise``: with Cycles' Denoise on (OIDN,
    Accurate, High), so Combined is Blender's denoised render and "Noisy Image" the raw one."""
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; from ml_core import blender, render, scenes, splits\n"
        "bpy = blender.import_bpy()\n"
        "first, last, denoise = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1'\n"
        "config = render.preset('tiny', width=40, height=32)\n"
        "spec = scenes.make_spec(splits.split_seeds('test', 1)[0], meshes=[], frames=last - first + 1)\n"
        "scene = scenes.build_scene(spec)\n"
        "render.setup_render(scene, config)\n"
        "layer = scene.view_layers.new('Characters')\n"
        "layer.use_pass_z = layer.use_pass_vector = layer.cycles.denoising_store_passes = True\n"
        "layer.samples = 1\n"
        "for frame in range(first, last + 1):\n"
        "    render.render_still(bpy, scene, Path(sys.argv[1]) / f'beauty.{frame:04d}.exr', spp=4, seed=frame,\n"
        "                        frame=frame - first + 1, denoise=denoise, config=config)\n")
    subprocess.run([sys.executable, "-c", script, str(folder), str(SEQUENCE_FRAMES[0]), str(SEQUENCE_FRAMES[-1]),
                    "1" if denoise else "0"], check=True, capture_output=True, timeout=300)
    return folder


@pytest.fixture(scope="session")
def cycles_sequence(tmp_path_factory):
    """Folder with ``beauty.1001.exr`` ... ``beauty.1006.exr``: six frames of one moving test scene rendered by
    real Cycles at 40x32, 4 spp, multilayer with two view layers (``ViewLayer``; ``Characters``, its own
    samples so its pixels differ), each with Combined, Denoising Albedo/Normal/Depth, Depth and Vector.

    Rendered in a child process so bpy's bundled libraries never share a process with OpenEXR/onnxruntime.
    """
    return _render_sequence(tmp_path_factory.mktemp("sequence"), denoise=False)


@pytest.fixture(scope="session")
def cycles_denoised_sequence(tmp_path_factory):
    """:func:`cycles_sequence`'s frames rendered with Cycles' Denoise on, as Blender renders by default: Combined
    is Blender's denoised render, "Noisy Image" the raw one (issue 26's ``denoise_oidn_temporal`` reads both)."""
    return _render_sequence(tmp_path_factory.mktemp("denoised_sequence"), denoise=True)


#: an artist's shot for the fine-tune tests (issue 27): argv = out.blend size engine camera(0/1); a plane,
#: a sphere moving over frames 1-5, a point light, 4 spp
MAKE_SHOT = r"""
import sys
from ml_core import blender
bpy = blender.import_bpy()
out, size, engine, camera = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
sc = bpy.context.scene
sc.render.engine = engine
sc.cycles.samples, sc.cycles.use_denoising, sc.cycles.device = 4, False, "CPU"
sc.cycles.max_bounces = 3
sc.render.resolution_x = sc.render.resolution_y = size
sc.render.resolution_percentage = 100
sc.frame_start, sc.frame_end = 1, 5
bpy.ops.mesh.primitive_plane_add(size=10)
bpy.ops.mesh.primitive_uv_sphere_add(radius=1, location=(-1, 0, 1))
ball = bpy.context.object
ball.keyframe_insert("location", frame=1)
ball.location.x = 1
ball.keyframe_insert("location", frame=5)
bpy.ops.object.light_add(type="POINT", location=(2, -2, 4))
bpy.context.object.data.energy = 500
if camera:
    bpy.ops.object.camera_add(location=(0, -6, 3), rotation=(1.2, 0, 0))
    sc.camera = bpy.context.object
bpy.ops.wm.save_as_mainfile(filepath=out)
"""



@pytest.fixture(scope="session")
def make_shot():
    """make_shot(path, size=64, engine="CYCLES", camera=True) -> path: a small shot .blend saved by bpy in a
    child process (the test process's bpy keeps its own scene)."""
    def make(path: Path, size: int = 64, engine: str = "CYCLES", camera: bool = True) -> Path:
        subprocess.run([sys.executable, "-c", MAKE_SHOT, str(path), str(size), engine, "1" if camera else "0"],
                       check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1], timeout=120)
        return Path(path)
    return make


# A stand-in for a Blender panel's layout, for the add-on's panel tests: a background Blender draws no panels.
class Layout:
    """Stands in for a panel's ``UILayout``: records ("prop", name), ("label", text), ("operator", idname, text,
    {property: value}) and ("progress", factor, text) in drawing order."""

    def __init__(self, drawn: list):
        self.__dict__["drawn"] = drawn

    def __setattr__(self, name, value):  # active, enabled, use_property_split
        pass

    def column(self, **_):
        return self

    row = box = column

    def prop(self, data, name, **_):
        self.drawn.append(("prop", name))

    def label(self, text="", **_):
        self.drawn.append(("label", text))

    def operator(self, idname, text=None, **_):
        properties = {}
        self.drawn.append(("operator", idname, text, properties))
        return _Recorded(properties)

    def progress(self, factor=0.0, text="", **_):
        self.drawn.append(("progress", factor, text))


class _Recorded:
    def __init__(self, properties):
        self.__dict__["properties"] = properties

    def __setattr__(self, name, value):
        self.properties[name] = value


@pytest.fixture(scope="session")
def draw_panel():
    """draw_panel(panel, scene, image=None) -> what ``panel.draw`` drew (:class:`Layout`'s records)."""
    def draw(panel, scene, image=None) -> list:
        drawn = []
        panel.draw(types.SimpleNamespace(layout=Layout(drawn)),
                   types.SimpleNamespace(scene=scene, space_data=types.SimpleNamespace(image=image)))
        return drawn
    return draw


@pytest.fixture(scope="session")
def temporal_name() -> str:
    """The default models folder's first temporal denoiser (issue 26: a denoise model of windows of frames, which
    it reads from the middle of a temporal run's, frames f-2 .. f+2); a folder without one fails here, naming
    what to do."""
    from addon.runtime.registry import Registry, models_dir, reads_frame
    from addon.runtime.tasks.denoise import TEMPORAL

    folder = models_dir()
    found = [e.name for e in Registry(folder).entries.values() if e.contract.task == "denoise"
             and reads_frame(e.contract, TEMPORAL.window)]
    assert found, (f"{folder}: no temporal denoise model (denoise_kpn_temporal); until one ships in addon/models, "
                   "run with POSTPASS_MODELS=<a models folder with one>")
    return found[0]


#: the module an extension installed in Blender's user_default repository runs as
EXTENSION_MODULE = "bl_ext.user_default.postpass"


def install_extension(bpy, dist: Path, **preferences):
    """Build the extension zip with Blender's tool (scripts/build_extension.py) into ``dist``, install and
    enable it as a user does, set its ``preferences`` (e.g. ``device="CPU"``); returns its module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_extension",
                                                  Path(__file__).parents[1] / "scripts" / "build_extension.py")
    build_extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_extension)
    (archive,) = build_extension.build(dist, None)
    assert bpy.ops.extensions.package_install_files(filepath=str(archive), repo="user_default",
                                                    enable_on_install=True) == {"FINISHED"}
    prefs = bpy.context.preferences.addons[EXTENSION_MODULE].preferences
    for name, value in preferences.items():
        setattr(prefs, name, value)
    return sys.modules[EXTENSION_MODULE]


def default_models_with(name: str) -> Path:
    """The default models folder (what an installed extension uses), which must hold model ``name``."""
    import json

    from addon.runtime.registry import REGISTRY_FILE, models_dir

    folder = models_dir(None)
    entries = json.loads((folder / REGISTRY_FILE).read_text())["models"]
    assert name in entries, f"{folder}: no {name} (set POSTPASS_MODELS to a folder with it)"
    return folder


def extension_on_default_models(bpy, tmp_path_factory):
    """For a fixture (``yield from``): the zip built by scripts/build_extension.py, installed and enabled like a
    user does, on the default models (no User Models folder of its own), on the CPU; uninstalled after."""
    yield install_extension(bpy, tmp_path_factory.mktemp("dist"), device="CPU",
                            models_folder=str(tmp_path_factory.mktemp("no-user-models")))
    uninstall_extension(bpy)


def tiny_blender_scene(folder: Path, frames: int = 1):
    """A test-split procedural scene (animated over ``frames``), 32 px, 4 spp, multilayer EXR with every pass,
    written to folder/beauty.####.exr (in this process's bpy)."""
    from ml_core import render, scenes, splits

    scene = scenes.build_scene(scenes.make_spec(splits.split_seeds("test", 1)[0], meshes=[], frames=frames))
    render.setup_render(scene, render.preset("tiny", width=32, height=32, threads=1))
    scene.cycles.samples = 4
    scene.render.resolution_x = scene.render.resolution_y = 32
    scene.render.use_file_extension = True
    scene.render.filepath = str(folder / "beauty.####")
    return scene


def uninstall_extension(bpy) -> None:
    """Uninstall the extension :func:`install_extension` installed, if it is still enabled."""
    if EXTENSION_MODULE in bpy.context.preferences.addons:
        repos = bpy.context.preferences.extensions.repos
        index = next(i for i, repo in enumerate(repos) if repo.module == "user_default")
        assert bpy.ops.extensions.package_uninstall(repo_index=index, pkg_id="postpass") == {"FINISHED"}


# ----------------------------------------------------------------------------------------------------------
# Guide-pass inbetweening (issue 28): key frames rendered in full, the frames between as guide renders
# ----------------------------------------------------------------------------------------------------------
GUIDED_KEYS, GUIDED_MADE = (1001, 1003, 1005), (1002, 1003, 1004)


@pytest.fixture(scope="session")
def guided_shot(cycles_sequence, tmp_path_factory):
    """A farm's folders for guide-pass inbetweening, from the Cycles sequence (every pass in every frame):
    ``render/beauty.####.exr`` holds only the key frames 1001, 1003, 1005, ``guides/g.####.exr`` the guide
    renders of 1002, 1003 and 1004 (those frames' files: Combined, Denoising Albedo/Normal/Depth, Vector)."""
    import shutil

    folder = tmp_path_factory.mktemp("guided_shot")
    for sub, frames, name in (("render", GUIDED_KEYS, "beauty"), ("guides", GUIDED_MADE, "g")):
        (folder / sub).mkdir()
        for frame in frames:
            shutil.copy(cycles_sequence / f"beauty.{frame}.exr", folder / sub / f"{name}.{frame}.exr")
    return folder
