"""Issue 26, temporal denoising in the runtime: frame f of an animation denoised with frames f - 1 and f + 1 by a
model whose inputs include the neighbours (``prev_*``, ``next_*``), on a real Cycles sequence and the real
exported temporal model of the default models folder (``$POSTPASS_MODELS``, else the shipped ``addon/models``).

What is guarded: the API feeds each frame's passes to the right inputs (f - 1 to ``prev_*``, f + 1 to ``next_*``);
a neighbour that does not exist is absent, never the frame repeated; a per-frame run never gets the temporal
model; a window of frames is refused before it runs when a file lacks a pass the model needs; a sequence decodes
each file once; the batch plans windows whose neighbours lie outside the chunk."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SEQUENCE_FRAMES, copy_models

from addon.runtime import (ImageError, ModelError, api, denoise, denoise_file, load_model, read_exr,
                           read_image, run, tasks, write_exr)
from addon.runtime.batch import plan
from addon.runtime.registry import models_dir

FRAMES = list(SEQUENCE_FRAMES)
#: contract input -> (source: 0 frame f - 1, 1 frame f, 2 frame f + 1; Blender pass)
TEMPORAL_INPUTS = {"color": (1, "Combined"), "albedo": (1, "Denoising Albedo"), "normal": (1, "Denoising Normal"),
                   "vector": (1, "Vector"), "prev_color": (0, "Combined"), "prev_albedo": (0, "Denoising Albedo"),
                   "prev_normal": (0, "Denoising Normal"), "next_color": (2, "Combined"),
                   "next_albedo": (2, "Denoising Albedo"), "next_normal": (2, "Denoising Normal")}
CHOICE = ("reads frames f-1, f, f+1; uses albedo/normal/vector; the input has no blender_denoised pass; render with "
          "Cycles' Denoise (OpenImageDenoise, Accurate, High) for better results")


@pytest.fixture(scope="module")
def temporal_models(temporal_name) -> Path:
    """The default models folder, which holds the temporal denoiser ``temporal_name``."""
    return models_dir()


def beauty(folder: Path, frame: int) -> Path:
    return folder / f"beauty.{frame}.exr"


def window_inputs(prev: Path | None, frame: Path, next: Path | None) -> dict:
    """The temporal model's inputs read straight from the files (None: that frame absent)."""
    files = [read_image(p) if p is not None else None for p in (prev, frame, next)]
    return {name: files[source].get(pass_name) for name, (source, pass_name) in TEMPORAL_INPUTS.items()
            if files[source] is not None}


def model_run(folder: Path, name: str, inputs: dict) -> np.ndarray:
    return load_model(name, folder).run(inputs).image


def assert_differs(a: np.ndarray, b: np.ndarray) -> None:
    """``a`` and ``b`` differ visibly (what makes the comparisons beside it able to fail)."""
    assert np.abs(a - b).max() > 1e-4 * max(1.0, float(np.abs(b).max()))


def test_a_frame_is_the_model_run_on_its_window_with_f_minus_1_as_prev(cycles_sequence, temporal_models,
                                                                        temporal_name, tmp_path):
    f0, f1, f2 = (beauty(cycles_sequence, f) for f in (1002, 1003, 1004))
    result = denoise_file(f1, tmp_path / "c.exr", temporal=True, prev=f0, next=f2, models_dir=temporal_models)
    assert result.model == temporal_name and result.notes == []
    assert result.choice == f"denoise: {temporal_name} ({CHOICE})"
    expected = model_run(temporal_models, temporal_name, window_inputs(f0, f1, f2))
    written = read_exr(tmp_path / "c.exr")
    assert np.array_equal(written.get("Combined"), expected) and np.array_equal(result.image, expected)
    source = read_exr(f1)
    assert np.array_equal(written.get("Combined")[..., 3], source.get("Combined")[..., 3])  # alpha: frame f's
    assert all(np.array_equal(written.get(p), source.get(p)) for p in source.passes if p != "Combined")
    assert read_exr(tmp_path / "c.exr", "Characters").passes.keys() == read_exr(f1, "Characters").passes.keys()
    # the order matters: f + 1 given as the previous frame is another (wrong) result
    assert_differs(model_run(temporal_models, temporal_name, window_inputs(f2, f1, f0)), expected)

    # the same window as arrays: a neighbour as read_image's result or as a dict of its passes
    frames = [read_image(p) for p in (f0, f1, f2)]
    arrays = denoise(frames[1].get("Combined"), frames[1].get("Denoising Albedo"), frames[1].get("Denoising Normal"),
                     vector=frames[1].get("Vector"), prev=frames[0],
                     next={"color": frames[2].get("Combined"), "albedo": frames[2].get("Denoising Albedo"),
                           "normal": frames[2].get("Denoising Normal")}, models_dir=temporal_models)
    assert np.array_equal(arrays, expected)
    # one exposure per frame, from its own colour (the per-frame model computes the same)
    alone = run("denoise", {"color": frames[1].get("Combined")}, models_dir=temporal_models)
    assert result.scalars["exposure"] == alone.scalars["exposure"]


