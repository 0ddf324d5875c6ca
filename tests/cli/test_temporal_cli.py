"""Issue 26, ``postpass denoise --temporal`` on a real Cycles sequence with the real temporal model of the
default models folder (``$POSTPASS_MODELS``, else the shipped ``addon/models``): chunks give the frames of one
run, the ends have absent neighbours, each file is decoded once, a still works, and what cannot run (no Vector
pass, no Denoising Data, no temporal model) is refused in one line before anything is written (exit 2)."""
from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SEQUENCE_FRAMES, copy_models

from addon.cli import main
from addon.runtime import api, denoise_file, read_exr, read_image, write_exr
from addon.runtime.registry import models_dir

REPO = Path(__file__).resolve().parents[2]
FRAMES = list(SEQUENCE_FRAMES)
ENDS = [{"note": "no frame f-1 to read (an end of the sequence or a gap: made from frames f, f+1)",
         "frames": [FRAMES[0]]},
        {"note": "no frame f+1 to read (an end of the sequence or a gap: made from frames f-1, f)",
         "frames": [FRAMES[-1]]}]
#: the choice line of a raw render's sequence: the temporal denoiser of raw renders, and what would do better
CHOICE = ("reads frames f-1, f, f+1; uses albedo/normal/vector; the input has no blender_denoised pass; render with "
          "Cycles' Denoise (OpenImageDenoise, Accurate, High) for better results")


