"""Issue 26, an animation rendered with Cycles' Denoise on (as Blender renders by default, with Denoising Data
and the Vector pass): ``postpass denoise --temporal`` averages Blender's own denoised frames along the Vector pass
(``denoise_oidn_temporal``, shipped), chunks give the frames of one run, the API gives the same frames from
arrays, and a render without Blender's result still gets the temporal denoiser of raw renders."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SEQUENCE_FRAMES

from addon.cli import main
from addon.runtime import ModelError, api, denoise, read_exr
from addon.runtime.color import exposure_scale
from addon.runtime.motion import flow_to, sample
from ml_core.models import build

MODEL = "denoise_oidn_temporal"
FRAMES = list(SEQUENCE_FRAMES)


def run(pattern: Path, out: Path, *extra: str) -> int:
    return main(["denoise", str(pattern), "-o", str(out), "--temporal", "--threads", "1", *extra])


def frame(folder: Path, f: int) -> dict:
    """A Blender-denoised frame's arrays: the raw render, Blender's result, guides and vectors."""
    exr = read_exr(folder / f"beauty.{f}.exr")
    return {"color": exr.get("Noisy Image")[..., :3], "blender_denoised": exr.get("Combined")[..., :3],
            "albedo": exr.get("Denoising Albedo"), "normal": exr.get("Denoising Normal"), "vector": exr.get("Vector")}


def torch_window(frames: dict[int, dict]) -> np.ndarray:
    """What the ml_core model (fixed gains, no weights; frames f-2 .. f+2, ``frames`` by offset from f) makes of
    the window: each neighbour moved along frame f's Vector pass and, two frames away, on along the frame
    between's, read where the point has got to (nothing there where the point left that frame)."""
    model = build("denoise_oidn_pool", radius=2).eval()
    x = frames[0]
    inputs = {k: x[k] for k in ("color", "albedo", "normal", "vector", "blender_denoised")}
    for name, offset in (("prev", -1), ("next", 1), ("prev2", -2), ("next2", 2)):
        side = "prev" if offset < 0 else "next"
        for part in ("color", "blender_denoised", "albedo", "normal") + (("vector",) if abs(offset) == 1 else ()):
            if offset not in frames:  # absent: zeros, as the runtime gives it
                inputs[f"{name}_{part}"] = np.zeros_like(x[part])
                continue
            flow = flow_to(x["vector"], side)
            if abs(offset) == 2:
                flow = flow + flow_to(sample(frames[offset // 2]["vector"], flow), side)
            inputs[f"{name}_{part}"] = sample(frames[offset][part], flow)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)))[None] for k, v in inputs.items()}
    tensors["exposure"] = torch.tensor([[exposure_scale(x["color"])]])
    with torch.no_grad():
        return model(*[tensors[n] for n in model.input_names])[0].numpy().transpose(1, 2, 0)


@pytest.fixture(scope="module")
def shipped():
    from addon.runtime.registry import Registry

    assert MODEL in Registry().entries, f"addon/models: no {MODEL} (python -m export ... see docs/benchmarks.md)"


def test_a_blender_denoised_animation_gets_its_frames_averaged_along_the_vectors(cycles_denoised_sequence,
                                                                                  shipped, tmp_path, capsys):
    folder = cycles_denoised_sequence
    assert "Noisy Image" in read_exr(folder / "beauty.1001.exr").passes  # Cycles kept the raw render
    assert run(folder / "beauty.####.exr", tmp_path / "one" / "c.####.exr", "--json", "-q") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["done"] == FRAMES and summary["models"] == [MODEL]
    assert MODEL in summary["choice"] and "blender_denoised" in summary["choice"]

    window = {f - 1003: frame(folder, f) for f in range(1001, 1006)}
    x, prev, next = window[0], window[-1], window[1]
    out = read_exr(tmp_path / "one" / "c.1003.exr").get("Combined")[..., :3]
    np.testing.assert_allclose(out, torch_window(window), rtol=1e-4, atol=1e-5)
    # the neighbours made a difference, and the result stays near Blender's own frame
    assert not np.allclose(out, x["blender_denoised"], atol=1e-4)
    scale = exposure_scale(x["blender_denoised"])
    assert np.abs(np.log1p(out * scale) - np.log1p(x["blender_denoised"] * scale)).mean() < 0.1

    # the API from arrays: the same frame
    parts = ("color", "albedo", "normal", "blender_denoised")
    array = denoise(x["color"], x["albedo"], x["normal"], blender_denoised=x["blender_denoised"], vector=x["vector"],
                    prev={k: prev[k] for k in (*parts, "vector")}, next={k: next[k] for k in (*parts, "vector")},
                    prev2={k: window[-2][k] for k in parts}, next2={k: window[2][k] for k in parts})
    np.testing.assert_allclose(array, out, rtol=1e-5, atol=1e-6)
    with pytest.raises(ModelError, match=r"prev2 \(frame f - 2\) is moved onto this frame through frame f - 1: give "
                                         r"prev's Vector pass"):
        denoise(x["color"], x["albedo"], x["normal"], blender_denoised=x["blender_denoised"], vector=x["vector"],
                prev={k: prev[k] for k in parts}, prev2={k: window[-2][k] for k in parts})

    # two chunks give the frames of one run exactly (a window, no recurrence)
    api.forget_frames()
    assert run(folder / "beauty.####.exr", tmp_path / "chunks" / "c.####.exr", "--frames", "1001-1003", "-q") == 0
    assert run(folder / "beauty.####.exr", tmp_path / "chunks" / "c.####.exr", "--frames", "1004-1006", "-q") == 0
    for f in FRAMES:
        assert np.array_equal(read_exr(tmp_path / "chunks" / f"c.{f}.exr").get("Combined"),
                              read_exr(tmp_path / "one" / f"c.{f}.exr").get("Combined")), f