def test_a_neighbour_that_does_not_exist_is_absent_not_the_frame_repeated(cycles_sequence, temporal_models,
                                                                          temporal_name, tmp_path):
    first, second, third = (beauty(cycles_sequence, f) for f in FRAMES[:3])
    result = denoise_file(first, tmp_path / "first.exr", temporal=True, next=second, models_dir=temporal_models)
    absent = model_run(temporal_models, temporal_name, window_inputs(None, first, second))
    assert np.array_equal(result.image, absent)
    assert_differs(model_run(temporal_models, temporal_name, window_inputs(first, first, second)), absent)
    assert result.notes == ["no frame f-1 to read (an end of the sequence or a gap: made from frames f, f+1)"]
    assert result.choice == f"denoise: {temporal_name} ({CHOICE})"  # the same line as inside the sequence

    still = denoise_file(third, tmp_path / "still.exr", temporal=True, models_dir=temporal_models)
    alone = model_run(temporal_models, temporal_name, window_inputs(None, third, None))
    assert np.array_equal(still.image, alone) and np.array_equal(read_exr(tmp_path / "still.exr").get("Combined"),
                                                                  alone)
    assert still.notes == ["no frames f-1 and f+1 to read (a still, or a gap on each side: made from frame f alone)"]
    frame = read_image(third)
    arrays = denoise(frame.get("Combined"), frame.get("Denoising Albedo"), frame.get("Denoising Normal"),
                     vector=frame.get("Vector"), models_dir=temporal_models)
    assert np.array_equal(arrays, alone)


def test_a_per_frame_run_never_gets_the_temporal_model(cycles_sequence, temporal_models, temporal_name, tmp_path):
    path = beauty(cycles_sequence, 1003)
    assert "Vector" in read_image(path).passes  # the pass the temporal model reads is there
    result = denoise_file(path, tmp_path / "c.exr", models_dir=temporal_models)
    assert result.model == "denoise_kpn" and result.choice == "denoise: denoise_kpn (uses albedo/normal)"
    frame = read_image(path)
    direct = run("denoise", {"color": frame.get("Combined"), "albedo": frame.get("Denoising Albedo"),
                             "normal": frame.get("Denoising Normal")}, models_dir=temporal_models)
    assert direct.model == "denoise_kpn" and direct.choice == result.choice
    colour_only = run("denoise", {"color": frame.get("Combined")}, models_dir=temporal_models)
    assert colour_only.choice == ("denoise: denoise_kpn_color (no albedo/normal given; render with Denoising Data "
                                  "for better results)")  # no advice to render vectors for a per-frame model
    with pytest.raises(ModelError, match=f"model '{temporal_name}' reads frames f-1, f, f\\+1, not frame f alone"):
        denoise_file(path, tmp_path / "named.exr", model=temporal_name, models_dir=temporal_models)
    with pytest.raises(ModelError, match="model 'denoise_kpn' reads frame f alone, not frames f-2, f-1, f, f\\+1, f\\+2"):
        denoise_file(path, tmp_path / "named.exr", temporal=True, model="denoise_kpn", models_dir=temporal_models)
    with pytest.raises(ModelError, match="prev/next are the neighbour frames of a temporal run: add temporal=True"):
        denoise_file(path, tmp_path / "named.exr", prev=beauty(cycles_sequence, 1002), models_dir=temporal_models)
    assert not (tmp_path / "named.exr").exists()


