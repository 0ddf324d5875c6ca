"""Authored scenes saved as shots (``python -m ml_core.authored shots``, ``ml_core.authored.shots``): the .blend
reopens in a fresh Blender process as the set renders the scene (engine, camera, samples, size, frame range,
integrator, no denoising), and renders the same pixels (up to float rounding) as the set's own render path
at the same seed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml_core.authored import SCENES
from ml_core.authored.build import INTEGRATOR_KEYS, sampling_seed
from ml_core.authored.shots import SEED_KEY, shot_size

REPO = Path(__file__).resolve().parents[2]
STILL, ANIM = "studio_product", "anim_turntable"
SIZE, SPP = 24, 3

#: a fresh process: open each shot, report what it holds, render it as saved (its seed set to the one given)
OPEN_SCRIPT = """
import json, sys
from pathlib import Path
from ml_core import blender
from ml_core.authored.build import INTEGRATOR_KEYS
bpy = blender.import_bpy()
folder, seed, report = Path(sys.argv[1]), int(sys.argv[2]), {}
for path in sorted(folder.glob("*.blend")):
    bpy.ops.wm.open_mainfile(filepath=str(path))
    s = bpy.context.scene
    cy, vl = s.cycles, s.view_layers[0]
    report[path.stem] = {
        "engine": s.render.engine, "camera": s.camera.name if s.camera else None, "device": cy.device,
        "samples": cy.samples, "seed": cy.seed, "denoising": cy.use_denoising,
        "adaptive": cy.use_adaptive_sampling, "size": [s.render.resolution_x, s.render.resolution_y,
                                                       s.render.resolution_percentage],
        "frames": [s.frame_start, s.frame_end, s.frame_current], "objects": len(s.objects),
        "animated": sorted(o.name for o in s.objects if o.animation_data and o.animation_data.action),
        "denoising_data": vl.cycles.denoising_store_passes, "filepath": s.render.filepath,
        "output": s.render.image_settings.media_type,
        "integrator": {k: getattr(cy, k) for k in INTEGRATOR_KEYS}}
    if path.stem == sys.argv[3]:  # render it as saved, at the set's seed of its 4-spp file
        cy.seed = seed
        s.render.filepath = str(folder / "shot_render.exr")
        bpy.ops.render.render(write_still=True)
print(json.dumps(report))
"""

#: the set's own render path (build_scene, setup, render_still) at the same seed, samples and size
SET_SCRIPT = """
import sys
from pathlib import Path
from ml_core import blender, render
from ml_core.authored import SCENES
from ml_core.authored.build import build_scene, setup
bpy = blender.import_bpy()
entry = SCENES.get(sys.argv[2])
scene = build_scene(entry)
config = setup(scene, entry, int(sys.argv[3]))
render.render_still(bpy, scene, Path(sys.argv[1]), spp=int(sys.argv[4]), seed=int(sys.argv[5]),
                    frame=entry.still_frame, config=config)
"""


def _python(*args, timeout=300):
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    if result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    out = tmp_path_factory.mktemp("shots")
    saved = json.loads(_python("-m", "ml_core.authored", "shots", "--out", str(out), "--only", STILL, ANIM,
                               "--size", str(SIZE), "--spp", str(SPP), "--quiet").stdout.strip().splitlines()[-1])
    seed = sampling_seed(STILL, "noisy_spp0004.exr")
    report = json.loads(_python("-c", OPEN_SCRIPT, str(out), str(seed), STILL).stdout.strip().splitlines()[-1])
    return out, saved, report, seed


def test_a_shot_reopens_in_a_fresh_process_as_the_set_renders_the_scene(shots):
    out, saved, report, _ = shots
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".blend") == [f"{ANIM}.blend", f"{STILL}.blend"]
    assert not [p.name for p in out.iterdir() if ".tmp." in p.name], "no temporary file may remain"
    assert [s["name"] for s in saved["saved"]] == [STILL, ANIM] and saved["kept"] == []
    for name in (STILL, ANIM):
        entry, shot = SCENES.get(name), report[name]
        size = shot_size(entry, SIZE)
        assert size == (16 if entry.animated else SIZE)  # an animation at 5/8 of the stills' size, as the set
        assert shot["engine"] == "CYCLES" and shot["device"] == "CPU" and shot["camera"] == "camera"
        assert shot["samples"] == SPP and not shot["denoising"] and not shot["adaptive"]
        assert shot["size"] == [size, size, 100]
        assert shot["frames"] == [1, entry.frames, entry.still_frame]
        assert shot["denoising_data"] and shot["output"] == "MULTI_LAYER_IMAGE"
        assert shot["filepath"] == f"//render/{name}.####.exr"
        assert shot["objects"] > 3
        # its own seed: none of the set's files' seeds, so rendering the shot never repeats their noise
        assert shot["seed"] == sampling_seed(name, SEED_KEY)
        assert shot["seed"] not in {sampling_seed(name, f"noisy_spp{s:04d}.exr") for s in (1, 4, 16)}
    assert report[STILL]["animated"] == [] and report[ANIM]["animated"]  # the animation's keyframes were saved
    assert report[STILL]["integrator"]["max_bounces"] == 8 and report[STILL]["integrator"]["sample_clamp_direct"] == 0
    assert set(report[STILL]["integrator"]) == set(INTEGRATOR_KEYS)


def test_the_shot_renders_the_same_pixels_as_the_set_at_the_same_seed(shots, tmp_path):
    from addon.runtime.exr import read_exr

    out, _, _, seed = shots
    reference = tmp_path / "set_render.exr"
    _python("-c", SET_SCRIPT, str(reference), STILL, str(SIZE), str(SPP), str(seed))
    shot, made = read_exr(out / "shot_render.exr"), read_exr(reference)
    for pass_name in ("Combined", "Denoising Albedo", "Denoising Normal"):
        a, b = shot.get(pass_name), made.get(pass_name)
        assert a.shape[:2] == (SIZE, SIZE) and np.isfinite(a).all()
        # the same samples: equal up to float rounding (the saved transforms, the threads' summing order)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=pass_name)
    assert shot.header["cycles.ViewLayer.samples"] == str(SPP)


def test_an_existing_shot_is_kept_and_bad_input_exits_2(shots):
    out, _, _, _ = shots
    before = (out / f"{STILL}.blend").stat().st_mtime_ns
    again = json.loads(_python("-m", "ml_core.authored", "shots", "--out", str(out), "--only", STILL,
                               "--size", str(SIZE), "--quiet").stdout.strip().splitlines()[-1])
    assert again["saved"] == [] and again["kept"] == [STILL]
    assert (out / f"{STILL}.blend").stat().st_mtime_ns == before
    for bad in (["--only", "no_such_scene"], ["--spp", "0"]):
        result = subprocess.run([sys.executable, "-m", "ml_core.authored", "shots", "--out", str(out), *bad],
                                capture_output=True, text=True, timeout=120, cwd=REPO)
        assert result.returncode == 2 and "error" in result.stderr, bad
