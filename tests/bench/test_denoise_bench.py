"""The denoise benchmark (``python -m bench denoise``) end to end on a real tiny Cycles render: the
shipped denoiser beside the noisy input and Blender's own OIDN (through its compositor), on the test split and
on an authored set side by side, one report; and the structured-artefact check (periodicity) on synthetic
residuals."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np

from bench import core
from bench import main as bench_main
from bench import metrics as bench_metrics
from bench.denoise import KEYS

PEER = "blender-oidn (accurate, high)"


def fake_authored(tiny_dataset, root):
    """An authored set made of the tiny test render: two complete scenes of two families (noisy files, the
    target as reference.exr, scene.json, manifest last), one unfinished (no manifest) and one animated
    scene without still files (skipped)."""
    from ml_core import data

    source = data.complete_scenes(tiny_dataset, "test")[0]
    for name, family in (("dim_wall", "interior"), ("sunlit_ball", "exterior"), ("unfinished", "interior"),
                         ("turntable", "exterior")):
        folder = root / name
        folder.mkdir(parents=True)
        if name != "turntable":
            for noisy in source.glob("noisy_spp*.exr"):
                shutil.copy(noisy, folder / noisy.name)
            shutil.copy(source / "target.exr", folder / "reference.exr")
        (folder / "scene.json").write_text(json.dumps({"name": name, "family": family, "description": "test",
                                                       "frames": 1}))
        if name != "unfinished":
            (folder / "manifest.json").write_text("{}")
    return root


def test_denoise_benchmark_scores_the_split_and_the_authored_set_side_by_side(tiny_dataset, tmp_path, capsys):
    authored = fake_authored(tiny_dataset, tmp_path / "authored")
    methods = ["noisy", PEER, "postpass denoise_kpn"]
    out = tmp_path / "out"
    code = bench_main(["denoise", "--data", str(tiny_dataset), "--split", "test", "--spp", "1", "4", "--no-hd",
                       "--methods", *methods, "--authored", str(authored), "--regions", "1", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "denoise.json").read_text())
    assert set(result["metrics"]) == set(methods) and result["scenes"] == 1
    for name in methods:
        for spp in ("1", "4"):
            m = result["metrics"][name][spp]
            assert np.isfinite([m["psnr"], m["ssim"], m["relmse"], m["flip"]]).all() and 0 <= m["flip"] <= 1
            # per scene, in scene order: the mean of one scene is that scene
            assert result["per_scene_psnr"][name][spp] == [m["psnr"]]
            assert result["per_scene_relmse"][name][spp] == [m["relmse"]]
    for denoiser in (PEER, "postpass denoise_kpn"):
        assert result["metrics"][denoiser]["4"]["psnr"] > result["metrics"]["noisy"]["4"]["psnr"] + 3
        assert result["metrics"][denoiser]["4"]["flip"] < result["metrics"]["noisy"]["4"]["flip"]

    # the authored set: the two complete scenes with stills, in folder order; the animated one skipped
    sets = result["sets"]
    assert list(sets) == ["test", "authored"]
    a = sets["authored"]
    assert a["scene_names"] == ["dim_wall", "sunlit_ball"] and a["families"] == ["interior", "exterior"]
    assert a["family_counts"] == {"interior": 1, "exterior": 1} and len(a["skipped"]) == 1
    assert "turntable" in a["skipped"][0]
    for name in methods:
        # the same render on both sets: the same scores (the denoisers are deterministic on one input)
        assert math.isclose(a["metrics"][name]["4"]["psnr"], result["metrics"][name]["4"]["psnr"], abs_tol=1e-3)
        assert math.isclose(a["by_family"]["psnr"][name]["interior"], a["per_scene"]["psnr"][name]["4"][0])
    # ours - the peer on each set, and the gap between them
    row = result["versus"]["psnr"]["postpass denoise_kpn"]["4"]
    assert set(row) == {"test", "authored", "gap"}
    assert math.isclose(row["gap"], row["authored"] - row["test"]) and abs(row["gap"]) < 1e-3

    report = (out / "denoise.md").read_text()
    assert "| postpass denoise_kpn |" in report and "authored FLIP" in report and "test periodicity" in report
    assert "### Ours - blender-oidn (accurate, high)" in report
    assert "### Per family, authored, 4 spp" in report and "| interior | 1 |" in report
    assert "Per family, test" not in report  # the split's scenes name no family yet
    assert "| noisy |" in capsys.readouterr().out
    for grid in ("denoise_crops.png", "denoise_crops_authored.png", "denoise_flat_crops.png",
                 "denoise_flat_crops_authored.png"):
        assert (out / grid).stat().st_size > 1000


def test_without_the_split_the_authored_set_is_scored_alone_and_a_correction_gets_blenders_result(
        tiny_dataset, tmp_path, capsys):
    """A machine with the authored set alone scores it and says the split is left out; a correction of
    Blender's denoised render (a shot's, here a small exported one) gets Blender's result of the same inputs, so
    its row is Blender's result changed by its correction, not a failure."""
    from conftest import export_residual_model

    from addon.runtime.registry import models_dir

    authored = fake_authored(tiny_dataset, tmp_path / "authored")
    models = tmp_path / "models"
    shutil.copytree(models_dir(), models)
    export_residual_model(models, tmp_path / "work")
    out = tmp_path / "out"
    methods = ["noisy", PEER, "postpass denoise_oidn_residual_shot"]
    code = bench_main(["denoise", "--data", str(tmp_path / "no_data"), "--spp", "4", "--no-hd", "--models",
                       str(models), "--methods", *methods, "--authored", str(authored), "--regions", "1",
                       "--out", str(out)])
    assert code == 0
    assert "no complete scenes in split 'test': the split is left out" in capsys.readouterr().out
    result = json.loads((out / "denoise.json").read_text())
    assert list(result["sets"]) == ["authored"] and result["scenes"] == 2
    peer, corrected = (result["metrics"][m]["4"]["psnr"] for m in (PEER, "postpass denoise_oidn_residual_shot"))
    assert corrected != peer  # Blender's result, changed by the correction's perturbed head
    # what the runtime makes of the first scene given Blender's result on its inputs: the bench's figure
    from addon.runtime import api, read_exr
    from bench.peers import BlenderOIDN
    from ml_core.metrics import render_metrics

    noisy = read_exr(authored / "dim_wall" / "noisy_spp0004.exr")
    c, a, n = noisy.get("Combined")[..., :3], noisy.get("Denoising Albedo"), noisy.get("Denoising Normal")
    direct = api.denoise(c, albedo=a, normal=n, blender_denoised=BlenderOIDN()(c, a, n),
                         model="denoise_oidn_residual_shot", models_dir=models)
    reference = read_exr(authored / "dim_wall" / "reference.exr").get("Combined")[..., :3]
    first = result["sets"]["authored"]["per_scene"]["psnr"]["postpass denoise_oidn_residual_shot"]["4"][0]
    assert math.isclose(render_metrics(direct, reference)["psnr"], first, abs_tol=1e-3)
    assert "Denoise on the authored set (2 scenes)" in (out / "denoise.md").read_text()


