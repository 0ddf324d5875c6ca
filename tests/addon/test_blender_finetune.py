"""Fine-tune on this Shot (issue 27) in the real extension, installed from its zip into bpy 5.0.1: the operator's
function runs the real ``export.finetune`` in the training Python (here: this test's Python, which has torch) on a
saved 64 px Cycles shot with a half-minute budget, is cancelled while it trains and resumed, writes
``//postpass_models/`` beside the .blend, and the add-on's denoise (Image Editor operator and on render) then
uses that folder first, with the panel saying so. Refusals (unsaved file, no training Python) are reports."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import EXTENSION_MODULE, install_extension, uninstall_extension

from ml_core.blender import import_bpy


@pytest.fixture(scope="module")
def bpy():
    return import_bpy()


@pytest.fixture(scope="module")
def extension(bpy, tmp_path_factory):
    """The zip built by scripts/build_extension.py, installed and enabled like a user does."""
    yield install_extension(bpy, tmp_path_factory.mktemp("dist"), device="CPU")
    bpy.ops.wm.read_homefile(use_empty=True)  # later tests get no saved file with its own models
    uninstall_extension(bpy)


@pytest.fixture
def shot(tmp_path, make_shot) -> Path:
    """shot/shot.blend: Cycles, 64x64, 4 spp, frames 1-5, saved by a child process (conftest's make_shot)."""
    path = tmp_path / "shot" / "shot.blend"
    path.parent.mkdir()
    return make_shot(path)


def labels(drawn) -> list[str]:
    return [d[1] for d in drawn if d[0] == "label"]


def test_an_unsaved_file_or_no_training_python_is_a_report_and_nothing_starts(bpy, extension, shot, tmp_path,
                                                                             draw_panel):
    addon = extension.addon
    bpy.ops.wm.read_homefile(use_empty=True)  # File > New: never saved
    with pytest.raises(RuntimeError, match=r"Save the \.blend first \(File > Save\)"):
        bpy.ops.postpass.finetune()
    drawn = draw_panel(addon.gui.RENDER_PT_postpass_finetune, bpy.context.scene)
    assert ("prop", "finetune_minutes") in drawn
    assert ("operator", "postpass.finetune", "Fine-tune on this Shot", {}) in drawn
    assert "Save the .blend first: the fine-tune renders the saved file" in labels(drawn)

    bpy.ops.wm.open_mainfile(filepath=str(shot))
    prefs = bpy.context.preferences.addons[EXTENSION_MODULE].preferences
    prefs.training_python = str(tmp_path / "no-such-python")
    try:
        with pytest.raises(RuntimeError, match=r"no-such-python: no such Python \(set by the preference .*Training "
                                               r"Python\); finetune needs Postpass's training environment"):
            bpy.ops.postpass.finetune(minutes=0.5)
    finally:
        prefs.training_python = ""
    assert addon.operators.finetune_run() is None and not (shot.parent / "postpass_models").exists()
    assert addon.gui.shot_model_line() is None
    # The command line inside Blender (blender -b -c postpass finetune ...) checks its inputs the same way.
    assert addon.run_cli_command(["finetune", str(tmp_path / "missing.blend"), "-o", str(tmp_path / "m")]) == 2


def test_finetune_writes_the_shot_models_beside_the_blend_and_denoise_then_uses_them(bpy, extension, shot, tmp_path,
                                                                                     draw_panel):
    addon = extension.addon
    operators, gui, preferences = addon.operators, addon.gui, addon.preferences
    bpy.ops.wm.open_mainfile(filepath=str(shot))
    models = shot.parent / "postpass_models"
    options = {"general": "none", "work": str(tmp_path / "work")}  # no general data mixed in: the shot alone

    # Start, follow the progress in the panel, and cancel while it trains (what the Cancel button does).
    run = operators.start_finetune(bpy.context, minutes=0.5, **options)
    with pytest.raises(addon.runtime.trainer.TrainerError, match="already running"):
        operators.start_finetune(bpy.context, minutes=0.5, **options)
    deadline = time.monotonic() + 120
    while (run.progress or {}).get("stage") != "train" and not run.done and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (run.progress or {}).get("stage") == "train", (run.returncode, run.error)
    drawn = draw_panel(gui.RENDER_PT_postpass_finetune, bpy.context.scene)
    (progress,) = [d for d in drawn if d[0] == "progress"]
    assert 0 < progress[1] < 1 and progress[2].startswith("Training: ") and progress[2].endswith(" left")
    assert ("operator", "postpass.finetune_cancel", "Cancel", {}) in drawn
    assert bpy.ops.postpass.finetune_cancel() == {"FINISHED"}
    assert run.wait(120)
    assert run.returncode == 130 and operators.finish_finetune(run)[1].startswith("Fine-tune stopped; run it again")
    assert not models.exists()

    # Run again: it resumes and finishes.
    run = operators.start_finetune(bpy.context, minutes=0.5, **options)
    assert run.wait(240)
    level, line = operators.finish_finetune(run)
    assert level in ("INFO", "WARNING") and line.startswith("Fine-tune done: "), (line, run.error)
    assert (models / "registry.json").is_file() and (models / "finetune.json").is_file()
    report = json.loads((models / "finetune.json").read_text())
    assert run.report == report and operators.FINETUNE_OUTCOME[str(shot)] == (level, line)

    # Denoise now reads the shot's folder first, and the panels say so.
    assert preferences.get(bpy.context).folders()[0] == models
    gain = f"{report['held_out']['gain_db']:+.2f} dB on held-out frames"
    if report["kept"] == "finetuned":
        expected_model, expected_line = report["model"], f"Shot model: {report['model']} ({gain})"
    else:
        expected_model = report["base_model"]
        expected_line = f"Shot model: none, the fine-tune did not help ({gain}); the shipped models run"
    if report["residual_model"]:  # its correction of Blender's denoised render leads the line
        other = f"{report['model']} ({gain})" if report["kept"] == "finetuned" else "the shipped models"
        expected_line = (f"Shot model: denoise_oidn_residual_shot ({report['held_out']['residual_gain_db']:+.2f} dB "
                         f"over Blender's denoiser on held-out frames) on renders with Cycles' Denoise and Denoising "
                         f"Data; {other} on others")
    assert gui.shot_model_line() == expected_line
    assert expected_line in labels(draw_panel(gui.RENDER_PT_postpass, bpy.context.scene))
    assert line in labels(draw_panel(gui.RENDER_PT_postpass_finetune, bpy.context.scene))

    scene = bpy.context.scene
    scene.cycles.use_denoising = False
    scene.view_layers[0].cycles.denoising_store_passes = True  # colour, albedo and normal: the full denoiser
    bpy.ops.render.render(scene=scene.name)  # F12
    assert bpy.ops.postpass.denoise(image="Render Result") == {"FINISHED"}
    assert addon.jobs.LAST_RUN["model"] == expected_model
    scene.postpass.denoise_on_render = True  # and every frame a render writes
    plan = addon.handlers.plan_frame(scene, str(tmp_path / "frame.exr"), True)
    assert [step.options.models_dir for step in plan.steps] == [models]
    if report["residual_model"]:
        # denoising on render turned Blender's own denoiser on, as the correction was trained, and a render
        # then runs the correction on Blender's result
        cy = scene.cycles
        assert cy.use_denoising and (cy.denoiser, cy.denoising_prefilter, cy.denoising_quality) == (
            "OPENIMAGEDENOISE", "ACCURATE", "HIGH")
        scene.postpass.denoise_on_render = False
        bpy.ops.render.render(scene=scene.name)
        assert bpy.ops.postpass.denoise(image="Render Result") == {"FINISHED"}
        assert addon.jobs.LAST_RUN["model"] == "denoise_oidn_residual_shot"

    # A fine-tune that did not help: the panel says so instead of naming a model.
    report.update(kept="shipped", residual_model=None, held_out={**report["held_out"], "gain_db": -0.123})
    (models / "finetune.json").write_text(json.dumps(report))
    assert gui.shot_model_line() == ("Shot model: none, the fine-tune did not help (-0.12 dB on held-out frames); "
                                     "the shipped models run")
