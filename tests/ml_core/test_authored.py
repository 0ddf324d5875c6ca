"""The authored evaluation set (ml_core.authored): every scene builds and renders, the build command writes every
file with every pass and resumes, and nothing of it can be read as a training dataset."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from addon.runtime.exr import read_exr
from ml_core import render, splits
from ml_core.authored import FAMILIES, SCENES
from ml_core.authored.build import Settings, estimate, products

#: two cheap scenes rendered end to end by the build command: a still and an animation
E2E = ("studio_product", "anim_turntable")
CHANNELS = {"Combined": 4, "Denoising Albedo": 3, "Denoising Normal": 3, "Denoising Depth": 1, "Depth": 1,
            "Vector": 4}


def _run(*args, check=True):
    """``python -m ml_core.authored ...`` in a child process (bpy never shares this process with OpenEXR)."""
    result = subprocess.run([sys.executable, "-m", "ml_core.authored", *args], capture_output=True, text=True,
                            timeout=600, cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stderr[-3000:]}")
    return result


# -- the registry -----------------------------------------------------------------------------------------------
def test_the_set_covers_every_family_with_enough_scenes_and_animations():
    entries = [SCENES.get(n) for n in SCENES]
    assert len(entries) >= 16
    covered = {f for e in entries for f in e.families}
    assert covered == set(FAMILIES), f"families without a scene: {set(FAMILIES) - covered}"
    assert sum(e.family == "mixed" for e in entries) >= 2
    animated = [e for e in entries if e.animated]
    assert len(animated) >= 4 and all(e.frames == 5 and 1 <= e.still_frame <= 5 for e in animated)
    for e in entries:
        assert e.description and "\n" not in e.description and len(e.description) < 140, e.name
        assert e.name not in splits.SPLITS  # a scene folder must never look like a split folder


def test_list_prints_every_scene_with_family_and_description():
    out = _run("list").stdout
    lines = out.splitlines()
    for name in SCENES:
        e = SCENES.get(name)
        line = next((l for l in lines if l.split()[0] == name), None)
        assert line is not None, name
        assert e.description in line and e.families[0] in line
        assert ("5 frames" in line) == e.animated
    assert f"{len(SCENES)} scenes" in lines[-1]


def test_estimate_splits_fixed_and_per_sample_cost_and_counts_every_frame():
    # 1 s of CPU for the 1-spp render (the fixed cost), 1 + 63 * 0.1 s for 64 spp at 128 px
    times = {name: {"build_seconds": 0.5, "one_cpu_seconds": 1.0, "cpu_seconds": 1.0 + 63 * 0.1}
             for name in ("studio_product", "anim_turntable")}
    est = estimate(times, 64, 128, Settings(size=256, reference_spp=1024), cores=2)
    per_sample_256 = 0.1 * 4  # CPU seconds per sample at 256 px
    # a still: 1 + 4 + 16 + 1024 samples at 256 px, 4 fixed costs, on 2 cores, plus building the scene once
    assert est["studio_product"] == pytest.approx((1045 * per_sample_256 + 4 * 1.0) / 2 + 0.5, abs=0.1)
    # an animation: also its 5 frames (4 + 16 + 1536 spp each), everything at 160 px, 19 renders
    anim = ((1045 + 5 * 1556) * 0.1 * (160 / 128) ** 2 + 19 * 1.0) / 2 + 0.5
    assert est["anim_turntable"] == pytest.approx(anim, abs=0.1)
    assert est["total"] == pytest.approx(est["studio_product"] + est["anim_turntable"], abs=0.2)
    cheaper = estimate(times, 64, 128, Settings(size=256, reference_spp=512), cores=2)
    assert cheaper["studio_product"] < 0.55 * est["studio_product"]


# -- every scene builds and renders ----------------------------------------------------------------------------
SMOKE_SCRIPT = """
import json, sys, traceback
from pathlib import Path
from ml_core import blender, render
from ml_core.authored import SCENES
from ml_core.authored.build import build_scene, setup, sampling_seed
bpy = blender.import_bpy()
out, report = Path(sys.argv[1]), {}
for name in SCENES:
    entry = SCENES.get(name)
    try:
        scene = build_scene(entry)
        config = setup(scene, entry, 16, threads=2)
        # what moves between the first and the last frame (the camera included)
        before = {o.name: [list(r) for r in o.matrix_world] for o in scene.objects}
        scene.frame_set(entry.frames)
        moving = sorted(o.name for o in scene.objects if [list(r) for r in o.matrix_world] != before[o.name])
        scene.frame_set(entry.still_frame)
        render.render_still(bpy, scene, out / f"{name}.exr", spp=1, seed=sampling_seed(name, "test"),
                            frame=entry.still_frame, config=config)
        report[name] = {"camera": scene.camera.name, "engine": scene.render.engine, "moving": moving,
                        "objects": len(scene.objects), "error": None}
    except Exception:
        report[name] = {"error": traceback.format_exc()}