def test_the_authored_set_is_left_out_with_a_note_when_there_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTPASS_CACHE", str(tmp_path))
    found, note = core.authored_from(None, ["noisy_spp0004.exr"])
    assert found is None and "none at" in note and str(tmp_path / "authored") in note
    assert core.authored_from(False)[0] is None
    (tmp_path / "authored" / "a").mkdir(parents=True)
    (tmp_path / "authored" / "a" / "manifest.json").write_text("{}")  # complete, but no stills: skipped
    found, note = core.authored_from(None, ["noisy_spp0004.exr"], log=lambda line: None)
    assert found is None and "no complete scene" in note


def test_periodicity_finds_an_8_px_grid_that_white_noise_of_the_same_power_does_not_have():
    rng = np.random.default_rng(0)
    size = 128
    reference = np.full((size, size, 3), 0.2, np.float32)  # a plain dim wall: every window flat
    corners = bench_metrics.flat_windows(reference)
    assert len(corners) == 49
    yy, xx = np.mgrid[:size, :size]
    grid = ((yy % 8 == 0) | (xx % 8 == 0)).astype(np.float64)
    grid = (grid - grid.mean()) / grid.std()
    noise = rng.normal(size=(size, size))
    # the same power: a quarter of it in the grid, the rest noise, against noise alone
    patterned = bench_metrics.periodicity(0.5 * grid + math.sqrt(0.75) * noise, corners)
    white = bench_metrics.periodicity(rng.normal(size=(size, size, 3)), corners)
    assert patterned["periodicity"] > white["periodicity"] + 6 and white["periodicity"] < 4
    assert patterned["period"] == 8.0 and patterned["windows"] == 49
    # smooth blotches (a low-frequency residual) are no periodic pattern
    import cv2

    blotches = cv2.GaussianBlur(rng.normal(size=(size, size)), (0, 0), 6) + 0.02 * noise
    assert bench_metrics.periodicity(blotches, corners)["periodicity"] < patterned["periodicity"] - 4
    # a textured reference has no flat window: no score
    textured = rng.random((size, size, 3)).astype(np.float32)
    assert len(bench_metrics.flat_windows(textured)) == 0
    assert math.isnan(bench_metrics.periodicity(noise, bench_metrics.flat_windows(textured))["periodicity"])
    # the 1:1 crops: the flattest and the dimmest regions, inside the image
    half = np.concatenate([textured[:, :64], reference[:, 64:]], 1)
    regions = bench_metrics.flat_regions(half, 64, 2)
    assert all(x >= 64 for _, x in regions["flat"]) and len(regions["dim"]) == 2