def test_a_window_without_the_passes_is_refused_naming_the_file_before_it_runs(cycles_sequence, temporal_models,
                                                                               temporal_name, tmp_path):
    frames = {f: read_image(beauty(cycles_sequence, f)).passes for f in (1002, 1003, 1004)}
    no_vector, no_data = tmp_path / "no_vector.1003.exr", tmp_path / "no_data.1004.exr"
    write_exr(no_vector, {p: a for p, a in frames[1003].items() if p != "Vector"})
    write_exr(no_data, {p: a for p, a in frames[1004].items() if not p.startswith("Denoising")})
    prev = beauty(cycles_sequence, 1002)
    advice = (f"{temporal_name} reads frames f-1, f, f\\+1 and needs Combined, Denoising Albedo, Denoising Normal "
              "and Vector in every frame; render with Denoising Data and the Vector pass")
    with pytest.raises(ImageError, match=f"^{no_vector}: no Vector pass in view layer 'ViewLayer': {advice}$"):
        denoise_file(no_vector, tmp_path / "out.exr", temporal=True, prev=prev, models_dir=temporal_models)
    with pytest.raises(ImageError, match=f"^{no_data}: no Denoising Albedo and Denoising Normal passes in view layer "
                                         f"'ViewLayer': {temporal_name}"):  # a neighbour is checked as well
        denoise_file(beauty(cycles_sequence, 1003), tmp_path / "out.exr", temporal=True, prev=prev, next=no_data,
                     models_dir=temporal_models)
    assert not (tmp_path / "out.exr").exists()
    frame = read_image(beauty(cycles_sequence, 1003))
    with pytest.raises(ModelError, match="need this frame's Vector pass: give vector="):
        denoise(frame.get("Combined"), prev=frames[1002])
    with pytest.raises(ModelError, match="prev is a neighbour frame: a dict of color, albedo, normal, "
                                         "blender_denoised, vector arrays"):
        denoise(frame.get("Combined"), vector=frame.get("Vector"), prev=frame.get("Combined"))

    per_frame = copy_models(temporal_models, ["denoise_kpn", "denoise_kpn_color"], tmp_path / "models")
    with pytest.raises(ModelError, match=r"^no denoise model in .*registry.json reads frames f-2, f-1, f, f\+1, f\+2 \(its "
                                         r"denoise models: denoise_kpn \(frame f alone\), denoise_kpn_color"):
        denoise_file(beauty(cycles_sequence, 1003), tmp_path / "out.exr", temporal=True, models_dir=per_frame)


def test_a_sequence_decodes_each_file_once(cycles_sequence, temporal_models, tmp_path, monkeypatch):
    reads = []

    def counted(path, *args, **kwargs):
        reads.append(Path(path).name)
        return read_image(path, *args, **kwargs)

    monkeypatch.setattr(api, "read_image", counted)
    files = [beauty(cycles_sequence, f) for f in FRAMES]
    results = []
    for i, path in enumerate(files):
        results.append(denoise_file(path, tmp_path / f"c.{FRAMES[i]}.exr", temporal=True,
                                    prev=files[i - 1] if i else None, next=files[i + 1] if i + 1 < len(files) else None,
                                    models_dir=temporal_models))
    assert reads == [p.name for p in files]  # six files, six decodes (a window of three each time)
    api.forget_frames()
    monkeypatch.undo()
    for i in (0, 3, 5):  # the kept frames gave exactly what decoding them again gives
        window = (files[i - 1] if i else None, files[i], files[i + 1] if i + 1 < len(files) else None)
        again = denoise_file(files[i], tmp_path / "again.exr", temporal=True, prev=window[0], next=window[2],
                             models_dir=temporal_models)
        assert np.array_equal(again.image, results[i].image)
        api.forget_frames()


def test_the_batch_plans_windows_with_absent_ends_and_neighbours_outside_the_chunk(cycles_sequence, tmp_path):
    shot = Path(shutil.copytree(cycles_sequence, tmp_path / "shot"))
    pattern, out = str(shot / "beauty.####.exr"), str(tmp_path / "out" / "c.####.exr")

    def names(jobs) -> list[list[str | None]]:
        return [[Path(s).name if s else None for s in job.sources] for job in jobs]

    assert tasks.get("denoise").run_layout({"temporal": True}) == tasks.Layout("window", 2, "absent")
    assert tasks.get("denoise").run_layout({"temporal": None}) == tasks.Layout("frame")
    chunk = plan("denoise", [pattern], out, [1003, 1004], temporal=True)
    assert names(chunk) == [[f"beauty.{f}.exr" for f in range(1001, 1006)],
                            [f"beauty.{f}.exr" for f in range(1002, 1007)]]  # two frames beside the chunk
    assert {job.frame_source for job in chunk} == {2}
    ends = plan("denoise", [pattern], out, [1001, 1006], temporal=True)
    assert names(ends) == [[None, None, "beauty.1001.exr", "beauty.1002.exr", "beauty.1003.exr"],
                           ["beauty.1004.exr", "beauty.1005.exr", "beauty.1006.exr", None, None]]
    (shot / "beauty.1004.exr").unlink()  # a gap: its neighbours are absent there, not frame 1004's
    gap = plan("denoise", [pattern], out, temporal=True)
    assert [job.frame for job in gap] == [1001, 1002, 1003, 1005, 1006]
    assert names(gap)[2] == ["beauty.1001.exr", "beauty.1002.exr", "beauty.1003.exr", None, "beauty.1005.exr"]
    assert names(gap)[3] == ["beauty.1003.exr", None, "beauty.1005.exr", "beauty.1006.exr", None]
    listed = plan("denoise", [str(shot / "beauty.1002.exr"), str(shot / "beauty.1003.exr")], f"{tmp_path}/o/",
                  temporal=True)  # listed files: the neighbours are the listed frames beside each
    assert names(listed) == [[None, None, "beauty.1002.exr", "beauty.1003.exr", None],
                             [None, "beauty.1002.exr", "beauty.1003.exr", None, None]]
    per_frame = plan("denoise", [pattern], out, [1003])
    assert names(per_frame) == [["beauty.1003.exr"]] and per_frame[0].frame_source == 0


