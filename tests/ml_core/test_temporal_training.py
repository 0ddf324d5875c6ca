"""The temporal denoiser's ml_core side (issue 26): sequence renders, their dataset, the model grown from the
per-frame one, the temporal loss, training on pairs of frames and the export."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from addon.runtime.motion import warp_neighbour
from ml_core import data, render
from ml_core.datasets import make_dataset
from ml_core.losses import temporal_change
from ml_core.models import build
from ml_core.models.blocks import warp
from ml_core.models.denoise_temporal import neighbour_flows

PARAMS = {"aux": ["albedo", "normal"], "widths": [8, 12, 16], "kernel": 5, "demodulate": True, "finest_kernel": 3,
          "outlier_limit": 50.0}


def _inputs(rng, n=2, h=32, w=32):
    normal = torch.nn.functional.normalize(torch.randn(n, 3, h, w, generator=rng), dim=1)
    return {"color": torch.rand(n, 3, h, w, generator=rng) * 2, "albedo": torch.rand(n, 3, h, w, generator=rng),
            "normal": normal, "vector": torch.randn(n, 4, h, w, generator=rng) * 2,
            "exposure": torch.ones(n, 1)}


def _run(model, x):
    with torch.no_grad():
        return model(*[x[name] for name in model.input_names])


def test_sequence_folders_hold_every_frame_at_every_level_with_vectors(temporal_sequences):
    scene = data.complete_scenes(temporal_sequences, "train")[0]
    names = sorted(p.name for p in scene.glob("seq_*.exr"))
    assert names == [render.sequence_name(f, spp) for f in (1, 2, 3) for spp in (4, None)]
    manifest = json.loads((scene / render.MANIFEST).read_text())
    assert manifest["family"] and set(manifest["files"]) == set(names)
    from addon.runtime.exr import read_exr
    first, last = (read_exr(scene / render.sequence_name(f, 4)) for f in (1, 3))
    assert first.get("Vector").shape[-1] == 4
    # each frame has its own sampling seed and its own content: never the same pixels twice
    assert not np.array_equal(first.get("Combined"), last.get("Combined"))
    assert (temporal_sequences / "contact_sheet_val.png").is_file()


def test_dataset_items_hold_the_window_and_the_frame_before(temporal_sequences):
    ds = make_dataset("denoise_temporal", temporal_sequences, "train", crop=32, crops_per_scene=2, absent=0.0)
    item = ds[1]
    for prefix in ("", "earlier/"):
        for key, channels in (("color", 3), ("albedo", 3), ("normal", 3), ("vector", 4), ("target", 3),
                              ("prev_color", 3), ("next_normal", 3)):
            assert item[prefix + key].shape == (channels, 32, 32), prefix + key
    # 3 frames: t = 2, so the frame before is frame 1, whose own previous frame does not exist (zeros); the
    # neighbours come moved onto the frame's pixels by the runtime's warp
    assert not item["earlier/prev_color"].any() and item["prev_color"].any()
    plain = make_dataset("denoise_temporal", temporal_sequences, "train", crop=32, crops_per_scene=2, absent=0.0,
                         augment=False)[1]
    hwc = {k: v.permute(1, 2, 0).numpy() for k, v in plain.items() if v.ndim == 3}
    np.testing.assert_allclose(hwc["prev_color"], warp_neighbour(hwc["earlier/color"], hwc["vector"], "prev"),
                               rtol=1e-6)
    np.testing.assert_allclose(hwc["earlier/next_albedo"],
                               warp_neighbour(hwc["albedo"], hwc["earlier/vector"], "next"), rtol=1e-6)
    dropped = make_dataset("denoise_temporal", temporal_sequences, "train", crop=32, crops_per_scene=8, absent=1.0)[3]
    assert not dropped["prev_color"].any() and not dropped["next_normal"].any()


def test_grown_from_the_per_frame_model_it_starts_as_that_model_without_neighbours():
    base = build("denoise_kpn", seed=3, **PARAMS)
    temporal = build("denoise_kpn_temporal", seed=4, **PARAMS)
    temporal.init_from(base)
    x = _inputs(torch.Generator().manual_seed(0))
    alone = _run(temporal, {**x, **{f"{n}_{p}": torch.zeros_like(x["color"]) for n in ("prev", "next")
                                    for p in ("color", "albedo", "normal")}})
    expected = _run(base, x)
    assert torch.allclose(alone, expected, rtol=1e-5, atol=1e-6)
    # the same samples again change nothing; other samples of the same surfaces count (a small start weight,
    # which training moves)
    same = _run(temporal, {**x, **{f"{n}_{p}": x[p] for n in ("prev", "next") for p in ("color", "albedo", "normal")}})
    assert torch.allclose(same, expected, rtol=1e-5, atol=1e-6)
    other = {**x, **{f"{n}_{p}": x[p] for n in ("prev", "next") for p in ("albedo", "normal")}}
    other.update(prev_color=x["color"] * 0.5, next_color=x["color"] * 0.5)
    assert not torch.allclose(_run(temporal, other), expected, atol=1e-4)
    with pytest.raises(ValueError, match="it is denoise_kpn"):
        build("denoise_kpn_temporal", **{**PARAMS, "kernel": 3}).init_from(base)


def test_a_neighbour_is_warped_along_the_vector_pass():
    """The previous frame is the current one moved 3 px right: with the Vector pass saying so, it lines up."""
    rng = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 16, 20, generator=rng)
    moved = torch.roll(image, 3, dims=3)  # frame f-1 held each pixel 3 px further right
    vector = torch.zeros(1, 4, 16, 20)
    vector[:, 0] = 3.0  # XY: position in the previous frame minus the current one, pixels, y up
    aligned = warp(moved, neighbour_flows(vector)["prev"])
    assert torch.allclose(aligned[..., :16], image[..., :16], atol=1e-6)
    vector[:, 1] = 2.0  # 2 px up in Blender's y is 2 rows up in ours
    assert torch.allclose(neighbour_flows(vector)["prev"][:, 1], torch.full((1, 16, 20), -2.0))


def test_the_runtime_moves_a_neighbour_onto_the_frame_along_the_vector_pass():
    rng = np.random.default_rng(3)
    image = rng.random((16, 20, 3), dtype=np.float32)
    before = np.roll(image, 3, axis=1)  # frame f-1 held each pixel 3 px further right
    vector = np.zeros((16, 20, 4), np.float32)
    vector[..., 0] = 3.0
    moved = warp_neighbour(before, vector, "prev")
    np.testing.assert_allclose(moved[:, :17], image[:, :17], atol=1e-6)
    assert not moved[:, 17:].any()  # where the point was outside the previous frame: nothing (zeros)
    after = np.roll(image, -2, axis=0)  # frame f+1 holds each pixel 2 rows higher: 2 px up in Blender's y
    vector[...] = 0.0
    vector[..., 3] = -2.0  # ZW = pos(f) - pos(f+1), y up
    np.testing.assert_allclose(warp_neighbour(after, vector, "next")[2:], image[2:], atol=1e-6)


def test_temporal_loss_sees_flicker_not_motion():
    rng = torch.Generator().manual_seed(2)
    target = torch.rand(2, 3, 24, 24, generator=rng) * 0.3
    earlier_target = torch.roll(target, 2, dims=3)
    vector = torch.zeros(2, 4, 24, 24)
    vector[:, 0] = 2.0
    exposure = torch.ones(2, 1)
    exact = temporal_change(target, earlier_target, target, earlier_target, vector, exposure)
    assert float(exact) == 0.0
    # the same error in both frames (it moves with the image) is no flicker; a changing one is
    error = torch.rand(2, 3, 24, 24, generator=rng) * 0.05
    steady = temporal_change(target + error, earlier_target + torch.roll(error, 2, dims=3), target, earlier_target,
                             vector, exposure)
    flicker = temporal_change(target + error, earlier_target - torch.roll(error, 2, dims=3), target,
                              earlier_target, vector, exposure)
    assert float(flicker) > 10 * float(steady)


def test_training_on_frame_pairs_and_export(temporal_sequences, tmp_path):
    from export import export_checkpoint
    from ml_core.train import load_config, train

    config = load_config("ml_core/configs/denoise/denoise_kpn_temporal_tiny.json", **{"data.root": str(temporal_sequences)})
    config["model"]["params"] = PARAMS
    config["train"].pop("init")
    history = train(config, run_dir=tmp_path / "run", progress=False, log=lambda *_: None)
    record = history["epochs"][-1]
    assert np.isfinite(record["train_loss"]) and np.isfinite(record["val_psnr"])
    models = tmp_path / "models"
    (report,) = export_checkpoint(tmp_path / "run" / "best.pt", models)
    assert report.parity_error <= report.tolerance
    from addon.runtime.registry import Registry
    contract = Registry(models).get("denoise_kpn_temporal_tiny").contract
    sources = {spec.name: spec.source for spec in contract.image_inputs}
    # frames f - 1 .. f + 1, read as the middle of a temporal run's window of f - 2 .. f + 2 (sources 0 .. 4)
    assert sources["prev_color"] == 1 and sources["color"] == sources["vector"] == 2 and sources["next_albedo"] == 3
    assert contract.input("next_normal").warp == ("vector", "next")


def test_temporal_loss_needs_the_frame_before(tiny_dataset, tmp_path):
    from ml_core.train import load_config, train

    config = load_config("ml_core/configs/denoise/denoise_kpn_tiny.json", **{"data.root": str(tiny_dataset)})
    config["train"]["temporal_loss"] = 1.0
    with pytest.raises(ValueError, match="temporal_loss needs a dataset"):
        train(config, run_dir=tmp_path / "run", progress=False, log=lambda *_: None)


def test_variance_clipping_pulls_what_the_vectors_do_not_carry_to_the_frame_and_keeps_the_weights():
    base = build("denoise_kpn_temporal", seed=5, **PARAMS)
    clipped = build("denoise_kpn_temporal", **PARAMS, clip_sigmas=3.0)
    clipped.init_from(base)  # the same weights: clipping is no weight
    assert all(torch.equal(a, b) for a, b in zip(base.state_dict().values(), clipped.state_dict().values()))
    rng = torch.Generator().manual_seed(6)
    current = 0.5 + 0.1 * torch.rand(1, 3, 16, 16, generator=rng)
    # the frame itself passes: no one of 9 values lies more than sqrt(8) standard deviations from their mean
    assert torch.allclose(clipped.clip(current, clipped.clip_bounds(current)), current, atol=1e-5)
    highlight = current.clone()
    highlight[..., 8, 8] = 20.0  # a reflection the vectors did not carry
    out = clipped.clip(highlight, clipped.clip_bounds(current))
    assert float(out[..., 8, 8].max()) < 1.0 and torch.allclose(out[..., :4, :4], current[..., :4, :4], atol=1e-6)


def _absent(x):
    return {**x, **{f"{n}_{p}": torch.zeros_like(x["color"]) for n in ("prev", "next")
                    for p in ("color", "albedo", "normal")}}


def test_accumulating_model_is_the_per_frame_model_on_the_pooled_samples():
    """Grown from the per-frame model it keeps every weight: with no neighbour (absent, or off its frame) it is
    that model exactly; neighbours that agree are averaged in before it runs; a neighbour whose shading the
    vectors did not carry (three times brighter) or whose surface differs (another albedo) counts for nothing."""
    base = build("denoise_kpn", seed=3, **PARAMS)
    pooled = build("denoise_kpn_accumulate", seed=4, **PARAMS)
    pooled.init_from(base)
    pooled.requires_grad_(False)
    x = _inputs(torch.Generator().manual_seed(0))
    expected = _run(base, x)
    assert torch.allclose(_run(pooled, _absent(x)), expected, rtol=1e-5, atol=1e-6)
    same = _run(pooled, {**x, **{f"{n}_{p}": x[p] for n in ("prev", "next") for p in ("color", "albedo", "normal")}})
    assert torch.allclose(same, expected, rtol=1e-5, atol=1e-6)  # the same samples again: the same average
    # other samples of the same surfaces: the average of the three frames is what the per-frame model filters
    rng = torch.Generator().manual_seed(1)
    guides = {f"{n}_{p}": x[p] for n in ("prev", "next") for p in ("albedo", "normal")}
    others = {"prev_color": x["color"] * (1 + 0.02 * torch.randn(x["color"].shape, generator=rng)),
              "next_color": x["color"] * (1 + 0.02 * torch.randn(x["color"].shape, generator=rng))}
    pool = pooled.accumulate({**x, **guides, **others})
    mean = (x["color"] + others["prev_color"] + others["next_color"]) / 3
    assert float((pool["color"] - x["color"]).abs().mean()) > 0.5 * float((mean - x["color"]).abs().mean())
    brighter = {**x, **guides, "prev_color": x["color"] * 3, "next_color": x["color"] * 3}
    assert torch.allclose(pooled.accumulate(brighter)["color"], x["color"], rtol=0.02, atol=1e-3)
    other_surface = {**x, **{f"{n}_normal": x["normal"] for n in ("prev", "next")},
                     **{f"{n}_albedo": 1 - x["albedo"] for n in ("prev", "next")},
                     "prev_color": x["color"] * 0.9, "next_color": x["color"] * 0.9}
    moved = (pooled.accumulate(other_surface)["color"] - x["color"]).abs().mean()
    assert float(moved) < 0.3 * float((x["color"] * 0.1).abs().mean())
    with pytest.raises(ValueError, match="it is denoise_kpn"):
        build("denoise_kpn_accumulate", **{**PARAMS, "kernel": 3}).init_from(base)


def test_accumulating_model_exports_with_the_window_contract(tmp_path):
    from export import export_checkpoint
    from ml_core.checkpoint import save_checkpoint

    model = build("denoise_kpn_accumulate", seed=2, **PARAMS)
    model.init_from(build("denoise_kpn", seed=1, **PARAMS))
    learned = build("denoise_kpn_temporal", **PARAMS).contract()
    assert [i.name for i in model.contract().inputs] == [i.name for i in learned.inputs]  # either one runs a window
    checkpoint = tmp_path / "best.pt"
    save_checkpoint(checkpoint, model, name="denoise_kpn_accumulate_tiny", version="0.0.1",
                    training={"command": "test", "seed": 2, "dataset_fingerprint": "none", "metrics": {}})
    (report,) = export_checkpoint(checkpoint, tmp_path / "models")
    assert report.parity_error <= report.tolerance
    from addon.runtime.registry import Registry
    contract = Registry(tmp_path / "models").get("denoise_kpn_accumulate_tiny").contract
    assert contract.input("prev_color").warp == ("vector", "prev") and contract.input("next_albedo").source == 3


def test_inbetween_items_from_sequences_take_two_references_as_keys_and_one_between(temporal_sequences):
    """Issue 28's retrain on larger motion reads the temporal / guided presets' sequences: keys two frames
    apart (the only spacing 3 frames allow), their Vector passes as they are (two steps: the models' own
    convention), the reference between them the target, and the runtime's flow between the keys."""
    from addon.runtime.estimate import optical_flow
    from addon.runtime.exr import read_exr

    ds = make_dataset("inbetween", temporal_sequences, "train", crop=32, crops_per_scene=2, augment=False, flow=True)
    assert ds.spacings == (2,)
    scene = ds.scenes[0]
    frames = [read_exr(scene / render.sequence_name(f)) for f in (1, 2, 3)]
    item = ds[0]
    assert float(item["t"]) == 0.5 and float(item["steps"]) == 2.0
    as_item = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))  # noqa: E731
    for key, exr, name in (("frame0", frames[0], "Combined"), ("target", frames[1], "Combined"),
                           ("frame1", frames[2], "Combined"), ("vectors0", frames[0], "Vector"),
                           ("vectors1", frames[2], "Vector")):
        assert torch.equal(item[key], as_item(exr.get(name)[..., :item[key].shape[0]])), key
    flow = optical_flow(frames[0].get("Combined")[..., :3], frames[2].get("Combined")[..., :3])
    assert torch.allclose(item["flow0"], as_item(flow))
    with pytest.raises(ValueError, match="holds 3 sequence frames; key spacings \\[4\\] need more"):
        make_dataset("inbetween", temporal_sequences, "train", spacings=[4])