def test_hdr_flip_is_zero_on_identical_images_and_grows_with_the_error():
    rng = np.random.default_rng(1)
    reference = (rng.random((40, 40, 3)) * 4).astype(np.float32)
    assert bench_metrics.hdr_flip(reference, reference) == 0.0
    slight = bench_metrics.hdr_flip(reference * 1.05, reference)
    assert 0 < slight < bench_metrics.hdr_flip(reference + rng.normal(0, 1, reference.shape), reference) <= 1


def test_denoise_benchmark_gives_every_method_the_same_inputs(tiny_dataset, denoise_models, tmp_path, capsys):
    """Issue 25: ``--inputs``: per input set every method gets only those passes (ours: the model that takes
    exactly them), ldr scored in display space; one table each, with ours - pyoidn (high); full unchanged."""
    from bench import peers

    ours = {"full": "postpass denoise_kpn", "color": "postpass denoise_kpn_color",
            "color+albedo": "postpass denoise_kpn_albedo", "ldr": "postpass denoise_kpn_ldr"}
    oidn = ["pyoidn (high)"] if peers.pyoidn_available() else []
    methods = ["noisy", "blender-oidn (fast, fast)", *oidn, *sorted(set(ours.values()))]
    out = tmp_path / "out"
    code = bench_main(["denoise", "--data", str(tiny_dataset), "--count", "1", "--spp", "4", "--no-hd",
                       "--no-authored", "--models", str(denoise_models), "--methods", *methods, "--regions", "1",
                       "--inputs", "ldr", "color", "full", "color+albedo", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "denoise.json").read_text())
    assert result["inputs"] == ["full", "color", "color+albedo", "ldr"]  # report order, full first
    by = result["by_inputs"]
    assert by["full"]["sets"]["test"]["metrics"] == result["metrics"]  # the full set is the report as before
    for name, mine in ours.items():
        metrics = by[name]["sets"]["test"]["metrics"]
        # 8-bit images: the sRGB model, and the colour-only HDR one on the decoded values beside it; renders:
        # never the sRGB model
        baseline = {"postpass denoise_kpn_color"} if name == "ldr" else set()
        assert set(metrics) == {"noisy", "blender-oidn (fast, fast)", *oidn, mine, *baseline}, name
        assert set(metrics[mine]["4"]) == ({"psnr", "ssim"} if name == "ldr" else set(KEYS)), name
        assert metrics[mine]["4"]["psnr"] > metrics["noisy"]["4"]["psnr"] + 3, name
        if oidn:
            versus = by[name]["versus"]["psnr"][mine]["4"]["test"]
            assert math.isclose(versus, metrics[mine]["4"]["psnr"] - metrics["pyoidn (high)"]["4"]["psnr"])
    hdr_noisy = by["full"]["sets"]["test"]["metrics"]["noisy"]["4"]["psnr"]
    assert by["color"]["sets"]["test"]["metrics"]["noisy"]["4"]["psnr"] == hdr_noisy  # the same noisy render
    # Blender's node given fewer sockets gives another result
    oidn_psnr = {n: by[n]["sets"]["test"]["metrics"]["blender-oidn (fast, fast)"]["4"]["psnr"] for n in ours}
    assert len({round(v, 6) for v in oidn_psnr.values()}) == 4

    report = (out / "denoise.md").read_text()
    for name in ("color", "color+albedo", "ldr"):
        assert f"## Inputs: {name}," in report and f"### {name}, 4 spp" in report
    assert "| postpass denoise_kpn_color |" in report and "test PSNR / SSIM (8-bit sRGB)" in report
    if oidn:
        assert "### Ours - pyoidn (high), ldr inputs: PSNR" in report
        assert "### Ours - pyoidn (high), full inputs: PSNR" in report
    for grid in ("denoise_crops.png", "denoise_crops_color.png", "denoise_crops_color_albedo.png",
                 "denoise_crops_ldr.png", "denoise_flat_crops.png"):
        assert (out / grid).stat().st_size > 1000
    assert "## Inputs: ldr" in capsys.readouterr().out


def test_display_8bit_is_the_protocol_tone_map_on_the_8bit_grid():
    from addon.runtime.color import display_8bit, srgb_decode, tonemap

    rng = np.random.default_rng(3)
    hdr = np.exp(rng.uniform(-4, 3, (16, 16, 3))).astype(np.float32)
    shown = display_8bit(hdr, 0.5)
    assert shown.dtype == np.float32 and 0 <= shown.min() and shown.max() <= 1
    assert np.array_equal(shown * 255, np.round(shown * 255))  # on the 8-bit grid
    assert np.abs(shown - tonemap(hdr, 0.5)).max() <= 0.5 / 255 + 1e-7
    assert np.allclose(display_8bit(srgb_decode(shown), 1.0), shown)  # saving it again changes nothing
