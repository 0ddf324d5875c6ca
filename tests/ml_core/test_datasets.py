"""Torch datasets for the four tasks read the render cache and give consistent, reproducible samples."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from addon.runtime.color import luminance, srgb_decode, srgb_encode
from ml_core.datasets import make_dataset
from ml_core.datasets.colorize import recolor

SHAPES = {
    "denoise": {"color": 3, "albedo": 3, "normal": 3, "depth": 1, "target": 3},
    "upres": {"image": 3, "albedo": 3, "normal": 3, "target": 3},
    "colorize": {"gray": 1, "hints": 3, "mask": 1, "target": 3},
    "inbetween": {"frame0": 3, "frame1": 3, "vectors0": 4, "vectors1": 4, "depth0": 1, "depth1": 1, "target": 3},
}


@pytest.mark.parametrize("task", sorted(SHAPES))
def test_dataset_items(tiny_dataset, task):
    options = {"scale": 4} if task == "upres" else {}
    ds = make_dataset(task, tiny_dataset, "train", crop=32, crops_per_scene=3, **options)
    assert len(ds) == 6
    item = ds[4]
    for key, channels in SHAPES[task].items():
        size = 8 if (task, key) == ("upres", "image") else 32
        assert item[key].shape == (channels, size, size), key
        assert item[key].dtype == torch.float32 and torch.isfinite(item[key]).all(), key
    again = ds[4]
    assert all(torch.equal(item[k], again[k]) for k in item), "an index must give the same sample in an epoch"
    ds.set_epoch(1)
    assert any(not torch.equal(item[k], ds[4][k]) for k in SHAPES[task]), "a new epoch gives new crops"


def test_test_split_is_separate(tiny_dataset, tmp_path):
    train = make_dataset("denoise", tiny_dataset, "train")
    test = make_dataset("denoise", tiny_dataset, "test")
    assert not {p.name for p in train.scenes} & {p.name for p in test.scenes}
    with pytest.raises(ValueError, match="no complete scenes"):
        make_dataset("denoise", tmp_path, "val")
    with pytest.raises(ValueError, match="unknown task"):
        make_dataset("deblur", tiny_dataset, "train")


def test_colorize_hints_come_from_the_target(tiny_dataset):
    ds = make_dataset("colorize", tiny_dataset, "train", crop=32, crops_per_scene=16, no_hint_fraction=0.0)
    item = ds[3]
    target, lum = item["target"].numpy().transpose(1, 2, 0), item["gray"].numpy()[0]
    # sRGB images: gray is the encoded luminance of the decoded colour, as the runtime feeds it
    np.testing.assert_allclose(lum, srgb_encode(luminance(srgb_decode(target))), rtol=1e-5, atol=1e-6)
    mask, hints = item["mask"].numpy()[0] > 0, item["hints"].numpy().transpose(1, 2, 0)
    assert mask.any() and not hints[~mask].any()


@pytest.mark.parametrize("recolor_no_hint", [False, True])
def test_items_without_hints_keep_the_renders_colours(tiny_dataset, recolor_no_hint):
    """Automatic colour can only learn what a render's palette makes predictable: unless asked, hint-free items
    are not hue-rotated (and items with hints still are)."""
    options = dict(crop=32, recolor_fraction=1.0, recolor_no_hint=recolor_no_hint)
    linear = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    no_hints = make_dataset("colorize", tiny_dataset, "train", no_hint_fraction=1.0, **options)
    item = no_hints.finish({"target": linear}, np.random.default_rng(2))
    assert not item["mask"].any()
    assert np.array_equal(item["target"], srgb_encode(linear)) != recolor_no_hint
    hinted = make_dataset("colorize", tiny_dataset, "train", no_hint_fraction=0.0, **options)
    item = hinted.finish({"target": linear}, np.random.default_rng(2))
    assert item["mask"].any() and np.abs(item["target"] - srgb_encode(linear)).mean() > 0.02


def test_recolor_keeps_luminance_and_changes_hue():
    rgb = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    out = recolor(rgb, 2.0, 1.2)
    np.testing.assert_allclose(luminance(out), luminance(rgb), rtol=1e-4, atol=1e-6)
    assert np.abs(out - rgb).mean() > 0.05
    np.testing.assert_allclose(recolor(rgb, 0.0, 1.0), rgb, atol=1e-5)


def test_a_run_can_pin_the_first_scenes_of_a_growing_split(tiny_dataset):
    pinned = make_dataset("denoise", tiny_dataset, "train", scenes=1)
    full = make_dataset("denoise", tiny_dataset, "train")
    assert pinned.scenes == full.scenes[:1] and pinned.fingerprint() != full.fingerprint()
    with pytest.raises(ValueError, match="2 complete scenes, 5 asked"):
        make_dataset("denoise", tiny_dataset, "train", scenes=5)


def test_a_run_can_pin_seed_ranges_of_a_split_with_gaps(tiny_dataset):
    """``scenes`` as inclusive seed ranges: exactly those scenes, whatever else the folder holds or fills in
    later; a seed not rendered (yet) is a one-line error naming it and the command that renders it."""
    full = make_dataset("denoise", tiny_dataset, "train")
    first, second = (int(scene.name) for scene in full.scenes)
    only_second = make_dataset("denoise", tiny_dataset, "train", scenes=[[second, second]])
    assert only_second.scenes == full.scenes[1:]
    both = make_dataset("denoise", tiny_dataset, "train", scenes=[[second, second], [first, first]])
    assert both.scenes == full.scenes and both.fingerprint() == full.fingerprint()
    missing = second + 1
    with pytest.raises(ValueError, match=f"lacks 1 of the 3 scenes asked .first missing seed {missing};"
                                         f".*--start {missing}"):
        make_dataset("denoise", tiny_dataset, "train", scenes=[[first, second + 1]])
    with pytest.raises(ValueError, match="seed ranges"):
        make_dataset("denoise", tiny_dataset, "train", scenes=[[second, first]])


def test_srgb_upres_pairs_can_be_real_low_resolution_renders(tiny_dataset):
    """With srgb_real_fraction=1 every texture-model pair is the real 1/2 render and the target, tone-mapped at
    one exposure: the input is not the target's bicubic downscale, and it matches the target's colours."""
    from ml_core.datasets.upres import downscale

    real = make_dataset("upres", tiny_dataset, "train", crop=32, crops_per_scene=2, scale=2, color_space="srgb",
                        srgb_real_fraction=1.0, augment=False)
    item = real[0]
    image, target = item["image"].numpy().transpose(1, 2, 0), item["target"].numpy().transpose(1, 2, 0)
    assert image.shape == (16, 16, 3) and target.shape == (32, 32, 3)
    bicubic = np.round(np.clip(downscale(target, 2), 0, 1) * 255) / 255
    assert np.abs(image - bicubic).max() > 2 / 255  # a different image: the renderer's own pixels
    assert abs(float(image.mean()) - float(target.mean())) < 0.05  # of the same view at the same exposure


def test_denoise_fireflies_are_added_to_training_inputs_only(tiny_dataset):
    """``fireflies``: isolated outliers (>= 1000x the crop's mean, by default) in the noisy colour of training
    items; the target, the other passes and validation items (augment=False) are left as rendered."""
    options = dict(crop=32, crops_per_scene=4, seed=3)
    plain = make_dataset("denoise", tiny_dataset, "train", **options)
    fired = make_dataset("denoise", tiny_dataset, "train", fireflies=1.0, **options)
    held_out = make_dataset("denoise", tiny_dataset, "train", fireflies=1.0, augment=False, **options)
    as_rendered = make_dataset("denoise", tiny_dataset, "train", augment=False, **options)
    for i in range(len(plain)):
        a, b = plain[i], fired[i]
        changed = (a["color"] != b["color"]).any(0)
        assert 1 <= int(changed.sum()) <= 3
        assert float(b["color"][:, changed].min()) >= 0.5 * 1000 * float(a["color"].mean())
        for key in ("target", "albedo", "normal", "depth"):
            assert torch.equal(a[key], b[key])
        assert torch.equal(held_out[i]["color"], as_rendered[i]["color"])


def test_denoise_clean_guides_come_from_the_target_and_travel_with_the_crop(tiny_dataset):
    """Issue 30: ``clean_guides="supervise"`` adds the target's albedo and normal beside the noisy ones (cropped and
    flipped with them, the normal's signs too), the rest of the item unchanged."""
    from addon.runtime.exr import read_exr

    options = dict(crop=32, crops_per_scene=4, seed=3)
    plain = make_dataset("denoise", tiny_dataset, "train", **options)
    supervised = make_dataset("denoise", tiny_dataset, "train", clean_guides="supervise", **options)
    clean_albedo = read_exr(plain.scenes[0] / "target.exr").get("Denoising Albedo")
    for i in range(len(plain)):
        a, b = plain[i], supervised[i]
        for key in ("color", "target", "albedo", "normal"):
            assert torch.equal(a[key], b[key])
        assert not torch.equal(b["albedo_clean"], b["albedo"])  # the target's guides, not the noisy render's
        assert float((b["normal_clean"] - b["normal"]).abs().mean()) < 0.5  # the same orientation after a flip
    # the clean albedo's values are the target's (any crop and flip of them keeps the set of values)
    values = np.unique(np.round(np.clip(clean_albedo, 0, 1), 5))
    assert np.isin(np.round(supervised[0]["albedo_clean"].numpy(), 5), values).all()
    # "input": the model reads the clean guides in place of the noisy ones (the upper bound of a prefilter)
    cleaned = make_dataset("denoise", tiny_dataset, "train", clean_guides="input", **options)
    for i in range(len(plain)):
        a, b, c = plain[i], supervised[i], cleaned[i]
        assert torch.equal(c["albedo"], b["albedo_clean"]) and torch.equal(c["normal"], b["normal_clean"])
        assert torch.equal(c["color"], a["color"]) and "albedo_clean" not in c
    with pytest.raises(ValueError, match="clean_guides must be one of"):
        make_dataset("denoise", tiny_dataset, "train", clean_guides="yes", **options)
