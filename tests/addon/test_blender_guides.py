"""Guide passes for skipped frames (issue 28) in the real extension, installed from its zip into bpy 5.0.1: an
animation rendered every 2nd frame with "Inbetween Skipped Frames" gets its skipped frames made, once the key
frames are rendered, from the two keys and the frame's own guide render (Denoising Data and Vector at a few samples,
rendered from a copy of the shot by a background bpy process into ``guides/`` beside the frames) by the guided
model, exactly as ``inbetween_file(..., guides=)`` gives on those files; a re-render reuses the guide files.
When the guide render fails (its file is taken by another file) or no guided model is installed, the skipped
frames are made from their keys alone, as before, with one warning. The panel says what the key frames lack and
offers the button that turns it on.

The models are the default models folder's (``$POSTPASS_MODELS``, else the shipped ``addon/models``), which must
hold the guided inbetweener ``inbetween_guided``: a folder without it fails here, it does not skip.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import copy_models, default_models_with, extension_on_default_models, tiny_blender_scene

from addon import runtime
from addon.guide_render import DEFAULT_SAMPLES as SPP
from addon.guide_render import GUIDE_PASSES, is_guide_file
from addon.runtime import read_exr
from ml_core.blender import import_bpy

GUIDED_MODEL = "inbetween_guided"
ATOL = 1e-4


@pytest.fixture(scope="module")
def bpy():
    return import_bpy()


@pytest.fixture(scope="module")
def default_models() -> Path:
    return default_models_with(GUIDED_MODEL)


@pytest.fixture(scope="module")
def extension(bpy, tmp_path_factory, default_models):
    yield from extension_on_default_models(bpy, tmp_path_factory)


def animation(bpy, folder: Path, frames: int = 3):
    """A moving test-split scene, 32 px, 4 spp, multilayer EXR, frames 1..``frames`` rendered every 2nd frame to
    folder/beauty.####.exr, Inbetween Skipped Frames on (which turns on the passes its models read)."""
    scene = tiny_blender_scene(folder, frames)
    scene.frame_start, scene.frame_end, scene.frame_step = 1, frames, 2
    scene.postpass.inbetween_on_render = True
    return scene


def close(a, b, atol=ATOL):
    return a.shape == b.shape and np.allclose(a, b, atol=atol, rtol=0)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def render_animation(bpy, scene, capfd) -> str:
    capfd.readouterr()
    bpy.ops.render.render(animation=True, scene=scene.name)
    return capfd.readouterr().out


def test_skipped_frames_are_made_with_their_guide_renders_by_the_guided_model(bpy, extension, tmp_path,
                                                                            tmp_path_factory, capfd):
    scene = animation(bpy, tmp_path)
    settings, layer = scene.postpass, scene.view_layers[0]
    assert settings.inbetween_guides  # on by default: a guided model is installed
    assert layer.cycles.denoising_store_passes and layer.use_pass_vector  # turned on with the task
    out = render_animation(bpy, scene, capfd)

    # the keys as rendered, the made frame beside them, its guide render kept in guides/; no copy of the shot left
    assert files_under(tmp_path) == ["beauty.0001.exr", "beauty.0002.exr", "beauty.0003.exr", "guides",
                                     "guides/beauty.0002.exr"]
    guide = tmp_path / "guides" / "beauty.0002.exr"
    assert is_guide_file(guide) and set(GUIDE_PASSES) <= set(read_exr(guide).passes)
    assert f"the skipped frames are made when the render ends, with their guide renders ({SPP} spp" in out
    assert f"guide render: 1 frame(s) at {SPP} spp" in out and "s per frame" in out
    assert f"Postpass: frame 2: wrote beauty.0002.exr (guided by guides/beauty.0002.exr; {GUIDED_MODEL}; " in out
    assert "WARNING" not in out and "guide passes are off" not in out

    expected = runtime.inbetween_file(tmp_path / "beauty.0001.exr", tmp_path / "beauty.0003.exr",
                                      tmp_path_factory.mktemp("expected") / "mid.exr", t=0.5, key_steps=2,
                                      guides=guide, device="cpu")
    assert expected.model == GUIDED_MODEL
    made = read_exr(tmp_path / "beauty.0002.exr").get("Combined")
    assert close(made, expected.image)
    alone = runtime.inbetween_file(tmp_path / "beauty.0001.exr", tmp_path / "beauty.0003.exr",
                                   tmp_path_factory.mktemp("alone") / "mid.exr", t=0.5, key_steps=2, device="cpu")
    assert alone.model != GUIDED_MODEL and not close(made, alone.image, atol=1e-3)  # the guide made a difference

    # a re-render reuses the guide file (not rendered again)
    before = guide.stat().st_mtime_ns
    out = render_animation(bpy, scene, capfd)
    assert f"guide render of 0 skipped frame(s) at {SPP} spp" in out and "(1 already there)" in out
    assert guide.stat().st_mtime_ns == before
    assert f"frame 2: wrote beauty.0002.exr (guided by guides/beauty.0002.exr; {GUIDED_MODEL}; " in out