def test_a_still_is_blenders_own_result(cycles_denoised_sequence, shipped, tmp_path):
    """No neighbour: nothing to average; the frame is Blender's denoised render as it was (alpha kept)."""
    source = read_exr(cycles_denoised_sequence / "beauty.1003.exr")
    assert run(cycles_denoised_sequence / "beauty.1003.exr", tmp_path / "still.exr", "-q") == 0
    result = read_exr(tmp_path / "still.exr").get("Combined")
    np.testing.assert_allclose(result[..., :3], source.get("Combined")[..., :3], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result[..., 3], source.get("Combined")[..., 3])


def test_raw_renders_keep_the_temporal_denoiser_of_raw_renders(cycles_sequence, temporal_name, shipped, tmp_path,
                                                               capsys):
    assert run(cycles_sequence / "beauty.####.exr", tmp_path / "c.####.exr", "--frames", "1002-1003", "--json",
               "-q") == 0
    assert json.loads(capsys.readouterr().out)["models"] == [temporal_name] != [MODEL]


def test_a_sequence_rendered_partly_without_blenders_denoise_is_refused_before_anything_runs(
        cycles_denoised_sequence, cycles_sequence, temporal_name, shipped, tmp_path, capsys):
    """Frames 1001-1003 rendered with Cycles' Denoise, 1004-1006 without (a partial re-render): the first frame
    would pick the model of Blender's frames for the run and every frame from 1003 on would fail after the work
    began (1003 for its neighbour). Refused at planning instead, naming the file, what it lacks, which file has
    it and a model every frame fits; that model named runs them all."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for f in FRAMES:
        source = cycles_denoised_sequence if f <= 1003 else cycles_sequence
        (mixed / f"beauty.{f}.exr").write_bytes((source / f"beauty.{f}.exr").read_bytes())
    assert run(mixed / "beauty.####.exr", tmp_path / "out" / "c.####.exr") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "beauty.1004.exr: no Denoised Image pass" in err[0]
    assert "which beauty.1001.exr has" in err[0] and f"--model {temporal_name}" in err[0], err[0]
    assert not (tmp_path / "out").exists()
    # a chunk whose windows stay in the denoised frames runs (frame 1001 reads 1001-1003)
    assert run(mixed / "beauty.####.exr", tmp_path / "chunk" / "c.####.exr", "--frames", "1001", "-q") == 0
    assert run(mixed / "beauty.####.exr", tmp_path / "all" / "c.####.exr", "--model", temporal_name, "--json",
               "-q") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["models"] == [temporal_name] and len(list((tmp_path / "all").iterdir())) == len(FRAMES)


def test_the_api_reads_neighbours_of_blender_denoised_renders_without_changing_them(cycles_denoised_sequence,
                                                                                   shipped):
    """``denoise(..., prev=read_image(...), next=read_image(...))`` on renders Cycles denoised: the neighbour
    images are read as a file is (the raw render as colour, Blender's result beside it) and left as the caller
    had them; a frame given as its Combined (Blender's result) without ``blender_denoised=`` is refused in one
    line that says what to give, not with every model's inputs listed."""
    from addon.runtime import read_image

    folder = cycles_denoised_sequence
    r, before, after = (read_image(folder / f"beauty.{f}.exr") for f in (1003, 1002, 1004))
    combined = before.get("Combined").copy()
    with pytest.raises(ModelError) as refused:
        denoise(r.get("Combined"), r.get("Denoising Albedo"), r.get("Denoising Normal"), vector=r.get("Vector"),
                prev=before, next=after)
    message = str(refused.value)
    assert "\n" not in message and "blender_denoised=" in message and "'Noisy Image'" in message, message
    out = denoise(r.get("Noisy Image")[..., :3], r.get("Denoising Albedo"), r.get("Denoising Normal"),
                  vector=r.get("Vector"), blender_denoised=r.get("Combined")[..., :3], prev=before, next=after)
    assert np.array_equal(before.get("Combined"), combined) and "Noisy Image" in before.passes  # untouched
    np.testing.assert_allclose(out, torch_window({k: frame(folder, 1003 + k) for k in (-1, 0, 1)}), rtol=1e-4,
                               atol=1e-5)  # frames f-2 and f+2 not given: absent
