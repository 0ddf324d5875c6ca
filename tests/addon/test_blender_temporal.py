"""Temporal denoising on render (issue 26) in the real extension, installed from its zip into bpy 5.0.1: an
animation rendered with Denoise on Render and "Temporal (animations)" gets every frame denoised with the
untouched renders of the frames beside it (the first without a previous frame, the last without a next one),
exactly as ``denoise_file(..., temporal=True, prev=, next=)`` gives on those renders; nothing is lost and no
file is left over; a render that cannot run temporally (no Vector pass, motion blur on) is denoised frame by
frame with one warning; stills are denoised alone; a cancelled render still writes its last frame.

The models are the default models folder's (``$POSTPASS_MODELS``, else the shipped ``addon/models``), which
must hold the temporal denoiser of Blender-denoised renders ``denoise_oidn_temporal``: a folder without it fails
here, it does not skip. Temporal denoising on render turns Cycles' own Denoise on (its Auto models read Blender's
result), so the animation's frames are Blender's denoised renders averaged along the Vector pass.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import default_models_with, extension_on_default_models, tiny_blender_scene

from addon import runtime
from addon.runtime import read_exr
from ml_core.blender import import_bpy

TEMPORAL_MODEL = "denoise_oidn_temporal"
ATOL = 1e-4


@pytest.fixture(scope="module")
def bpy():
    return import_bpy()


@pytest.fixture(scope="module")
def default_models() -> Path:
    return default_models_with(TEMPORAL_MODEL)


@pytest.fixture(scope="module")
def extension(bpy, tmp_path_factory, default_models):
    yield from extension_on_default_models(bpy, tmp_path_factory)


def animation(bpy, folder: Path, frames: int = 4):
    """A moving test-split scene, 32 px, 4 spp, a new Cycles seed each frame (as artists render animations),
    multilayer EXR with every pass, frames 1..``frames`` written to folder/beauty.####.exr; Postpass denoise on
    render on (which turns on the passes its models read) and its temporal switch, off by default, on."""
    scene = tiny_blender_scene(folder, frames)
    scene.cycles.use_animated_seed = True
    scene.frame_start, scene.frame_end, scene.frame_step = 1, frames, 1
    scene.postpass.denoise_on_render = True
    assert not scene.postpass.denoise_temporal  # an opt-in
    scene.postpass.denoise_temporal = True
    return scene


def close(a, b, atol=ATOL):
    return a.shape == b.shape and np.allclose(a, b, atol=atol, rtol=0)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def frame_names(frames) -> list[str]:
    return [f"beauty.{f:04d}.exr" for f in frames]


def expected_temporal(renders: Path, frames: list[int], out: Path) -> dict[int, runtime.InferenceResult]:
    """What the runtime gives each frame from the untouched renders in ``renders``: frame f with f - 2 .. f + 2,
    absent at the ends."""
    path = lambda f: renders / f"beauty.{f:04d}.exr" if f in frames else None  # noqa: E731
    return {f: runtime.denoise_file(path(f), out / f"expected.{f:04d}.exr", temporal=True, prev=path(f - 1),
                                    next=path(f + 1), prev2=path(f - 2), next2=path(f + 2), device="cpu")
            for f in frames}


def test_an_animation_is_denoised_with_each_frames_neighbours(bpy, extension, tmp_path, tmp_path_factory, capfd):
    scene = animation(bpy, tmp_path, frames=4)
    settings, layer = scene.postpass, scene.view_layers[0]
    assert settings.denoise_temporal
    assert layer.use_pass_vector and layer.cycles.denoising_store_passes and not scene.render.use_motion_blur
    assert scene.cycles.use_denoising and scene.cycles.denoising_prefilter == "ACCURATE"  # Blender's result too
    capfd.readouterr()
    bpy.ops.render.render(animation=True, scene=scene.name)
    out = capfd.readouterr().out

    # Nothing lost, nothing left over: each frame denoised in its place, its render in original/.
    frames = [1, 2, 3, 4]
    assert files_under(tmp_path) == sorted(frame_names(frames) + ["original"] +
                                           [f"original/{n}" for n in frame_names(frames)])
    assert out.count("temporal denoising writes each frame once the 2 after it are rendered") == 1
    assert "Postpass: frame 1: rendered; temporal denoising" in out
    assert "Postpass: frame 1: wrote beauty.0001.exr (with beauty.0002.exr, beauty.0003.exr; CPUExecutionProvider)" in out
    assert "Postpass: frame 4: wrote beauty.0004.exr (with beauty.0002.exr, beauty.0003.exr; CPUExecutionProvider)" in out
    assert "temporal denoising is off" not in out

    expected = expected_temporal(tmp_path / "original", frames, tmp_path_factory.mktemp("expected"))
    assert extension.addon.jobs.LAST_RUN["model"] == TEMPORAL_MODEL
    for frame in frames:
        assert expected[frame].model == TEMPORAL_MODEL
        result = read_exr(tmp_path / f"beauty.{frame:04d}.exr")
        assert close(result.get("Combined"), expected[frame].image), frame
        # the rest of the render stays, as with a frame denoised alone
        noisy = read_exr(tmp_path / "original" / f"beauty.{frame:04d}.exr")
        assert {"Vector", "Denoising Albedo", "Depth"} <= set(result.passes)
        assert close(result.get("Vector"), noisy.get("Vector"), atol=0)
    assert any("no frames f-2 and f-1 to read" in note for note in expected[1].notes)
    assert any("no frames f+1 and f+2 to read" in note for note in expected[4].notes)
    assert [note.split(" (")[0] for note in expected[2].notes] == ["no frame f-2 to read"]
    # the neighbours made a difference: not the frame denoised alone
    alone = runtime.denoise_file(tmp_path / "original" / "beauty.0002.exr", tmp_path_factory.mktemp("alone") / "a.exr",
                                 device="cpu")
    assert alone.model != TEMPORAL_MODEL
    assert not close(read_exr(tmp_path / "beauty.0002.exr").get("Combined"), alone.image, atol=1e-3)


def test_beside_frame_mode_keeps_the_renders_and_reads_them(bpy, extension, tmp_path, tmp_path_factory):
    scene = animation(bpy, tmp_path, frames=3)
    scene.postpass.output_mode = "SIBLING"
    bpy.ops.render.render(animation=True, scene=scene.name)
    frames = [1, 2, 3]
    assert files_under(tmp_path) == sorted(frame_names(frames) + ["postpass"] +
                                           [f"postpass/{n}" for n in frame_names(frames)])
    expected = expected_temporal(tmp_path, frames, tmp_path_factory.mktemp("expected"))
    for frame in frames:
        name = f"beauty.{frame:04d}.exr"
        assert expected[frame].model == TEMPORAL_MODEL
        assert close(read_exr(tmp_path / "postpass" / name).get("Combined"), expected[frame].image), frame
        assert not close(read_exr(tmp_path / name).get("Combined"), expected[frame].image, atol=1e-3)


@pytest.mark.parametrize("problem", ["no Vector pass", "motion blur"])
def test_a_render_that_cannot_run_temporally_is_denoised_frame_by_frame_with_one_warning(
        bpy, extension, tmp_path, tmp_path_factory, capfd, problem):
    scene = animation(bpy, tmp_path, frames=3)
    if problem == "no Vector pass":
        scene.view_layers[0].use_pass_vector = False
        why = "no Vector pass in view layer 'ViewLayer'"
    else:
        scene.render.use_motion_blur = True  # Cycles then writes the Vector pass as zeros
        why = "motion blur is on, and Cycles writes no Vector pass with it"
    capfd.readouterr()
    bpy.ops.render.render(animation=True, scene=scene.name)
    out = capfd.readouterr()
    warnings = [line for line in out.out.splitlines() if "temporal denoising is off for this render" in line]
    assert len(warnings) == 1 and why in warnings[0] and warnings[0].endswith("each frame is denoised alone")
    assert "temporal denoising writes" not in out.out and "ERROR" not in out.err
    scratch = tmp_path_factory.mktemp("alone")
    for frame in (1, 2, 3):
        name = f"beauty.{frame:04d}.exr"
        alone = runtime.denoise_file(tmp_path / "original" / name, scratch / name, device="cpu")
        assert alone.model == "denoise_kpn"
        assert close(read_exr(tmp_path / name).get("Combined"), alone.image), frame


def test_stills_are_denoised_alone(bpy, extension, tmp_path, tmp_path_factory):
    """A written still and a one-frame animation: the per-frame model, as a frame without neighbours (also with
    the temporal model named: it is for animations)."""
    scene = animation(bpy, tmp_path, frames=3)
    scene.postpass.denoise_model = TEMPORAL_MODEL
    scene.render.filepath = str(tmp_path / "still")
    bpy.ops.render.render(write_still=True, scene=scene.name)
    scene.render.filepath = str(tmp_path / "beauty.####")
    scene.frame_start = scene.frame_end = 2
    bpy.ops.render.render(animation=True, scene=scene.name)
    assert files_under(tmp_path) == ["beauty.0002.exr", "original", "original/beauty.0002.exr",
                                     "original/still.exr", "still.exr"]
    scratch = tmp_path_factory.mktemp("alone")
    for name in ("still.exr", "beauty.0002.exr"):
        alone = runtime.denoise_file(tmp_path / "original" / name, scratch / name, device="cpu")
        assert alone.model == "denoise_kpn"
        assert close(read_exr(tmp_path / name).get("Combined"), alone.image), name


def test_a_cancelled_render_writes_the_frames_it_rendered(bpy, extension, tmp_path, tmp_path_factory, capfd):
    """Esc after frame 2 of 4: frames 1 and 2, which wait for the two frames after them, are denoised when the
    render is cancelled, without those. (A background render cannot be cancelled: the handlers get the calls
    Blender makes, on real renders.)"""
    handlers = extension.addon.handlers
    scene = animation(bpy, tmp_path, frames=4)
    scene.postpass.denoise_on_render = False
    scene.frame_end = 2
    bpy.ops.render.render(animation=True, scene=scene.name)  # the two frames Blender wrote before Esc
    scene.frame_end = 4
    scene.postpass.denoise_on_render = True
    raw = tmp_path_factory.mktemp("raw")
    for name in frame_names([1, 2]):
        shutil.copy2(tmp_path / name, raw / name)
    # original/ from an earlier render of the shot: not this render's frame 2, which frame 1 must read
    (tmp_path / "original").mkdir()
    shutil.copy2(raw / "beauty.0001.exr", tmp_path / "original" / "beauty.0002.exr")
    capfd.readouterr()
    handlers.on_render_init(scene)
    for frame in (1, 2):
        scene.frame_set(frame)
        handlers.on_render_write(scene)
    assert files_under(tmp_path) == sorted(frame_names([1, 2]) + ["original", "original/beauty.0002.exr"])
    for name in frame_names([1, 2]):  # both wait for the frames after them (frame 1 for frame 3)
        assert close(read_exr(tmp_path / name).get("Combined"), read_exr(raw / name).get("Combined"), atol=0)
    handlers.on_render_cancel(scene)
    out = capfd.readouterr().out
    assert "frame 1: wrote beauty.0001.exr (with beauty.0002.exr; CPUExecutionProvider)" in out
    assert "frame 2: wrote beauty.0002.exr (with beauty.0001.exr; CPUExecutionProvider)" in out
    assert files_under(tmp_path) == sorted(frame_names([1, 2]) + ["original"] +
                                           [f"original/{n}" for n in frame_names([1, 2])])
    expected = expected_temporal(raw, [1, 2], tmp_path_factory.mktemp("expected"))
    for frame in (1, 2):
        assert close(read_exr(tmp_path / f"beauty.{frame:04d}.exr").get("Combined"), expected[frame].image), frame
    assert handlers._job["windows"] is None


def test_frames_the_render_skipped_are_absent_neighbours(extension):
    """Frames processed in order, each once its next frame is written; a frame this render did not render (an
    existing frame Blender skipped) is an absent neighbour, and a frame with none gets its plan for a still."""
    jobs = extension.addon.jobs
    plan = lambda f, alone=False: jobs.FramePlan(f"/r/{f}.exr", f"/r/{f}.exr", None,  # noqa: E731
                                                 steps=(jobs.Step("denoise", None, window=0 if alone else 1),))
    windows = jobs.FrameWindows(window=1, step=1)
    done = []
    for frame in (1, 3, 4, 6):
        done += [(p.frame, p.before, p.after, p.steps[0].window)
                 for p in windows.add(frame, plan(frame), plan(frame, alone=True))]
    assert done == [(1, (), (), 0), (3, (None,), ("/r/4.exr",), 1), (4, ("/r/3.exr",), (None,), 1)]
    assert [(p.frame, p.before, p.after, p.steps[0].window) for p in windows.flush()] == [(6, (), (), 0)]
    assert list(windows.flush()) == []


def test_the_render_panel_says_what_temporal_denoising_needs_and_turns_it_on(bpy, extension, tmp_path,
                                                                            draw_panel):
    gui = extension.addon.gui
    scene = animation(bpy, tmp_path)
    settings, layer = scene.postpass, scene.view_layers[0]
    settings.denoise_on_render = False
    layer.use_pass_vector = layer.cycles.denoising_store_passes = False
    scene.render.use_motion_blur = True
    assert ("prop", "denoise_temporal") not in draw_panel(gui.RENDER_PT_postpass, scene)  # a choice of On Render

    # Denoise on Render turns on the passes the per-frame and the temporal models read; motion blur is the
    # artist's: the panel says what it costs, with a button.
    settings.denoise_on_render = True
    assert layer.use_pass_vector and layer.cycles.denoising_store_passes and scene.render.use_motion_blur
    drawn = draw_panel(gui.RENDER_PT_postpass, scene)
    assert ("prop", "denoise_temporal") in drawn
    assert ("label", "Motion blur is on: Cycles writes no Vector pass") in drawn
    assert ("operator", "postpass.enable_passes", "Turn Off Motion Blur", {"passes": "Vector"}) in drawn
    with bpy.context.temp_override(scene=scene):
        assert bpy.ops.postpass.enable_passes(passes="Vector") == {"FINISHED"}
    assert not scene.render.use_motion_blur
    ready = ("label", "Animations: each frame with its neighbours, written 2 frames later; stills alone")
    assert ready in draw_panel(gui.RENDER_PT_postpass, scene)

    layer.use_pass_vector = False
    drawn = draw_panel(gui.RENDER_PT_postpass, scene)
    assert ("label", "Needs the Vector pass") in drawn
    assert ("operator", "postpass.enable_passes", "Enable the Vector pass", {"passes": "Vector"}) in drawn
    settings.denoise_temporal = False
    # Temporal turned Cycles' Denoise on; a frame's own model (none of the folder's per-frame models reads
    # Blender's result) would replace that result with one usually below it: the panel says so
    assert scene.cycles.use_denoising
    assert ("label", gui.BELOW_BLENDER_DENOISE) in draw_panel(gui.RENDER_PT_postpass, scene)
    scene.cycles.use_denoising = False
    assert ("label", "Frames are denoised one by one") in draw_panel(gui.RENDER_PT_postpass, scene)
    settings.denoise_temporal = True  # turning it on turns its passes on
    assert layer.use_pass_vector and ready in draw_panel(gui.RENDER_PT_postpass, scene)

    scene.frame_step = 2
    assert ("label", "Needs Frame Step 1: frames are denoised one by one") in draw_panel(gui.RENDER_PT_postpass,
                                                                                          scene)
    scene.frame_step = 1
    settings.denoise_model = "denoise_kpn"  # a per-frame model named: its frames alone
    assert ("label", "denoise_kpn reads one frame: choose AUTO or a temporal model") in draw_panel(
        gui.RENDER_PT_postpass, scene)
    settings.denoise_model = TEMPORAL_MODEL  # a temporal model named: animations with it, stills by AUTO
    assert ready in draw_panel(gui.RENDER_PT_postpass, scene)