def test_a_failed_guide_render_falls_back_to_the_keys_alone_with_one_warning(bpy, extension, tmp_path,
                                                                           tmp_path_factory, capfd):
    scene = animation(bpy, tmp_path)
    taken = tmp_path / "guides" / "beauty.0002.exr"
    taken.parent.mkdir()
    taken.write_text("someone's file")  # the guide render refuses to overwrite it: it fails before rendering
    out = render_animation(bpy, scene, capfd)

    warnings = [line for line in out.splitlines() if "WARNING" in line or "guide render failed" in line]
    assert len(warnings) == 1, out
    assert "guide render failed" in warnings[0] and "exists and is not a guide render" in warnings[0]
    assert warnings[0].endswith("1 skipped frame(s) are made from their key frames alone")
    assert taken.read_text() == "someone's file"
    assert files_under(tmp_path) == ["beauty.0001.exr", "beauty.0002.exr", "beauty.0003.exr", "guides",
                                     "guides/beauty.0002.exr"]  # no copy of the shot left either
    assert "frame 2: wrote beauty.0002.exr (from its key frames; inbetween_vectors; " in out
    alone = runtime.inbetween_file(tmp_path / "beauty.0001.exr", tmp_path / "beauty.0003.exr",
                                   tmp_path_factory.mktemp("alone") / "mid.exr", t=0.5, key_steps=2, device="cpu")
    assert close(read_exr(tmp_path / "beauty.0002.exr").get("Combined"), alone.image)


def test_without_a_guided_model_skipped_frames_come_from_their_keys_with_one_warning(
        bpy, extension, tmp_path, tmp_path_factory, capfd, monkeypatch, default_models):
    shipped = copy_models(default_models, ["inbetween_vectors"], tmp_path_factory.mktemp("no-guided"))
    monkeypatch.setenv("POSTPASS_MODELS", str(shipped))
    scene = animation(bpy, tmp_path / "frames")
    settings = scene.postpass
    assert not settings.inbetween_guides  # off by default: no guided model installed
    out = render_animation(bpy, scene, capfd)
    assert "guide passes are off" not in out and "guide render" not in out  # off: nothing said, as before
    assert files_under(tmp_path / "frames") == ["beauty.0001.exr", "beauty.0002.exr", "beauty.0003.exr"]

    settings.inbetween_guides = True  # asked for: one warning, then as before
    out = render_animation(bpy, scene, capfd)
    warnings = [line for line in out.splitlines() if "guide passes are off" in line]
    assert warnings == ["Postpass: guide passes are off for this render: no guided inbetween model is installed; "
                        "skipped frames are made from their key frames alone"]
    assert files_under(tmp_path / "frames") == ["beauty.0001.exr", "beauty.0002.exr", "beauty.0003.exr"]
    expected = runtime.inbetween_file(tmp_path / "frames" / "beauty.0001.exr", tmp_path / "frames" / "beauty.0003.exr",
                                      tmp_path / "mid.exr", t=0.5, key_steps=2, models_dir=shipped, device="cpu")
    assert close(read_exr(tmp_path / "frames" / "beauty.0002.exr").get("Combined"), expected.image)


def test_the_panel_says_what_the_key_frames_lack_and_offers_the_button(bpy, extension, tmp_path, draw_panel):
    gui = extension.addon.gui
    scene = animation(bpy, tmp_path)
    settings, layer = scene.postpass, scene.view_layers[0]
    drawn = draw_panel(gui.RENDER_PT_postpass, scene)
    assert ("prop", "inbetween_guides") in drawn and ("prop", "inbetween_guide_samples") in drawn
    assert ("label", f"After the render: guide renders ({SPP} spp) in 'guides/', then {GUIDED_MODEL}") in drawn

    layer.cycles.denoising_store_passes = False
    drawn = draw_panel(gui.RENDER_PT_postpass, scene)
    assert ("label", "The key frames need Denoising Data") in drawn
    (button,) = [d for d in drawn if d[0] == "operator" and d[1] == "postpass.enable_passes"]
    assert button[2] == "Enable Denoising Data"
    bpy.ops.postpass.enable_passes(passes=button[3]["passes"])
    assert layer.cycles.denoising_store_passes

    settings.inbetween_guides = False
    drawn = draw_panel(gui.RENDER_PT_postpass, scene)
    assert ("label", "Skipped frames are made from their key frames alone") in drawn
    assert ("prop", "inbetween_guide_samples") not in drawn


