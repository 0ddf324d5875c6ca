"""Inbetween: forward splatting along Blender's vectors, the splatting model's starting point, the benchmark."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench import main as evaluate_main
from ml_core.flow import vector_blend
from ml_core.models import build
from ml_core.models.blocks import splat


def test_splat_moves_pixels_and_conserves_their_weight():
    values = torch.zeros(1, 1, 8, 8)
    values[0, 0, 2, 3] = 1.0
    flow = torch.zeros(1, 2, 8, 8)
    flow[0, 0], flow[0, 1] = 2.0, 1.0  # 2 right, 1 down
    moved = splat(values, flow)
    assert moved[0, 0, 3, 5] == 1.0 and moved.sum() == 1.0
    flow[0, 0] = 2.5  # half way between two pixels: split evenly
    moved = splat(values, flow)
    assert torch.allclose(moved[0, 0, 3, 5:7], torch.tensor([0.5, 0.5])) and torch.isclose(moved.sum(), torch.tensor(1.0))
    flow[0, 0] = 100.0  # off the image: dropped
    assert splat(values, flow).sum() == 0.0


def _moving_square(step: int, size: int = 64):
    """Frames 0, 1, 2 of a bright square moving ``step`` px right per frame over a textured still background,
    with Blender-convention Vector passes (pixels, y up: XY = pos(prev) - pos(cur), ZW = pos(cur) - pos(next))
    and depth (square nearer)."""
    yy, xx = np.mgrid[0:size, 0:size]
    background = (0.2 + 0.15 * np.sin(xx / 3.0)[..., None] * np.cos(yy / 5.0)[..., None]) * np.array([1.0, 0.8, 0.6])
    frames, vectors, depths = [], [], []
    for k in range(3):
        x0 = 10 + step * k
        inside = (yy >= 24) & (yy < 40) & (xx >= x0) & (xx < x0 + 16)
        frame = np.where(inside[..., None], np.array([2.0, 1.5, 0.5]), background).astype(np.float32)
        vector = np.zeros((size, size, 4), np.float32)
        vector[inside, 0] = -step if k > 0 else 0.0  # to the previous frame: x decreases
        vector[inside, 2] = -step if k < 2 else 0.0  # pos(cur) - pos(next)
        depth = np.where(inside, 2.0, 10.0).astype(np.float32)[..., None]
        frames.append(frame), vectors.append(vector), depths.append(depth)
    return frames, vectors, depths


def test_splatting_model_starts_far_better_than_the_backward_vector_warp():
    # Large motion (12 px per frame, 24 between the key frames) tears the backward warp apart; splatting puts
    # the square where it is at t. The untrained model (head near zero) is the hand-made splat blend.
    frames, vectors, depths = _moving_square(step=12)
    model = build("inbetween_splat", seed=0, widths=[8, 12, 16]).eval()
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]  # noqa: E731
    with torch.no_grad():
        ours = model(t(frames[0]), t(frames[2]), t(vectors[0]), t(vectors[2]), t(depths[0]), t(depths[2]),
                     torch.full((1, 1), 0.5), torch.ones(1, 1))[0].numpy().transpose(1, 2, 0)
    backward = vector_blend(frames[0], vectors[0], frames[2], vectors[2], 0.5, steps=2)
    ours_error = np.abs(ours - frames[1]).mean()
    assert ours_error < 0.25 * np.abs(backward - frames[1]).mean()
    assert ours_error < 0.02


def test_inbetween_benchmark_writes_a_table_with_every_model(tiny_dataset, models_dir, tmp_path, capsys):
    code = evaluate_main(["inbetween", "--data", str(tiny_dataset), "--split", "test", "--models", str(models_dir),
                          "--no-hd", "--out", str(tmp_path)])
    assert code == 0
    result = json.loads((tmp_path / "inbetween.json").read_text())
    assert set(result["metrics"]) >= {"frame blend", "DIS optical flow", "vector-pass warp",
                                      "postpass inbetween", "postpass inbetween_vectors"}
    assert all(np.isfinite(m["psnr"]) for m in result["metrics"].values())
    assert "| vector-pass warp |" in capsys.readouterr().out and (tmp_path / "inbetween_crops.png").is_file()


def test_search_slices_are_the_bilinear_half_pixel_warp():
    import torch.nn.functional as F

    from ml_core.models.blocks import warp
    from ml_core.models.inbetween_net import _half_steps, _shifted

    x = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    pad = 4
    halves = _half_steps(F.pad(x, (pad,) * 4, mode="replicate"))
    for dx, dy in [(0, 0), (1, 0), (-3, 2), (5, -5), (-1, -1), (6, 3)]:
        reference = warp(x, torch.tensor([dx / 2, dy / 2]).view(1, 2, 1, 1).expand(2, 2, 20, 24))
        assert torch.allclose(_shifted(halves, dx, dy, pad, 20, 24), reference, atol=1e-5), (dx, dy)


def test_image_only_search_finds_the_motion_the_frame_blend_misses():
    # 4 px per frame, 8 between the key frames: within the search (+-6 coarse pixels of 2). The untrained model
    # is the midpoint warp along the searched motion, so the square is where it is at t = 1/2.
    frames, _, _ = _moving_square(step=4)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]  # noqa: E731
    model = build("inbetween_net", seed=0, widths=[8, 12, 16], search=6).eval()
    with torch.no_grad():
        motion = model._search(torch.log1p(t(frames[0])), torch.log1p(t(frames[2])))
        ours = model(t(frames[0]), t(frames[2]), torch.full((1, 1), 0.5), torch.ones(1, 1))[0].numpy().transpose(1, 2, 0)
    assert abs(float(motion[0, 0, 32, 22]) - 8.0) < 1.0 and abs(float(motion[0, 1, 32, 22])) < 1.0
    blend = 0.5 * frames[0] + 0.5 * frames[2]
    assert np.abs(ours - frames[1]).mean() < 0.3 * np.abs(blend - frames[1]).mean()


def test_image_only_search_model_exports_and_tiles_exactly(tmp_path):
    from addon.runtime import api, load_model
    from export import export_checkpoint
    from ml_core.checkpoint import save_checkpoint

    model = build("inbetween_net", seed=0, widths=[8, 12, 16], search=4)
    training = {"command": "untrained", "seed": 0, "dataset_fingerprint": "none", "metrics": {}}
    path = save_checkpoint(tmp_path / "search.pt", model, name="search", version="0.0.1", training=training)
    export_checkpoint(path, tmp_path / "models")  # refuses a graph whose onnxruntime output differs from torch
    rng = np.random.default_rng(0)
    frame0 = rng.random((150, 170, 3)).astype(np.float32)
    frame1 = np.roll(frame0, 3, axis=1)
    whole = api.inbetween(frame0, frame1, 0.5, model="search", models_dir=tmp_path / "models", tile_size=None)
    search = load_model("search", tmp_path / "models")
    tiled = search.run({"frame0": frame0, "frame1": frame1, "t": 0.5}, tile_size=64, exact_tiles=True)
    assert tiled.tiles >= 6 and np.abs(whole - tiled.image).max() < 1e-3


def test_api_inbetween_feeds_the_shipped_vector_model_depth():
    """``api.inbetween(..., depth0=, depth1=)`` reaches the shipped vector-guided model's depth inputs: on the
    fixed test crops it reproduces the figure recorded with depth (as ``postpass inbetween`` feeds it from the
    EXR passes) and beats the same call without depth; one depth alone is refused."""
    from pathlib import Path

    import pytest

    from addon.runtime import ModelError, api
    from addon.runtime.exr import read_exr
    from ml_core.metrics import render_metrics

    folder = Path(__file__).parents[1] / "data" / "inbetween"
    recorded = json.loads((folder / "expected.json").read_text())["inbetween_vectors"]["psnr"]
    with_depth, without = [], []
    for first in sorted(folder.glob("*_frame1.exr")):
        a, middle, b = (read_exr(first.with_name(first.name.replace("_frame1", f"_frame{k}"))) for k in (1, 2, 3))
        frames = (a.get("Combined")[..., :3], b.get("Combined")[..., :3])
        vectors, depths = (a.get("Vector"), b.get("Vector")), (a.get("Denoising Depth"), b.get("Denoising Depth"))
        ours = api.inbetween(*frames, 0.5, vectors=vectors, depth0=depths[0], depth1=depths[1],
                             model="inbetween_vectors", threads=1)
        direct = api.run("inbetween", {"frame0": frames[0], "frame1": frames[1], "t": 0.5, "vectors0": vectors[0],
                                       "vectors1": vectors[1], "depth0": depths[0], "depth1": depths[1]},
                         model="inbetween_vectors", threads=1).image
        assert np.array_equal(ours, direct)
        plain = api.inbetween(*frames, 0.5, vectors=vectors, model="inbetween_vectors", threads=1)
        target = middle.get("Combined")[..., :3]
        with_depth.append(render_metrics(ours, target)["psnr"])
        without.append(render_metrics(plain, target)["psnr"])
    assert len(with_depth) >= 4
    assert np.mean(with_depth) == pytest.approx(recorded, abs=0.01)
    assert np.mean(with_depth) > np.mean(without) + 0.1  # 23.06 vs 22.81 dB: the depth is used
    with pytest.raises(ModelError, match="depth0 and depth1 together"):
        api.inbetween(*frames, 0.5, vectors=vectors, depth0=depths[0])


def test_key_steps_scale_the_vector_passes_to_the_gap_between_the_key_frames():
    """Blender's Vector pass holds one frame step of motion; keys rendered every 4th frame are 4 steps apart:
    ``key_steps=4`` is the same as vectors of twice the motion at the models' 2-step convention, and moves
    pixels differently from the default (every other frame)."""
    from pathlib import Path

    import pytest

    from addon.runtime import ModelError, api
    from addon.runtime.exr import read_exr

    first = sorted((Path(__file__).parents[1] / "data" / "inbetween").glob("*_frame1.exr"))[0]
    a, b = read_exr(first), read_exr(first.with_name(first.name.replace("_frame1", "_frame3")))
    frames, vectors = (a.get("Combined")[..., :3], b.get("Combined")[..., :3]), (a.get("Vector"), b.get("Vector"))
    options = dict(model="inbetween_vectors", threads=1, tile_size=None)
    four = api.inbetween(*frames, 0.25, vectors=vectors, key_steps=4, **options)
    doubled = api.inbetween(*frames, 0.25, vectors=tuple(2 * v for v in vectors), **options)
    np.testing.assert_array_equal(four, doubled)
    default = api.inbetween(*frames, 0.25, vectors=vectors, **options)
    assert np.abs(four - default).max() > 0.02  # moving pixels land elsewhere
    with pytest.raises(ModelError, match="key_steps must be a positive"):
        api.inbetween(*frames, 0.25, vectors=vectors, key_steps=0, **options)


def test_runtime_estimates_the_optical_flow_of_frames_without_vectors():
    import cv2

    from addon.runtime.estimate import optical_flow

    texture = cv2.GaussianBlur(np.random.default_rng(0).random((96, 96)).astype(np.float32), (0, 0), 2.0)
    frame0 = np.repeat(0.05 + 4 * texture[..., None] ** 2, 3, axis=2)  # linear HDR values
    frame1 = np.roll(frame0, (-4, 7), axis=(0, 1))  # 7 px right, 4 px up
    inner = (slice(16, -16), slice(16, -16))
    np.testing.assert_allclose(np.median(optical_flow(frame0, frame1)[inner], axis=(0, 1)), [7, -4], atol=0.3)
    np.testing.assert_allclose(np.median(optical_flow(frame1, frame0)[inner], axis=(0, 1)), [-7, 4], atol=0.3)


@pytest.mark.parametrize("size", [(1, 1), (3, 12), (8, 8), (11, 40)])
def test_flow_of_tiny_frames_is_estimated_too(size):
    from addon.runtime.estimate import optical_flow

    frame = np.random.default_rng(0).random((*size, 3)).astype(np.float32)
    flow = optical_flow(frame, frame)  # OpenCV's DIS alone refuses images under about 12 px
    assert flow.shape == (*size, 2) and np.isfinite(flow).all()


def test_image_only_model_runs_on_the_estimated_flow_whatever_the_key_steps(models_dir):
    """Without flows the runtime gives the model the DIS estimate (the same as passing it), over the whole
    frame so tiles agree; a flow spans the key gap, so key_steps leaves it alone."""
    from addon.runtime import api
    from addon.runtime.estimate import optical_flow

    frames, _, _ = _moving_square(step=6)
    options = dict(model="inbetween_flow", models_dir=models_dir, threads=1)
    auto = api.run("inbetween", {"frame0": frames[0], "frame1": frames[2], "t": 0.5}, **options)
    flows = {"flow0": optical_flow(frames[0], frames[2]), "flow1": optical_flow(frames[2], frames[0])}
    given = api.run("inbetween", {"frame0": frames[0], "frame1": frames[2], "t": 0.5, **flows}, **options)
    np.testing.assert_array_equal(auto.image, given.image)
    still = api.run("inbetween", {"frame0": frames[0], "frame1": frames[2], "t": 0.5,
                                  "flow0": 0 * flows["flow0"], "flow1": 0 * flows["flow1"]}, **options)
    assert np.abs(still.image - auto.image).max() > 0.1  # the flow moves the square
    error = np.abs(auto.image - frames[1]).mean()
    assert error < 0.5 * np.abs(still.image - frames[1]).mean()
    tiled = api.load_model("inbetween_flow", models_dir, threads=1).run(
        {"frame0": frames[0], "frame1": frames[2], "t": 0.5}, tile_size=16, exact_tiles=True, key_steps=4)
    assert tiled.tiles > 4
    np.testing.assert_allclose(tiled.image, auto.image, atol=1e-3)
    assert api.inbetween(frames[0], frames[2], 0.5, models_dir=models_dir).shape == frames[0].shape
    for t in (1.5, -0.25, float("nan"), "half"):  # extrapolation, or no time at all: one line, before any run
        with pytest.raises(api.ModelError, match=r"^inbetween: t=.*so 0 <= t <= 1$"):
            api.inbetween(frames[0], frames[2], t, models_dir=models_dir)


# ----------------------------------------------------------------------------------------------------------
# Longer animations (issue 8): t other than 1/2
# ----------------------------------------------------------------------------------------------------------
def test_longer_animations_render_only_their_frames_with_the_3_frame_motion(tiny_anim_dataset, mesh_dir, tmp_path):
    from addon.runtime.exr import read_exr
    from ml_core import data, render

    scene = data.complete_scenes(tiny_anim_dataset, "anim_test")[0]
    assert sorted(p.name for p in scene.glob("*.exr")) == [f"frame_{k:04d}.exr" for k in range(1, 6)]
    assert json.loads((scene / "scene.json").read_text())["motion_scale"] == 0.5
    # The same seed as 3 frames: the 5-frame scene's vectors (one step) are half of the 3-frame ones, since
    # its first-to-last motion is the same and the keys are linear (Blender's default Bezier keys would ease
    # in: 0.35 and 0.26 of them here, measured). Not exactly half (0.54, 0.44 here): turning objects move on
    # arcs and perspective changes image motion along the way.
    three = tmp_path / "three"
    data.build(three, "anim_test", 1, config=render.preset("tiny", frames=3, stills=False, anim_spp=4),
               mesh_dir=mesh_dir, progress=False, sheet=False)
    short = data.complete_scenes(three, "anim_test")[0]
    for k_long, k_short in ((1, 1), (5, 3)):
        long_v = read_exr(scene / f"frame_{k_long:04d}.exr").get("Vector")
        short_v = read_exr(short / f"frame_{k_short:04d}.exr").get("Vector")
        assert np.abs(short_v).mean() > 0.05, "the test scene should move"
        ratio = float((long_v * short_v).sum() / (short_v * short_v).sum())  # least squares long = ratio * short
        assert 0.4 < ratio < 0.6, ratio


def test_dataset_gives_quarter_times_with_vectors_scaled_to_two_steps(tiny_anim_dataset):
    from addon.runtime.exr import read_exr
    from ml_core.datasets import make_dataset

    ds = make_dataset("inbetween", tiny_anim_dataset, "anim_train", crop=48, crops_per_scene=12, augment=False)
    items = [ds[i] for i in range(len(ds))]
    assert {float(item["t"]) for item in items} == {0.25, 0.5, 0.75}
    assert all(float(item["steps"]) == 4.0 for item in items)
    scene = ds.scenes[0]
    raw = read_exr(scene / "frame_0001.exr").get("Vector")  # crop 48 of 48 px, no augmentation: the whole frame
    assert torch.allclose(items[0]["vectors0"], torch.from_numpy(2.0 * raw.transpose(2, 0, 1)), atol=1e-6)
    for item in items:  # the target is the frame at t
        k = round(float(item["t"]) * 4) + 1
        target = read_exr(scene / f"frame_{k:04d}.exr").get("Combined")[..., :3]
        assert torch.allclose(item["target"], torch.from_numpy(target.transpose(2, 0, 1)))


def test_inbetween_benchmark_reports_every_method_per_t(tiny_anim_dataset, models_dir, tmp_path, capsys):
    code = evaluate_main(["inbetween", "--models", str(models_dir), "--only-t", "--out", str(tmp_path),
                          "--anim", f"{tiny_anim_dataset}:anim_test"])
    assert code == 0
    result = json.loads((tmp_path / "inbetween_t.json").read_text())
    assert list(result["t"]) == ["1/4", "1/2", "3/4"]
    for row in result["t"].values():
        assert set(row) >= {"frame blend", "DIS optical flow", "vector-pass warp", "postpass inbetween",
                            "postpass inbetween_vectors"}
        assert all(np.isfinite(m["psnr"]) and m["frames"] == 1 for m in row.values())
    out = capsys.readouterr().out
    assert "| 1/4 | 1 |" in out and "| 3/4 | 1 |" in out
    # the vector-pass warp gets the motion to t right: better than the frame blend at t = 1/4
    quarter = result["t"]["1/4"]
    assert quarter["vector-pass warp"]["psnr"] > quarter["frame blend"]["psnr"]