def test_blender_oidn_copies_feed_models_of_blenders_frames(temporal_sequences, tmp_path):
    """``python -m ml_core.data blender-oidn`` writes Blender's denoised copy of each noisy sequence frame
    beside it (resumable); the temporal dataset then gives Blender's result of the frame and of its warped
    neighbours, and per frame alone (``per_frame``) only the frame's own; without the copies it refuses, naming
    the command."""
    import shutil

    from addon.runtime.exr import read_exr
    from ml_core.blender import BlenderOIDN

    root = tmp_path / "data"
    shutil.copytree(temporal_sequences, root)
    with pytest.raises(ValueError, match="ml_core.data blender-oidn"):
        make_dataset("denoise_temporal", root, "train", crop=32, crops_per_scene=1, blender_denoised=True)
    assert data.main(["blender-oidn", str(root), "--split", "train", "--quiet"]) == 0
    scene = data.complete_scenes(root, "train")[0]
    copy = scene / data.BLENDER_OIDN_DIR / render.sequence_name(2, 4)
    noisy = read_exr(scene / render.sequence_name(2, 4))
    expected = BlenderOIDN()(noisy.get("Combined")[..., :3], noisy.get("Denoising Albedo"),
                             noisy.get("Denoising Normal"))
    np.testing.assert_allclose(read_exr(copy).get("Combined")[..., :3], expected, rtol=0, atol=1e-6)
    before = copy.stat().st_mtime_ns
    assert data.blender_oidn(root, "train")["made"] == 0 and copy.stat().st_mtime_ns == before  # resumed

    window = make_dataset("denoise_temporal", root, "train", crop=32, crops_per_scene=1, absent=0.0,
                          augment=False, blender_denoised=True)[0]
    assert window["blender_denoised"].shape == (3, 32, 32) and window["prev_blender_denoised"].any()
    alone = make_dataset("denoise_temporal", root, "train", crop=32, crops_per_scene=1, augment=False,
                         blender_denoised=True, per_frame=True)[0]
    assert set(alone) == {"color", "albedo", "normal", "target", "blender_denoised", "spp"}