def test_the_guide_render_shows_its_progress_and_cancels_cleanly(bpy, extension, tmp_path, draw_panel):
    """The background part as the UI runs it: the panel shows the progress and Cancel while the guide render
    runs; Cancel stops it, leaves no copy of the shot, and makes no frame."""
    addon = extension.addon
    scene = animation(bpy, tmp_path)
    scene.postpass.inbetween_on_render = False
    bpy.ops.render.render(animation=True, scene=scene.name)  # the key frames only
    assert files_under(tmp_path) == ["beauty.0001.exr", "beauty.0003.exr"]
    options = addon.preferences.get(bpy.context).run_options("inbetween", "AUTO", "fp32")
    step = addon.jobs.Step("inbetween", options, {}, ((str(tmp_path / "beauty.0001.exr"), 0.5,
                                                       str(tmp_path / "beauty.0002.exr")),))
    batch = addon.jobs.SkippedFrames(step, str(tmp_path / "beauty.0003.exr"), (2,), "ViewLayer", 2)
    messages = []
    run = addon.operators.guided_inbetween(scene, 1, [batch], lambda level, text: messages.append((level, text)))
    assert addon.operators.GUIDED["run"] is run and not run.done
    scene.postpass.inbetween_on_render = True
    drawn = draw_panel(addon.gui.RENDER_PT_postpass, scene)
    assert any(d[0] == "progress" and d[2].startswith("Guide render") for d in drawn)
    assert ("operator", "postpass.guides_cancel", "Cancel", {}) in drawn
    assert bpy.ops.postpass.guides_cancel() == {"FINISHED"}
    run.wait()
    assert run.done and messages[-1] == (
        "INFO", f"guided inbetweening cancelled: guide files kept in {tmp_path / 'guides'} (the next render reuses "
                "them); the skipped frames were not made")
    assert not (tmp_path / "beauty.0002.exr").exists()
    assert not [p for p in (tmp_path / "guides").iterdir() if p.suffix == ".blend" or ".tmp" in p.name]
    with pytest.raises(RuntimeError, match="no guided inbetweening is running"):
        bpy.ops.postpass.guides_cancel()


def test_a_cancelled_render_makes_its_skipped_frames_from_their_keys_alone(bpy, extension, tmp_path,
                                                                         tmp_path_factory, capfd):
    """Esc after key frame 3: no guide render starts; frame 2 is made from its keys, with one warning. (A
    background render cannot be cancelled: the handlers get the calls Blender makes, on real renders.)"""
    handlers = extension.addon.handlers
    scene = animation(bpy, tmp_path)
    scene.postpass.inbetween_on_render = False
    bpy.ops.render.render(animation=True, scene=scene.name)  # the key frames Blender wrote before Esc
    scene.postpass.inbetween_on_render = True
    capfd.readouterr()
    handlers.on_render_init(scene)
    for frame in (1, 3):
        scene.frame_set(frame)
        handlers.on_render_write(scene)
    assert files_under(tmp_path) == ["beauty.0001.exr", "beauty.0003.exr"]  # frame 2 waits for the render's end
    handlers.on_render_cancel(scene)
    out = capfd.readouterr().out
    assert [line for line in out.splitlines() if "WARNING" in line or "cancelled" in line] == [
        "Postpass: render cancelled: its skipped frames are made from their key frames alone (no guide render)"]
    assert "frame 2: wrote beauty.0002.exr (from its key frames; inbetween_vectors; " in out
    assert files_under(tmp_path) == ["beauty.0001.exr", "beauty.0002.exr", "beauty.0003.exr"]
    alone = runtime.inbetween_file(tmp_path / "beauty.0001.exr", tmp_path / "beauty.0003.exr",
                                   tmp_path_factory.mktemp("alone") / "mid.exr", t=0.5, key_steps=2, device="cpu")
    assert close(read_exr(tmp_path / "beauty.0002.exr").get("Combined"), alone.image)
    assert handlers._job["skipped"] == []
