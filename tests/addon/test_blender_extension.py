"""The extension inside the real bpy 5.0.1 module, as an artist or a farm uses it: built by Blender's own tool,
installed from the zip, rendering with Cycles, every Image Editor operator on real image datablocks, errors as
reports, and a clean uninstall.

Results are compared with the bpy-free runtime called directly on the same inputs: the models here are
untrained (exported by conftest), so "cleaner than the noisy render" cannot hold yet; what must hold is that
the extension feeds the model exactly the right pixels and passes, and writes its result where it says.
"""
from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_models, export_residual_model, tiny_blender_scene
from onnx import TensorProto, helper, numpy_helper

from addon import runtime
from addon.runtime import read_exr, write_exr
from addon.runtime.color import srgb_decode, srgb_encode
from ml_core.blender import import_bpy

REPO = Path(__file__).resolve().parents[2]
MODULE = "bl_ext.user_default.postpass"


def _load_build_script():
    spec = importlib.util.spec_from_file_location("build_extension", REPO / "scripts" / "build_extension.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_extension = _load_build_script()


@pytest.fixture(scope="module")
def bpy():
    return import_bpy()


@pytest.fixture(scope="module")
def extension(bpy, tmp_path_factory, models_dir):
    """The zip built by scripts/build_extension.py (Blender's tool), installed and enabled like a user does."""
    (archive,) = build_extension.build(tmp_path_factory.mktemp("dist"), None)
    assert bpy.ops.extensions.package_install_files(filepath=str(archive), repo="user_default",
                                                    enable_on_install=True) == {"FINISHED"}
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.models_folder, prefs.device = str(models_dir), "CPU"
    yield sys.modules[MODULE]
    if MODULE in bpy.context.preferences.addons:
        _uninstall(bpy)


def _uninstall(bpy):
    repos = bpy.context.preferences.extensions.repos
    index = next(i for i, repo in enumerate(repos) if repo.module == "user_default")
    assert bpy.ops.extensions.package_uninstall(repo_index=index, pkg_id="postpass") == {"FINISHED"}


def run_options(models_dir, **more):
    """What the extension passes the runtime with the preferences above (CPU, default tiles and threads)."""
    return {"models_dir": models_dir, "device": "cpu", **more}


def close(a, b, atol=1e-5):
    return a.shape == b.shape and np.allclose(a, b, atol=atol, rtol=1e-5)


# ----------------------------------------------------------------------------------------------------------
# Render handlers: a tiny Cycles scene (conftest.tiny_blender_scene)
# ----------------------------------------------------------------------------------------------------------

def test_denoise_on_render_replaces_the_frame_and_keeps_the_noisy_render(bpy, extension, models_dir, tmp_path):
    scene = tiny_blender_scene(tmp_path)
    scene.view_layers[0].cycles.denoising_store_passes = False
    scene.postpass.denoise_on_render = True  # turns the albedo/normal passes back on: denoise_aux reads them
    assert scene.view_layers[0].cycles.denoising_store_passes
    scene.frame_start = scene.frame_end = 1
    bpy.ops.render.render(animation=True, scene=scene.name)

    frame, noisy = tmp_path / "beauty.0001.exr", tmp_path / "original" / "beauty.0001.exr"
    expected = runtime.denoise_file(noisy, tmp_path / "expected.exr", **run_options(models_dir))
    result = read_exr(frame)
    assert expected.model == extension.addon.jobs.LAST_RUN["model"] == "denoise_aux"
    assert close(result.get("Combined"), expected.image)
    assert not close(result.get("Combined"), read_exr(noisy).get("Combined"), atol=1e-3)
    # The rest of the render stays: the passes the model read, Depth and Vector.
    assert close(result.get("Denoising Albedo"), read_exr(noisy).get("Denoising Albedo"))
    assert {"Depth", "Vector"} <= set(result.passes)


def test_denoise_on_render_with_a_correction_of_blenders_result_turns_blenders_denoise_on(bpy, extension,
                                                                                         models_dir, tmp_path):
    """A models folder with a correction of Blender's denoised render (a shot fine-tune's
    ``denoise_oidn_residual_shot``): Denoise on Render turns Cycles' Denoise on as the correction was trained
    (OpenImageDenoise, albedo and normal, Accurate, High) with Denoising Data, and each rendered frame becomes the
    correction of Blender's result, read from the render beside its raw render."""
    folder = copy_models(models_dir, ["denoise_aux"], tmp_path / "models")
    export_residual_model(folder, tmp_path)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    models, prefs.models_folder = prefs.models_folder, str(folder)
    try:
        scene = tiny_blender_scene(tmp_path)
        scene.cycles.use_denoising = False
        scene.view_layers[0].cycles.denoising_store_passes = False
        scene.postpass.denoise_on_render = True
        cy = scene.cycles
        assert cy.use_denoising and scene.view_layers[0].cycles.denoising_store_passes
        assert (cy.denoiser, cy.denoising_input_passes, cy.denoising_prefilter, cy.denoising_quality) == (
            "OPENIMAGEDENOISE", "RGB_ALBEDO_NORMAL", "ACCURATE", "HIGH")
        scene.frame_start = scene.frame_end = 1
        bpy.ops.render.render(animation=True, scene=scene.name)
        frame, rendered = tmp_path / "beauty.0001.exr", tmp_path / "original" / "beauty.0001.exr"
        assert "Noisy Image" in read_exr(rendered).passes  # Blender's result and the raw render
        expected = runtime.denoise_file(rendered, tmp_path / "expected.exr", **run_options(folder))
        assert expected.model == extension.addon.jobs.LAST_RUN["model"] == "denoise_oidn_residual_shot"
        assert close(read_exr(frame).get("Combined"), expected.image)
        assert not close(expected.image, read_exr(rendered).get("Combined"), atol=1e-3)
    finally:
        prefs.models_folder = models


def test_upres_and_inbetween_on_render_write_beside_the_frames(bpy, extension, models_dir, tmp_path):
    scene = tiny_blender_scene(tmp_path, frames=3)
    settings = scene.postpass
    settings.output_mode = "SIBLING"
    settings.upres_on_render = "2"
    assert scene.render.resolution_percentage == 50
    scene.frame_start, scene.frame_end, scene.frame_step = 1, 3, 2
    settings.inbetween_on_render = True
    bpy.ops.render.render(animation=True, scene=scene.name)

    results = tmp_path / "postpass"
    assert sorted(p.name for p in tmp_path.glob("beauty.*.exr")) == ["beauty.0001.exr", "beauty.0003.exr"]
    assert sorted(p.name for p in results.iterdir()) == ["beauty.0001.exr", "beauty.0002.exr", "beauty.0003.exr"]
    for frame in (1, 3):
        render = read_exr(tmp_path / f"beauty.{frame:04d}.exr").get("Combined")
        expected = runtime.upres(render, scale=2, **run_options(models_dir))
        assert render.shape[:2] == (16, 16) and close(read_exr(results / f"beauty.{frame:04d}.exr").get("Combined"),
                                                      expected)
    middle = runtime.inbetween_file(results / "beauty.0001.exr", results / "beauty.0003.exr", tmp_path / "mid.exr",
                                    t=0.5, **run_options(models_dir))
    assert middle.image.shape[:2] == (32, 32)
    assert close(read_exr(results / "beauty.0002.exr").get("Combined"), middle.image)

    settings.upres_on_render = "1"
    assert scene.render.resolution_percentage == 100


def test_a_written_still_is_denoised_too(bpy, extension, models_dir, tmp_path):
    scene = tiny_blender_scene(tmp_path)
    scene.render.filepath = str(tmp_path / "still")
    scene.postpass.denoise_on_render = True
    bpy.ops.render.render(write_still=True, scene=scene.name)
    expected = runtime.denoise_file(tmp_path / "original" / "still.exr", tmp_path / "x.exr", **run_options(models_dir))
    assert close(read_exr(tmp_path / "still.exr").get("Combined"), expected.image)


def test_a_render_without_a_model_still_finishes_and_keeps_its_frame(bpy, extension, tmp_path, monkeypatch):
    monkeypatch.setenv("POSTPASS_MODELS", str(tmp_path / "no-shipped-models"))  # a denoiser ships: hide it
    prefs = bpy.context.preferences.addons[MODULE].preferences
    models = prefs.models_folder
    prefs.models_folder = str(tmp_path / "no-models")
    try:
        scene = tiny_blender_scene(tmp_path)
        scene.postpass.denoise_on_render = True
        scene.frame_start = scene.frame_end = 1
        bpy.ops.render.render(animation=True, scene=scene.name)
    finally:
        prefs.models_folder = models
    assert (tmp_path / "beauty.0001.exr").is_file() and not (tmp_path / "original").exists()


# ----------------------------------------------------------------------------------------------------------
# Image Editor operators on real image datablocks
# ----------------------------------------------------------------------------------------------------------
def pattern_image(height=28, width=40, seed=0) -> np.ndarray:
    """RGBA, top-down, lopsided (a bright top band) and not a multiple of any pad size, so a row flip or a
    padding mistake shows."""
    rng = np.random.default_rng(seed)
    image = rng.random((height, width, 4)).astype(np.float32) * 0.5
    image[:5] += 0.8
    image[..., 3] = np.linspace(0.2, 1.0, width)[None, :]
    return image


def float_image(bpy, name: str, pixels: np.ndarray):
    image = bpy.data.images.new(name, pixels.shape[1], pixels.shape[0], alpha=True, float_buffer=True)
    image.pixels.foreach_set(np.ascontiguousarray(pixels[::-1]).ravel())  # Blender rows run bottom-up
    return image


def pixels_of(image) -> np.ndarray:
    width, height = image.size
    flat = np.empty(width * height * 4, np.float32)
    image.pixels.foreach_get(flat)
    return flat.reshape(height, width, 4)[::-1]


def test_denoise_makes_a_new_image_with_the_runtime_result(bpy, extension, models_dir):
    pixels = pattern_image()
    float_image(bpy, "noisy", pixels)
    assert bpy.ops.postpass.denoise(image="noisy") == {"FINISHED"}
    expected = runtime.run("denoise", {"color": pixels}, **run_options(models_dir))
    assert expected.model == "denoise_rgb"
    assert close(pixels_of(bpy.data.images["noisy denoised"]), expected.image)
    assert close(pixels_of(bpy.data.images["noisy"]), pixels)  # the source is untouched
    # A button press invokes it; with no window to poll from (background) it runs at once, same result.
    assert bpy.ops.postpass.denoise("INVOKE_DEFAULT", image="noisy") == {"FINISHED"}
    assert close(pixels_of(bpy.data.images["noisy denoised.001"]), expected.image)


@pytest.mark.parametrize("scale", [2, 4])
def test_upres_gives_the_runtime_result_at_scale_times_the_size(bpy, extension, models_dir, scale):
    pixels = pattern_image(seed=scale)
    float_image(bpy, f"small{scale}", pixels)
    assert bpy.ops.postpass.upres(image=f"small{scale}", scale=scale) == {"FINISHED"}
    result = bpy.data.images[f"small{scale} x{scale}"]
    assert tuple(result.size) == (40 * scale, 28 * scale)
    assert close(pixels_of(result), runtime.upres(pixels, scale=scale, **run_options(models_dir)), atol=1e-4)


def test_colorize_reads_painted_hints_and_mask(bpy, extension, models_dir):
    gray = pattern_image(seed=3)
    hints = np.zeros_like(gray)
    hints[10:14, 20:24] = (0.9, 0.1, 0.1, 1.0)  # a red stroke
    mask = np.zeros_like(gray)
    mask[10:14, 20:22] = 1.0  # the mask keeps only half of it
    for name, array in (("photo", gray), ("photo hints", hints), ("photo mask", mask)):
        float_image(bpy, name, array)
    assert bpy.ops.postpass.colorize(image="photo", hints="photo hints", mask="photo mask") == {"FINISHED"}
    expected = runtime.run("colorize", {"gray": gray, "hints": hints[..., :3],
                                        "mask": mask[..., 0].astype(np.float32)}, **run_options(models_dir))
    assert close(pixels_of(bpy.data.images["photo colorized"]), expected.image)
    without = runtime.run("colorize", {"gray": gray}, **run_options(models_dir))
    assert not close(expected.image, without.image)  # the hints made a difference


def test_replace_in_place_writes_into_an_8bit_srgb_image(bpy, extension, models_dir):
    pixels = pattern_image(seed=5)
    image = bpy.data.images.new("texture", 40, 28, alpha=True)  # 8-bit, sRGB: pixels hold encoded values
    encoded = pixels.copy()
    encoded[..., :3] = srgb_encode(pixels[..., :3])
    image.pixels.foreach_set(np.ascontiguousarray(encoded[::-1]).ravel())
    linear = pixels_of(image).copy()
    linear[..., :3] = srgb_decode(linear[..., :3])  # what the 8-bit image really holds
    assert bpy.ops.postpass.denoise(image="texture", in_place=True) == {"FINISHED"}
    expected = runtime.run("denoise", {"color": linear}, source_range="ldr", **run_options(models_dir)).image
    expected[..., :3] = srgb_encode(expected[..., :3])
    assert close(pixels_of(image), np.clip(expected, 0, 1), atol=1.01 / 255)
    assert "texture denoised" not in bpy.data.images


def test_render_result_is_denoised_with_its_passes(bpy, extension, models_dir, tmp_path):
    scene = tiny_blender_scene(tmp_path)
    bpy.ops.render.render(scene=scene.name)  # F12: nothing written
    assert bpy.ops.postpass.denoise(image="Render Result") == {"FINISHED"}
    bpy.data.images["Render Result"].save_render(str(tmp_path / "rr.exr"), scene=scene)
    expected = runtime.denoise_file(tmp_path / "rr.exr", tmp_path / "x.exr", **run_options(models_dir))
    assert expected.model == extension.addon.jobs.LAST_RUN["model"] == "denoise_aux"
    assert close(pixels_of(bpy.data.images["Render Result denoised"]), expected.image)


def test_a_render_blender_denoised_is_denoised_from_its_raw_render_with_a_warning(bpy, extension, models_dir,
                                                                                   tmp_path, capfd):
    """A Render Result that Cycles' Denoise made (Denoising Data on: its raw render kept as "Noisy Image"): the
    per-frame model reads the raw render, and the report warns, once per image and session, that the result is
    usually below Blender's own (the runtime's note, as the API's result carries it)."""
    scene = tiny_blender_scene(tmp_path)
    scene.cycles.use_denoising, scene.cycles.denoiser = True, "OPENIMAGEDENOISE"
    scene.view_layers[0].cycles.denoising_store_passes = True
    bpy.ops.render.render(scene=scene.name)
    capfd.readouterr()
    assert bpy.ops.postpass.denoise(image="Render Result") == {"FINISHED"}
    assert runtime.api.BELOW_BLENDER_NOTE in capfd.readouterr().out  # the WARNING report
    bpy.data.images["Render Result"].save_render(str(tmp_path / "rr.exr"), scene=scene)
    assert "Noisy Image" in read_exr(tmp_path / "rr.exr").passes
    expected = runtime.denoise_file(tmp_path / "rr.exr", tmp_path / "x.exr", **run_options(models_dir))
    assert expected.notes == [runtime.api.BELOW_BLENDER_NOTE]
    assert close(pixels_of(bpy.data.images["Render Result denoised"]), expected.image)
    assert bpy.ops.postpass.denoise(image="Render Result") == {"FINISHED"}
    assert runtime.api.BELOW_BLENDER_NOTE not in capfd.readouterr().out  # once per image and session


def test_inbetween_writes_a_retimed_sequence(bpy, extension, models_dir, tmp_path):
    folder = tmp_path / "seq"
    for frame in (1, 2, 3):
        write_exr(folder / f"walk.{frame:04d}.exr", {"Combined": pattern_image(seed=frame)}, layer=None)
    image = bpy.data.images.load(str(folder / "walk.0001.exr"))
    image.source = "SEQUENCE"
    assert bpy.ops.postpass.inbetween(image=image.name, factor=2) == {"FINISHED"}
    out = folder / "walk_x2"
    assert sorted(p.name for p in out.iterdir()) == [f"walk.{f:04d}.exr" for f in range(1, 6)]
    assert close(read_exr(out / "walk.0003.exr").get("Combined"), pattern_image(seed=2))  # copied
    expected = runtime.inbetween_file(folder / "walk.0002.exr", folder / "walk.0003.exr", tmp_path / "x.exr",
                                      t=0.5, **run_options(models_dir))
    assert close(read_exr(out / "walk.0004.exr").get("Combined"), expected.image)
    assert bpy.data.images[f"{image.name} x2"].source == "SEQUENCE"


def test_a_render_without_denoising_data_gets_the_colour_model_advice_and_a_button(bpy, extension, denoise_models,
                                                                                     tmp_path, capfd, draw_panel):
    """Issue 25: the Render Result of a render without Denoising Data is denoised by the colour-only model; the
    report says once that Denoising Data would do better, and the panel's button turns it on for the next render."""
    operators, gui = extension.addon.operators, extension.addon.gui
    prefs = bpy.context.preferences.addons[MODULE].preferences
    models, prefs.models_folder = prefs.models_folder, str(denoise_models)
    try:
        scene = tiny_blender_scene(tmp_path)
        layer = scene.view_layers[0]
        layer.cycles.denoising_store_passes = False
        bpy.ops.render.render(scene=scene.name)  # F12: a Render Result without the passes
        capfd.readouterr()
        assert bpy.ops.postpass.denoise(image="Render Result") == {"FINISHED"}
        assert extension.addon.jobs.LAST_RUN["model"] == "denoise_kpn_color"
        line = ("denoise: denoise_kpn_color (the input has no albedo/normal passes; render with Denoising Data for "
                "better results)")
        assert line in capfd.readouterr().out  # the WARNING report (background Blender prints reports)
        passes = ("Denoising Albedo", "Denoising Normal")
        assert operators.ADVICE["Render Result"] == operators.ADVICE["Render Result denoised"] == (line, passes)
        drawn = draw_panel(gui.IMAGE_PT_postpass, scene, bpy.data.images["Render Result"])
        assert ("operator", "postpass.enable_passes", "Enable Denoising Data",
                {"passes": "Denoising Albedo, Denoising Normal"}) in drawn
        assert bpy.ops.postpass.denoise(image="Render Result") == {"FINISHED"}
        assert line not in capfd.readouterr().out  # once per image and session

        assert bpy.ops.postpass.enable_passes(passes="Denoising Albedo, Denoising Normal") == {"FINISHED"}
        assert layer.cycles.denoising_store_passes and not operators.ADVICE
        assert not any(d[0] == "operator" and d[1] == "postpass.enable_passes"
                       for d in draw_panel(gui.IMAGE_PT_postpass, scene, bpy.data.images["Render Result"]))
    finally:
        prefs.models_folder = models


def test_any_image_editor_image_is_denoised_packed_and_8bit_alike_with_its_alpha(bpy, extension, models_dir,
                                                                                   tmp_path):
    import cv2

    rng = np.random.default_rng(7)
    rgba = (rng.random((28, 40, 4)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "decal.png"), rgba[..., [2, 1, 0, 3]])
    image = bpy.data.images.load(str(tmp_path / "decal.png"))
    image.pack()
    (tmp_path / "decal.png").unlink()  # only the packed copy is left
    assert bpy.ops.postpass.denoise(image=image.name) == {"FINISHED"}
    linear = rgba.astype(np.float32) / 255
    linear[..., :3] = srgb_decode(linear[..., :3])
    expected = runtime.run("denoise", {"color": linear}, source_range="ldr", **run_options(models_dir)).image
    result = pixels_of(bpy.data.images[f"{image.name} denoised"])
    assert np.allclose(result[..., 3], rgba[..., 3] / 255, atol=1e-6)  # alpha kept
    assert close(result, expected, atol=1e-4) and 0 <= result.min() and result.max() <= 1  # an LDR result
    assert "decal.png" not in extension.addon.operators.ADVICE  # an 8-bit image has no passes to advise


def test_problems_are_reports_not_crashes(bpy, extension, models_dir, tmp_path, monkeypatch):
    missing = bpy.data.images.new("gone", 8, 8)
    missing.source, missing.filepath = "FILE", str(tmp_path / "gone.png")
    with pytest.raises(RuntimeError, match="gone: has no pixels"):
        bpy.ops.postpass.denoise(image="gone")
    float_image(bpy, "fine", pattern_image())
    with pytest.raises(RuntimeError, match="no upres x3 .*model"):
        bpy.ops.postpass.upres(image="fine", scale=3)
    with pytest.raises(RuntimeError, match="model 'nope' not found"):
        bpy.ops.postpass.denoise(image="fine", model="nope")
    prefs = bpy.context.preferences.addons[MODULE].preferences
    models, prefs.models_folder = prefs.models_folder, str(copy_models(models_dir, ["denoise_aux"], tmp_path / "aux"))
    try:
        # a folder whose only denoiser needs albedo and normal: an image without them gets a one-line reason
        with pytest.raises(RuntimeError, match="no denoise fp32 model .* fits inputs color .*needs color, albedo"):
            bpy.ops.postpass.denoise(image="fine")
        prefs.models_folder = str(tmp_path)
        monkeypatch.setenv("POSTPASS_MODELS", str(tmp_path / "no-shipped-models"))
        with pytest.raises(RuntimeError, match="no denoise model installed"):
            bpy.ops.postpass.denoise(image="fine")
    finally:
        prefs.models_folder = models
    with pytest.raises(RuntimeError, match="Render Result: has no editable pixels"):
        bpy.ops.postpass.denoise(image="Render Result", in_place=True)


# ----------------------------------------------------------------------------------------------------------
# Generated from the task registry: panels, and a task registered at run time
# ----------------------------------------------------------------------------------------------------------
def test_panels_draw_a_section_per_registered_task(bpy, extension, draw_panel):
    gui, scene = extension.addon.gui, bpy.data.scenes.new("panels")
    image = bpy.data.images.new("panel image", 8, 8)
    assert bpy.ops.postpass.new_hint_image(image="panel image") == {"FINISHED"}  # the + beside Hints
    scene.postpass.hint_image = bpy.data.images["panel image hints"]
    drawn = draw_panel(gui.IMAGE_PT_postpass, scene, image)
    props = [d[1] for d in drawn if d[0] == "prop"]
    assert props == ["in_place", "precision", "denoise_model", "upres_model", "colorize_model", "hint_image",
                     "hint_mask", "inbetween_model", "inbetween_factor"]
    buttons = [(d[1], d[2], d[3]) for d in drawn if d[0] == "operator"]
    common = {"model": "AUTO", "precision": "fp32"}
    assert buttons == [
        ("postpass.denoise", "Denoise", {**common, "in_place": False}),
        ("postpass.upres", "Up-res x2", {"scale": 2, **common, "in_place": False}),
        ("postpass.upres", "Up-res x4", {"scale": 4, **common, "in_place": False}),
        ("postpass.new_hint_image", "", {"setting": "hint_image"}),
        ("postpass.colorize", "Colorize", {"hints": "panel image hints", "mask": "", **common, "in_place": False}),
        ("postpass.inbetween", "Inbetween Sequence", {"factor": 2, **common})]

    settings = scene.postpass
    settings.upres_on_render, scene.frame_step = "2", 1
    settings.inbetween_on_render = True
    drawn = draw_panel(gui.RENDER_PT_postpass, scene)
    assert [d[1] for d in drawn if d[0] == "prop"] == [
        "denoise_on_render", "denoise_model", "upres_on_render", "upres_model", "frame_step", "inbetween_on_render",
        "inbetween_model", "precision", "output_mode"]
    width, height = scene.render.resolution_x // 2, scene.render.resolution_y // 2
    assert ("label", f"Renders {width} x {height}, writes {2 * width} x {2 * height}") in drawn
    assert ("label", "Set a frame step above 1 to skip frames") in drawn
    # An F12 still (no file written) gets the enabled tasks that process a frame at its size: denoise only.
    assert extension.addon.handlers.still_tasks(settings) == []
    settings.denoise_on_render = True
    assert extension.addon.handlers.still_tasks(settings) == ["denoise"]
    settings.upres_on_render = "1"
    bpy.data.scenes.remove(scene)


BRIGHTEN = "brighten"


def brighten_models(runtime, folder: Path) -> Path:
    """A models folder with one model of the test task: ``gain`` x the image (a scalar input)."""
    from_contract = runtime.contract
    contract = from_contract.ModelContract(
        task=BRIGHTEN,
        inputs=(from_contract.ImageInput("color", ("R", "G", "B"), "linear", pass_name="Combined"),
                from_contract.ScalarInput("gain", "times brighter", default=1.0)),
        outputs=(from_contract.ImageOutput("image", ("R", "G", "B"), "linear", pass_name="Combined"),))
    tensor = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 3, "H", "W"])  # noqa: E731
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["gain", "per_image"], ["gain4"]),
         helper.make_node("Mul", ["color", "gain4"], ["image"])],
        BRIGHTEN, [tensor("color"), helper.make_tensor_value_info("gain", TensorProto.FLOAT, ["N", 1])],
        [tensor("image")], [numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "per_image")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    metadata = {**contract.to_metadata(), "name": BRIGHTEN, "version": "0.0.1", "precision": "fp32"}
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    data = model.SerializeToString()
    folder.mkdir()
    (folder / f"{BRIGHTEN}.onnx").write_bytes(data)
    runtime.Registry(folder, create=True).publish(BRIGHTEN, f"{BRIGHTEN}.onnx", runtime.registry.sha256_of(data),
                                                  metadata)
    return folder