def postpass(*args) -> subprocess.CompletedProcess:
    """``python -m addon.cli ARGS`` in its own process, as a farm runs it (the default models folder)."""
    return subprocess.run([sys.executable, "-m", "addon.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def denoise(pattern: Path, out: Path, *extra: str) -> int:
    return main(["denoise", str(pattern), "-o", str(out), "--temporal", "--threads", "1", *extra])


def combined(folder: Path, frames=FRAMES, layer: str = "ViewLayer") -> list[np.ndarray]:
    return [read_exr(folder / f"c.{f}.exr", layer).get("Combined") for f in frames]


def test_two_chunks_give_the_frames_of_one_run_and_each_file_is_decoded_once(cycles_sequence, temporal_name,
                                                                              tmp_path, monkeypatch, capsys):
    reads = []

    def counted(path, *args, **kwargs):
        reads.append(Path(path).name)
        return read_image(path, *args, **kwargs)

    monkeypatch.setattr(api, "read_image", counted)
    pattern = cycles_sequence / "beauty.####.exr"
    assert denoise(pattern, tmp_path / "one" / "c.####.exr", "--json", "-q") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["done"] == FRAMES and summary["models"] == [temporal_name]
    assert summary["choice"] == f"denoise: {temporal_name} ({CHOICE})"
    assert summary["notes"] == ENDS  # the first and last frames have one neighbour, said in the log
    assert reads == [f"beauty.{f}.exr" for f in FRAMES]  # six frames, windows of three: six decodes

    reads.clear()
    assert denoise(pattern, tmp_path / "chunks" / "c.####.exr", "--frames", "1001-1003", "-q") == 0
    assert reads == [f"beauty.{f}.exr" for f in (1001, 1002, 1003, 1004, 1005)]  # two frames beside the chunk
    assert denoise(pattern, tmp_path / "chunks" / "c.####.exr", "--frames", "1004-1006", "--json", "-q") == 0
    assert json.loads(capsys.readouterr().out)["notes"] == ENDS[1:]  # 1004 had 1003: no note, no warm-up
    for one, chunked in zip(combined(tmp_path / "one"), combined(tmp_path / "chunks")):
        np.testing.assert_allclose(chunked, one, rtol=0, atol=1e-3)
        assert np.array_equal(chunked, one)  # a window, not a recurrence: exactly the same frames
    assert all(filecmp.cmp(tmp_path / "one" / f"c.{f}.exr", tmp_path / "chunks" / f"c.{f}.exr", shallow=False)
               for f in FRAMES)

    # a killed chunk resumes: only the missing frame is made, and it is the same frame again
    (tmp_path / "chunks" / "c.1005.exr").unlink()
    assert denoise(pattern, tmp_path / "chunks" / "c.####.exr", "--frames", "1004-1006", "--skip-existing",
                   "--json", "-q") == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["done"] == [1005] and resumed["skipped"] == [1004, 1006]
    assert filecmp.cmp(tmp_path / "one" / "c.1005.exr", tmp_path / "chunks" / "c.1005.exr", shallow=False)

    # each frame is the API's window for it: the neighbours of 1003 are 1002 and 1004; 1001 has no previous one
    monkeypatch.undo()
    api.forget_frames()
    for frame, prev, next in ((1003, 1002, 1004), (1001, None, 1002)):
        path = lambda f: cycles_sequence / f"beauty.{f}.exr" if f else None  # noqa: E731
        denoise_file(path(frame), tmp_path / "api.exr", temporal=True, prev=path(prev), next=path(next), threads=1)
        assert filecmp.cmp(tmp_path / "api.exr", tmp_path / "one" / f"c.{frame}.exr", shallow=False)


def test_another_view_layer_and_the_other_passes_are_kept(cycles_sequence, temporal_name, tmp_path, capsys):
    pattern = cycles_sequence / "beauty.####.exr"
    assert denoise(pattern, tmp_path / "c.####.exr", "--frames", "1002-1003", "--layer", "Characters", "-q") == 0
    for frame in (1002, 1003):
        source, result = read_exr(cycles_sequence / f"beauty.{frame}.exr"), read_exr(tmp_path / f"c.{frame}.exr")
        assert np.array_equal(result.get("Combined"), source.get("Combined"))  # ViewLayer untouched
        assert all(np.array_equal(result.get(p), source.get(p)) for p in source.passes)
        characters = read_exr(tmp_path / f"c.{frame}.exr", "Characters").get("Combined")
        assert not np.array_equal(characters, read_exr(cycles_sequence / f"beauty.{frame}.exr",
                                                       "Characters").get("Combined"))


def test_a_per_frame_run_never_picks_the_temporal_model(cycles_sequence, temporal_name, tmp_path, capsys):
    assert main(["denoise", str(cycles_sequence / "beauty.####.exr"), "-o", str(tmp_path / "c.####.exr"),
                 "--frames", "1002", "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["models"] == ["denoise_kpn"] and summary["choice"] == "denoise: denoise_kpn (uses albedo/normal)"
    assert summary["notes"] == []


def test_a_still_runs_alone_and_says_so(cycles_sequence, temporal_name, tmp_path):
    run = postpass("denoise", cycles_sequence / "beauty.1003.exr", "-o", tmp_path / "still.exr", "--temporal")
    assert run.returncode == 0, run.stderr
    assert f"denoise: {temporal_name} ({CHOICE})" in run.stderr
    assert ("  note (1 frame: 1003): no frames f-1 and f+1 to read (a still, or a gap on each side: made from frame "
            "f alone)") in run.stderr.splitlines()
    assert read_exr(tmp_path / "still.exr").get("Combined").shape == (32, 40, 4)
    # a still whose name holds no frame number: named by its file, and the same result
    shutil.copy(cycles_sequence / "beauty.1003.exr", tmp_path / "render.exr")
    run = postpass("denoise", tmp_path / "render.exr", "-o", tmp_path / "render_denoised.exr", "--temporal")
    assert run.returncode == 0, run.stderr
    assert "render.exr done in " in run.stderr and "  done: render.exr" in run.stderr.splitlines()
    assert filecmp.cmp(tmp_path / "render_denoised.exr", tmp_path / "still.exr", shallow=False)


@pytest.mark.parametrize("drop, missing", [
    (("Vector",), "no Vector pass"),
    (("Denoising Albedo", "Denoising Normal"), "no Denoising Albedo and Denoising Normal passes"),
])
def test_frames_without_the_passes_are_refused_before_anything_runs(cycles_sequence, temporal_name, tmp_path, drop,
                                                                   missing):
    shot = Path(shutil.copytree(cycles_sequence, tmp_path / "shot"))
    broken = shot / "beauty.1004.exr"
    passes = read_image(broken).passes
    write_exr(broken, {p: a for p, a in passes.items() if p not in drop})
    out = tmp_path / "out"
    for frames in ("1001-1006", "1001-1003"):  # 1004 is read beside the chunk 1001-1003 too
        run = postpass("denoise", shot / "beauty.####.exr", "-o", out / "c.####.exr", "--temporal", "--frames", frames)
        assert run.returncode == 2 and run.stdout == ""
        assert run.stderr.splitlines() == [
            f"postpass denoise: error: {broken}: {missing} in view layer 'ViewLayer': {temporal_name} reads frames "
            "f-1, f, f+1 and needs Combined, Denoising Albedo, Denoising Normal and Vector in every frame; render with "
            "Denoising Data and the Vector pass"]
        assert not out.exists()  # nothing ran, nothing was written
    # without --temporal that frame denoises alone (by the per-frame model for the passes it has)
    assert postpass("denoise", shot / "beauty.####.exr", "-o", out / "c.####.exr", "--frames", "1004",
                    "-q").returncode == 0


def test_no_temporal_model_is_refused_in_one_line(cycles_sequence, temporal_name, tmp_path):
    per_frame = copy_models(models_dir(), ["denoise_kpn", "denoise_kpn_color", "denoise_kpn_albedo"],
                            tmp_path / "models")
    out = tmp_path / "out"
    run = postpass("denoise", cycles_sequence / "beauty.####.exr", "-o", out / "c.####.exr", "--temporal",
                   "--models-dir", per_frame, "--json")
    assert run.returncode == 2
    line = (f"no denoise model in {per_frame / 'registry.json'} reads frames f-2, f-1, f, f+1, f+2 (its denoise models: "
            "denoise_kpn (frame f alone), denoise_kpn_color (frame f alone), denoise_kpn_albedo (frame f alone))")
    assert run.stderr.splitlines() == [f"postpass denoise: error: {line}"]
    assert json.loads(run.stdout) == {"error": line, "exit_code": 2}
    named = postpass("denoise", cycles_sequence / "beauty.####.exr", "-o", out / "c.####.exr", "--temporal",
                     "--model", "denoise_kpn")
    assert named.returncode == 2
    assert named.stderr.splitlines() == ["postpass denoise: error: model 'denoise_kpn' reads frame f alone, not "
                                         "frames f-2, f-1, f, f+1, f+2"]
    assert not out.exists()


def test_help_lists_the_temporal_option(capsys):
    assert main(["denoise", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--temporal" in text and "frames f-2 .. f+2 along their Vector passes" in text.replace("\n", " ").replace(
        "  ", " ").replace("  ", " ")


def test_dask_workers_give_the_same_frames(cycles_sequence, temporal_name, tmp_path, capsys):
    dask_distributed = pytest.importorskip("dask.distributed")
    pattern = cycles_sequence / "beauty.####.exr"
    assert denoise(pattern, tmp_path / "local" / "c.####.exr", "-q") == 0
    with dask_distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None) as cluster:
        assert denoise(pattern, tmp_path / "dask" / "c.####.exr", "--scheduler", cluster.scheduler_address,
                       "--json") == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["done"] == FRAMES
    assert all(os.getpid() != int(line.split(" on ")[1].split(" ")[0].split(":")[1])
               for line in err.splitlines() if " done in " in line)  # the frames ran on the workers
    assert all(filecmp.cmp(tmp_path / "local" / f"c.{f}.exr", tmp_path / "dask" / f"c.{f}.exr", shallow=False)
               for f in FRAMES)