def test_per_frame_items_can_take_another_noisy_level_as_their_target(temporal_sequences, tmp_path):
    """``target_spp`` (Noise2Noise pairs, issue 30): a per-frame item's target is the same frame rendered noisy at
    that level, not its reference; the level must be on disk and not an input, and windows refuse it."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(temporal_sequences, root)
    for scene in data.complete_scenes(root, "train"):  # a second level: the 4-spp frames stand in for 1 spp
        for frame in (1, 2, 3):
            shutil.copy(scene / render.sequence_name(frame, 4), scene / render.sequence_name(frame, 1))
    def item(**target):
        return make_dataset("denoise_temporal", root, "train", crop=32, crops_per_scene=1, augment=False, spp=[1],
                            per_frame=True, **target)[0]

    # the input (the "1-spp" copy) and the target (the 4-spp render) are then the same frame's same pixels
    noisy_target, reference_target = item(target_spp=4), item()
    torch.testing.assert_close(noisy_target["target"], noisy_target["color"], rtol=0, atol=0)
    torch.testing.assert_close(noisy_target["color"], reference_target["color"], rtol=0, atol=0)
    assert (reference_target["target"] - reference_target["color"]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="target_spp 4 must be a level on disk .* not an input level"):
        make_dataset("denoise_temporal", root, "train", crop=32, crops_per_scene=1, spp=[1, 4], per_frame=True,
                     target_spp=4)
    with pytest.raises(ValueError, match="target_spp 16 must be a level on disk"):
        make_dataset("denoise_temporal", root, "train", crop=32, crops_per_scene=1, spp=[1], per_frame=True,
                     target_spp=16)
    with pytest.raises(ValueError, match="target_spp needs per_frame"):
        make_dataset("denoise_temporal", root, "train", crop=32, crops_per_scene=1, spp=[1], target_spp=4)


def test_longer_references_of_a_split_are_what_bench_temporal_scores_against(temporal_sequences, mesh_dir, tmp_path,
                                                                            capsys, monkeypatch):
    """``python -m ml_core.data references`` renders every sequence frame of a split again at more samples (the
    same scene and frame: its albedo and motion are the target's), beside the scene under ``references/``,
    resumable, a rerun at other samples refused; ``bench temporal`` then reads them in place of the targets."""
    import shutil

    from addon.runtime.exr import read_exr
    from bench import temporal

    root = tmp_path / "data"
    shutil.copytree(temporal_sequences, root)
    other = tmp_path / "other_meshes"
    other.mkdir()
    (other / "ball.obj").write_bytes((mesh_dir / "ball.obj").read_bytes())
    monkeypatch.setenv("POSTPASS_MESH_DIR", str(other))  # the default library is not the one it was built with
    assert data.main(["references", str(root), "--split", "val", "--spp", "24", "--quiet"]) == 2
    assert "--meshes DIR" in capsys.readouterr().err
    assert data.main(["references", str(root), "--split", "val", "--spp", "24", "--threads", "2", "--meshes",
                      str(mesh_dir), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["made"] == 3
    scene = data.complete_scenes(root, "val")[0]
    assert temporal.longer_references(scene) == 24
    assert temporal.longer_references(data.complete_scenes(root, "train")[0]) is None
    for f in (1, 2, 3):
        longer, target = (read_exr(folder / render.sequence_name(f)) for folder in (scene / data.REFERENCES_DIR, scene))
        assert set(longer.passes) == set(target.passes)
        assert np.median(np.abs(longer.get("Denoising Albedo") - target.get("Denoising Albedo"))) < 0.02
        assert not np.array_equal(longer.get("Combined"), target.get("Combined"))  # other samples, another seed
    refs, _, _ = temporal.read_references(scene, temporal.SPLIT_LAYOUT, 3)
    np.testing.assert_array_equal(refs[1], read_exr(scene / data.REFERENCES_DIR / render.sequence_name(2))
                                  .get("Combined")[..., :3])
    before = (scene / data.REFERENCES_DIR / render.sequence_name(1)).stat().st_mtime_ns
    assert data.references(root, "val", 24, mesh_dir=mesh_dir)["made"] == 0  # resumed: nothing rendered again
    assert (scene / data.REFERENCES_DIR / render.sequence_name(1)).stat().st_mtime_ns == before
    assert data.main(["references", str(root), "--split", "val", "--spp", "32", "--meshes", str(mesh_dir),
                      "--quiet"]) == 2
    assert "references at 24 spp are there" in capsys.readouterr().err