def test_a_task_registered_before_the_addon_gets_its_operator_settings_and_panels(bpy, extension, tmp_path,
                                                                                  draw_panel):
    """The add-on's operators, settings and panels come from the task registry: a task registered at run time
    (a studio plug-in's) before the add-on registers gets them all, with no edit to the Blender layer."""
    addon = extension.addon
    tasks = addon.runtime.tasks
    spec = tasks.TaskSpec(
        name=BRIGHTEN, summary="brighten images (a test task)", label="Brighten", icon="LIGHT", main_input="color",
        layout="frame", on_render="frame", description="Brighten the image gain times (a test task)",
        ui_options=(tasks.UiOption("gain", "int", "Gain", "Times brighter", default=2, min=1, max=8),),
        result="x{gain} brighter", activity="Brightening x{gain}")
    prefs = lambda: bpy.context.preferences.addons[MODULE].preferences  # noqa: E731 - a new one per register
    kept = {name: getattr(prefs(), name) for name in ("models_folder", "device")}
    try:
        with tasks.registered(spec):
            models = brighten_models(addon.runtime, tmp_path / "models")
            extension.unregister()
            extension.register()  # what enabling the add-on runs, now with the task registered
            try:
                operator = bpy.ops.postpass.brighten.get_rna_type()
                assert operator.name == "Brighten" and operator.description == spec.description
                assert [p.identifier for p in operator.properties if p.identifier != "rna_type"] == [
                    "image", "gain", "model", "precision", "in_place"]
                assert operator.properties["gain"].default == 2 and operator.properties["gain"].hard_max == 8
                scene = bpy.data.scenes.new("brighten")
                settings = scene.postpass
                assert (settings.brighten_model, settings.brighten_on_render, settings.brighten_gain) == (
                    "AUTO", False, 2)

                drawn = draw_panel(addon.gui.IMAGE_PT_postpass, scene, bpy.data.images.new("brighten panel", 8, 8))
                assert ("prop", "brighten_model") in drawn and ("prop", "brighten_gain") in drawn
                assert ("operator", "postpass.brighten", "Brighten", {"gain": 2, "model": "AUTO", "precision": "fp32",
                                                                      "in_place": False}) in drawn
                assert ("prop", "brighten_on_render") in draw_panel(addon.gui.RENDER_PT_postpass, scene)

                prefs().models_folder = str(models)
                pixels = pattern_image(seed=7)
                float_image(bpy, "dim", pixels)
                assert bpy.ops.postpass.brighten(image="dim", gain=3) == {"FINISHED"}
                assert addon.jobs.LAST_RUN["model"] == BRIGHTEN
                assert close(pixels_of(bpy.data.images["dim x3 brighter"])[..., :3], 3 * pixels[..., :3])

                settings.brighten_on_render = True  # the render handlers plan it for every written frame
                plan = addon.handlers.plan_frame(scene, str(tmp_path / "frame.exr"), True)
                assert [(step.task, step.values) for step in plan.steps] == [(BRIGHTEN, {})]
                bpy.data.scenes.remove(scene)
            finally:
                extension.unregister()
    finally:
        extension.register()
        for name, value in kept.items():
            setattr(prefs(), name, value)
    # The task is gone: so are its operator and settings.
    assert not hasattr(bpy.types, "POSTPASS_OT_brighten") and hasattr(bpy.types, "POSTPASS_OT_denoise")
    assert "brighten_model" not in bpy.context.scene.postpass.bl_rna.properties