def test_nan_in_the_vector_pass_never_reaches_the_network_through_the_warped_neighbours(temporal_name):
    """The warped neighbours are only as finite as the Vector pass they move along: a NaN there is zeroed and
    counted like any other, and the neighbours it moved are searched too, so the output stays finite."""
    rng = np.random.default_rng(4)
    h, w = 40, 48
    frame = {"color": rng.random((h, w, 3), np.float32), "albedo": rng.random((h, w, 3), np.float32),
             "normal": np.tile(np.array([0.0, 0.0, 1.0], np.float32), (h, w, 1))}
    vector = np.zeros((h, w, 4), np.float32)
    vector[10:14, 20:24] = np.nan
    inputs = {**frame, "vector": vector, **{f"{n}_{k}": v for n in ("prev", "next") for k, v in frame.items()}}
    result = api.run("denoise", inputs, model=temporal_name, frame_source=1)
    assert result.nonfinite == {"vector": 64} and np.all(np.isfinite(result.image))


def _shifted(h: int, w: int, dx: float, towards: str) -> np.ndarray:
    """A Vector pass whose every pixel moves ``dx`` pixels right from this frame to the ``towards`` frame."""
    vector = np.zeros((h, w, 4), np.float32)
    if towards == "prev":
        vector[..., 0] = dx  # XY = pos(prev) - pos(cur)
    else:
        vector[..., 2] = -dx  # ZW = pos(cur) - pos(next)
    return vector


def test_a_frame_two_steps_away_follows_frame_f_s_vectors_then_those_of_the_frame_between():
    """The window's far neighbours (a contract's warp chain, ``motion.warp_inputs``): frame f - 2 reaches frame f
    along frame f's Vector pass and then frame f - 1's, where the point has got to, not frame f's twice; without
    frame f - 1 (absent: a gap) frame f - 2 cannot be reached and is absent too."""
    from addon.runtime.motion import warp_inputs
    from ml_core.models.denoise_temporal import window_contract

    h, w = 16, 40
    contract = window_contract(1, 0, radius=2)
    assert contract.input("prev2_color").warp == ("vector", "prev", "prev_vector")
    assert contract.input("next2_albedo").source == 4 and contract.input("next_vector").warp == ("vector", "next")
    ramp = np.tile(np.arange(w, dtype=np.float32)[None, :, None], (h, 1, 3))  # value = x
    frame = {"color": ramp, "albedo": ramp, "normal": ramp}
    images = {**frame, "vector": _shifted(h, w, 2.0, "prev") + _shifted(h, w, 1.0, "next"),
              "prev_vector": _shifted(h, w, 3.0, "prev"), "next_vector": _shifted(h, w, 4.0, "next"),
              **{f"{n}_{k}": v for n in ("prev", "next", "prev2", "next2") for k, v in frame.items()}}
    warp_inputs(contract, images, "test")
    middle = slice(12, 24)
    np.testing.assert_allclose(images["prev_color"][:, middle], ramp[:, middle] + 2, atol=1e-4)
    np.testing.assert_allclose(images["prev2_color"][:, middle], ramp[:, middle] + 2 + 3, atol=1e-4)
    np.testing.assert_allclose(images["next2_normal"][:, middle], ramp[:, middle] + 1 + 4, atol=1e-4)
    gap = {**frame, "vector": images["vector"], **{f"prev2_{k}": v for k, v in frame.items()}}
    warp_inputs(contract, gap, "test")
    assert not any(name.startswith("prev2_") for name in gap)


def test_a_chain_input_that_is_not_moved_onto_the_frame_is_refused():
    from dataclasses import replace

    from addon.runtime.contract import ModelContract
    from ml_core.models.denoise_temporal import window_contract

    contract = window_contract(1, 0, radius=2)
    inputs = tuple(replace(i, warp=()) if i.name == "prev_vector" else i for i in contract.inputs)
    with pytest.raises(ModelError, match="prev2_color: warp .* each chain input must itself be warped the same way"):
        ModelContract(contract.task, inputs, contract.outputs)
    inputs = tuple(replace(i, warp=("vector", "prev", "nothing")) if i.name == "prev2_color" else i
                   for i in contract.inputs)
    with pytest.raises(ModelError, match="prev2_color: warp .* needs a known vector input, 'prev' or 'next' and known "
                                         "chain inputs"):
        ModelContract(contract.task, inputs, contract.outputs)
