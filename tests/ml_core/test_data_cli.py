"""The dataset command: resumable builds, stats, contact sheet, and one-line errors for bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml_core import data

REPO = Path(__file__).resolve().parents[2]


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "ml_core.data", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600, **kwargs)


def _files(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_killed_build_resumes_without_rerendering(tmp_path):
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "ml_core.data", "build", "--split", "val", "--count", "4", "--out", str(out),
           "--preset", "tiny", "--meshes", "none", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(data.complete_scenes(out, "val")) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # let it get into the middle of the next scene
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = data.complete_scenes(out, "val")
    assert 1 <= len(done_before) < 4, "the build must be killed part-way"
    visible = [p for p in (out / "val").iterdir() if not p.name.startswith(".")]
    assert visible == [p for p in visible if (p / "manifest.json").is_file()], "a scene appears whole or not at all"
    before = _files(out)

    result = _cli("build", "--split", "val", "--count", "4", "--out", str(out), "--preset", "tiny",
                  "--meshes", "none", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["skipped"] == len(done_before) and summary["rendered"] == 4 - len(done_before)
    after = _files(out)
    for folder in done_before:  # complete scenes untouched
        for name, mtime in before.items():
            if name.startswith(str(folder.relative_to(out))):
                assert after[name] == mtime, name
    for name, mtime in before.items():  # the interrupted scene's finished files are kept: its folder is taken over
        folder, _, file = name.rpartition("/")  # val/.1000002.partial-HOST-PID, noisy_spp0001.exr
        # (not a render's hidden temporary file, which the kill may have caught mid-write: the resume removes it)
        if ".partial-" in folder and file.endswith(".exr") and not file.startswith("."):
            seed = folder.split("/")[-1][1:].partition(".partial-")[0]
            assert after[f"val/{seed}/{file}"] == mtime, name
    assert len(data.complete_scenes(out, "val")) == 4
    assert not [n for n in after if ".tmp" in n or ".partial-" in n], "no temporary file or partial folder may remain"

    again = _cli("build", "--split", "val", "--count", "4", "--out", str(out), "--preset", "tiny",
                 "--meshes", "none", "--quiet")
    assert json.loads(again.stdout.strip().splitlines()[-1])["rendered"] == 0


def test_stats_and_contact_sheet(tiny_dataset):
    result = data.stats(tiny_dataset)
    assert result["splits"]["train"]["scenes"] == 2 and result["splits"]["test"]["scenes"] == 1
    assert result["splits"]["val"]["scenes"] == 1
    assert result["splits"]["train"]["mb_per_scene"] > 0 and result["splits"]["train"]["scenes_per_hour"] > 0
    assert (tiny_dataset / "stats.json").is_file()
    sheet = data.contact_sheet(tiny_dataset, "train", cell=48)
    image = cv2.imread(str(sheet))
    assert image.shape == (22 + 2 * 48, 6 * 48, 3)
    assert image[22:].std() > 5  # real pictures, not a blank canvas


def test_a_dataset_folder_refuses_another_render_config(tiny_dataset):
    from ml_core import render

    with pytest.raises(data.DataError, match="another config"):
        data.build(tiny_dataset, "train", 1, config=render.preset("tiny", target_spp=64), progress=False)


@pytest.mark.parametrize("case", ["unknown split", "negative count", "unwritable", "bad mesh"])
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, case):
    args = ["build", "--split", "train", "--count", "1", "--out", str(tmp_path / "out"), "--preset", "tiny"]
    expect = {"unknown split": "unknown split 'training'", "negative count": "count must be >= 0",
              "unwritable": "not writable", "bad mesh": "broken.obj"}[case]
    if case == "unknown split":
        args[2] = "training"
    elif case == "negative count":
        args[4] = "-3"
    elif case == "unwritable":
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        args[6] = str(blocker / "out")
    else:
        meshes = tmp_path / "meshes"
        meshes.mkdir()
        (meshes / "broken.obj").write_bytes(b"\x00\x01garbage\nf 1 2 3\n")
        args += ["--meshes", str(meshes)]
    result = _cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], result.stderr
    assert not (tmp_path / "out" / "train").exists()


def test_palette_preset_renders_natural_stills_with_the_target_only(tmp_path):
    """The colorize data: natural-palette scenes of the palette splits, one OIDN-denoised target each."""
    from addon.runtime.exr import read_exr
    from ml_core import render
    from ml_core.datasets.colorize import ColorizeDataset

    config = render.preset("palette", width=32, height=32, target_spp=4, max_bounces=2, diffuse_bounces=1,
                           glossy_bounces=1, transmission_bounces=2)
    assert render.products(config) == ["target.exr"]
    out = tmp_path / "palette"
    summary = data.build(out, "palette_train", 1, config=config, progress=False)
    assert summary["rendered"] == 1
    (folder,) = data.complete_scenes(out, "palette_train")
    assert int(folder.name) == 4_000_000
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "scene.json", "target.exr"]
    spec = json.loads((folder / "scene.json").read_text())
    assert spec["palette"] == "natural" and spec["frames"] == 1
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"]["target.exr"]["oidn"] and manifest["files"]["target.exr"]["spp"] == 4
    combined = read_exr(folder / "target.exr").get("Combined")
    assert combined.shape[:2] == (32, 32) and np.isfinite(combined).all() and combined.std() > 0
    assert Path(summary["contact_sheet"]).is_file()
    sheet = cv2.imread(str(data.contact_sheet(out, "palette_train", cell=32)))
    assert sheet.shape == (22 + 32, 3 * 32, 3)  # target, albedo, normal
    item = ColorizeDataset(out, "palette_train", crop=16, crops_per_scene=1)[0]
    assert item["target"].shape == (3, 16, 16) and item["gray"].shape == (1, 16, 16)