# ----------------------------------------------------------------------------------------------------------
# Packaging, command line, preferences and uninstall
# ----------------------------------------------------------------------------------------------------------
def test_platform_zips_hold_only_their_own_wheels(tmp_path):
    """Offline: stand-in files named like the real wheels (Blender's tool copies wheels without opening them)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    tags = {"linux-x64": "manylinux_2_28_x86_64", "linux-arm64": "manylinux_2_28_aarch64",
            "macos-arm64": "macosx_14_0_arm64", "windows-x64": "win_amd64"}
    assert set(tags) == set(build_extension.PLATFORMS)
    requirements = build_extension.pinned_requirements()
    assert [r.split("==")[0].lower() for r in requirements] == ["onnxruntime", "openexr", "opencv-python-headless",
                                                              "tqdm"]
    for requirement in requirements:
        name, version = requirement.split("==")
        for tag in tags.values():
            (wheels / f"{name.replace('-', '_')}-{version}-cp311-cp311-{tag}.whl").write_bytes(b"stand-in")
    zips = build_extension.build(tmp_path / "dist", build_extension.wheels_for(wheels))
    assert [z.name for z in zips] == [f"postpass-0.1.0-{p.replace('-', '_')}.zip" for p in build_extension.PLATFORMS]
    for platform, archive in zip(build_extension.PLATFORMS, zips):
        names = zipfile.ZipFile(archive).namelist()
        bundled = sorted(n for n in names if n.startswith("wheels/"))
        assert len(bundled) == len(requirements) and all(tags[platform] in n for n in bundled), (platform, bundled)
        manifest = zipfile.ZipFile(archive).read("blender_manifest.toml").decode()
        assert f'platforms = ["{platform}"]' in manifest
        assert not any(n.startswith(("ml_core/", "tests/", "export/", "scripts/")) for n in names)


def test_preferences_show_models_and_the_provider(bpy, extension, models_dir):
    prefs = extension.addon.preferences
    folders = bpy.context.preferences.addons[MODULE].preferences.folders()
    shipped = Path(extension.__file__).resolve().parent / "addon" / "models"
    assert folders[0] == models_dir and folders[-1].resolve() == shipped
    assert {e.name for e in extension.addon.model_picker.models_of("upres", folders)} >= {"upres_x2", "upres_x4_srgb"}
    search = extension.addon.properties._model_search("upres")  # the Model field's drop-down list
    offered = [name for name, _ in search(bpy.context.scene.postpass, bpy.context, "")]
    assert offered[0] == "AUTO" and {"upres_x2", "upres_x4_srgb", "upres_x2_guided"} <= set(offered)
    assert "In use: CPUExecutionProvider" in prefs.provider_in_use()  # after the operators above ran


def test_farm_command_is_registered_and_runs_the_cli(extension, capsys):
    assert extension.addon._registered["cli"] is not None
    assert extension.addon.run_cli_command(["--help"]) == 0
    assert "denoise" in capsys.readouterr().out


def test_uninstall_leaves_no_handlers_timers_or_types(bpy, extension):
    addon = extension.addon
    poll = addon.handlers.poll_messages
    assert bpy.app.timers.is_registered(poll)
    _uninstall(bpy)
    assert MODULE not in bpy.context.preferences.addons
    for handlers in (bpy.app.handlers.render_init, bpy.app.handlers.render_write, bpy.app.handlers.render_complete):
        assert not [h for h in handlers if h.__module__.startswith(MODULE)]
    assert not bpy.app.timers.is_registered(poll)
    assert not hasattr(bpy.types.Scene, "postpass") and not hasattr(bpy.types, "POSTPASS_OT_denoise")
    assert not addon.operators.WORKER.alive and addon._registered == {}
    assert not Path(extension.__file__).parent.exists()  # the installed files are gone