(out / "report.json").write_text(json.dumps(report))
"""


@pytest.fixture(scope="module")
def smoke_renders(tmp_path_factory):
    """Every scene built from a factory reset and rendered by Cycles at 16 px, 1 spp (one child process)."""
    out = tmp_path_factory.mktemp("authored_smoke")
    subprocess.run([sys.executable, "-c", SMOKE_SCRIPT, str(out)], check=True, capture_output=True, timeout=600,
                   cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return out, json.loads((out / "report.json").read_text())


@pytest.mark.parametrize("name", list(SCENES))
def test_every_scene_builds_with_a_camera_and_renders_with_cycles(smoke_renders, name):
    out, report = smoke_renders
    entry, result = SCENES.get(name), report[name]
    assert result["error"] is None, result["error"]
    assert result["camera"] and result["engine"] == "CYCLES" and result["objects"] > 3
    # animations move (the camera or objects); stills hold still
    assert bool(result["moving"]) == entry.animated, result["moving"]
    exr = read_exr(out / f"{name}.exr")
    for pass_name, n in CHANNELS.items():
        arr = exr.get(pass_name, channels=n)
        assert arr.shape == (16, 16, n) and np.isfinite(arr).all(), pass_name
    rgb = exr.get("Combined")[..., :3]
    assert rgb.mean() > 1e-4 and rgb.std() > 1e-5, "black or flat render"
    surface = np.abs(exr.get("Denoising Normal")).sum(-1) > 0.5  # the world has no normal
    assert surface.mean() > 0.25, "the camera sees little of the scene"


# -- the build command, end to end ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("authored_build")
    result = _run("build", "--out", str(out), "--size", "32", "--reference-spp", "8", "--only", *E2E,
                  "--threads", "2", "--quiet")
    return out, json.loads(result.stdout.strip().splitlines()[-1])


def test_build_writes_every_file_with_every_pass(built):
    out, summary = built
    settings = Settings(size=32, reference_spp=8)
    assert summary["scenes"] == 2 and summary["skipped"] == 0
    assert summary["rendered_files"] == sum(len(products(SCENES.get(n), settings)) for n in E2E)
    assert json.loads((out / "authored.json").read_text())["settings"]["frame_reference_spp"] == 12  # 3/2 of 8
    for name in E2E:
        entry, folder = SCENES.get(name), out / name
        record = json.loads((folder / "scene.json").read_text())
        assert record["name"] == name and record["family"] == entry.family
        assert record["description"] == entry.description and record["frames"] == entry.frames
        size = 16 if entry.animated else 32  # animations at 5/8 of --size, a multiple of 8
        assert record["size"] == [size, size] and record["spp"]["reference"] == 8
        manifest = json.loads((folder / "manifest.json").read_text())
        expected = [f for f, _ in products(entry, settings)]
        assert sorted(manifest["files"]) == sorted(expected) == sorted(
            p.name for p in folder.glob("*.exr"))
        assert manifest["blender"].startswith("5.") and manifest["frames"] == entry.frames
        assert all(f["seconds"] > 0 for f in manifest["files"].values())
        for file, job in manifest["files"].items():
            exr = read_exr(folder / file)
            assert exr.header["cycles.ViewLayer.samples"] == str(job["spp"]), file
            for pass_name, n in CHANNELS.items():
                arr = exr.get(pass_name, channels=n)
                assert arr.shape == (size, size, n) and np.isfinite(arr).all(), (file, pass_name)
        assert {"noisy_spp0001.exr", "noisy_spp0004.exr", "noisy_spp0016.exr", "reference.exr"} <= set(expected)
        # each file its own sampling seed: two renders at one spp still differ
        seeds = [f["seed"] for f in manifest["files"].values()]
        assert len(set(seeds)) == len(seeds)
    anim = out / "anim_turntable"
    assert len(list(anim.glob("frame_*_reference.exr"))) == 5 and len(list(anim.glob("frame_*_spp*.exr"))) == 10
    a = read_exr(anim / "frame_0001_spp0004.exr").get("Combined")
    b = read_exr(anim / "frame_0002_spp0004.exr").get("Combined")
    assert not np.array_equal(a, b)
    # the turntable and the rolling ball move: the forward half of the Vector pass is nonzero on frame 1
    assert np.abs(read_exr(anim / "frame_0001_reference.exr").get("Vector")[..., 2:]).max() > 0.1


def test_a_rerun_renders_nothing_and_an_interrupted_scene_only_its_missing_files(built):
    out, _ = built
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = json.loads(_run("build", "--out", str(out), "--size", "32", "--reference-spp", "8", "--only", *E2E,
                            "--quiet").stdout.strip().splitlines()[-1])
    assert again["rendered_files"] == 0 and again["skipped"] == 2
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    # an interrupted scene: no manifest, one file missing -> only that file renders
    folder = out / "studio_product"
    (folder / "manifest.json").unlink()
    (folder / "noisy_spp0004.exr").unlink()
    resumed = json.loads(_run("build", "--out", str(out), "--size", "32", "--reference-spp", "8", "--only",
                              "studio_product", "--quiet").stdout.strip().splitlines()[-1])
    assert resumed["rendered_files"] == 1
    files = json.loads((folder / "manifest.json").read_text())["files"]
    assert files["noisy_spp0004.exr"]["seconds"] > 0 and files["reference.exr"].get("resumed") is True
    # a partial render made by other scene code does not resume: the scene renders afresh
    (folder / "manifest.json").unlink()
    record = json.loads((folder / "scene.json").read_text())
    (folder / "scene.json").write_text(json.dumps({**record, "source": "older code"}))
    fresh = json.loads(_run("build", "--out", str(out), "--size", "32", "--reference-spp", "8", "--only",
                            "studio_product", "--quiet").stdout.strip().splitlines()[-1])
    assert fresh["rendered_files"] == len(products(SCENES.get("studio_product"), Settings(size=32, reference_spp=8)))
    files = json.loads((folder / "manifest.json").read_text())["files"]
    assert not any(f.get("resumed") for f in files.values())
    assert json.loads((folder / "scene.json").read_text())["source"] == record["source"]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "no partial folder may remain"
    # other settings into the same folder are refused before anything renders
    refused = _run("build", "--out", str(out), "--size", "40", "--only", "studio_product", check=False)
    assert refused.returncode == 2 and "other settings" in refused.stderr
    unknown = _run("build", "--out", str(out), "--size", "32", "--only", "no_such_scene", check=False)
    assert unknown.returncode == 2 and "no_such_scene" in unknown.stderr


def test_the_authored_cache_cannot_be_loaded_as_a_training_dataset(built):
    from ml_core import data
    from ml_core.datasets import DATASETS, make_dataset

    out, _ = built
    for split in splits.SPLITS:
        assert data.complete_scenes(out, split) == []
        for task in DATASETS:
            with pytest.raises(ValueError, match="no complete scenes"):
                make_dataset(task, out, split)
    assert not list(out.rglob(render.MANIFEST))[0].parent.name.isdigit()
    assert not list(out.rglob("target.exr"))
