"""Guide-pass inbetweening's ml_core side (issue 28): the dataset (keys moved onto the made frame along its own
Vector pass, as the runtime moves them), the model's hand-made start (which key to trust where), training,
export, and the runtime giving the exported model what training gave it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from addon.runtime.motion import warp_neighbour
from ml_core import data, render
from ml_core.datasets import make_dataset
from ml_core.models import build

PARAMS = {"widths": [8, 16]}


def _inputs(h=16, w=20, seed=0):
    """Named inputs of one image: keys and guides that agree everywhere (a static scene), t = 1/2."""
    rng = torch.Generator().manual_seed(seed)
    albedo = torch.rand(1, 3, h, w, generator=rng) * 0.8 + 0.1
    normal = torch.nn.functional.normalize(torch.randn(1, 3, h, w, generator=rng), dim=1)
    depth = torch.rand(1, 1, h, w, generator=rng) * 5 + 1
    shading = torch.rand(1, 3, h, w, generator=rng) + 0.2
    x = {"albedo": albedo, "normal": normal, "depth": depth, "vectors": torch.zeros(1, 4, h, w),
         "t": torch.full((1, 1), 0.5), "exposure": torch.ones(1, 1)}
    for i in (0, 1):
        x.update({f"frame{i}": albedo * shading, f"albedo{i}": albedo, f"normal{i}": normal, f"depth{i}": depth})
    return x


def _run(model, x):
    with torch.no_grad():
        return model(*[x[name] for name in model.input_names])


@pytest.mark.parametrize("params", [PARAMS, {"network": False}], ids=["network", "blend"])
def test_untrained_model_returns_a_key_where_both_keys_agree_with_the_guides(params):
    model = build("inbetween_guided", seed=0, **params).eval()
    x = _inputs()
    out = _run(model, x)
    assert torch.allclose(out, x["frame0"], rtol=2e-2, atol=2e-3)


def test_the_blend_alone_learns_only_its_gains_and_biases():
    model = build("inbetween_guided", seed=0, network=False)
    assert model.params == {"widths": [24, 32, 48, 64], "leak": 0.1, "network": False}
    assert sum(p.numel() for p in model.parameters()) == 6  # 3 mismatch gains, plain bias, motion and albedo terms
    assert model.contract().tile_overlap >= 1  # the 3 x 3 albedo mismatch reads the pixels beside


@pytest.mark.parametrize("params", [PARAMS, {"network": False}], ids=["network", "blend"])
def test_a_key_showing_another_surface_gives_way_to_the_other_key(params):
    """A disocclusion: in a patch, key 0 shows another surface (other albedo, normal, depth) than the guide
    render says the made frame holds; key 1 shows the right one. The made frame takes key 1 there, and a
    texture key 1 lacks (the guide's albedo) is put back by remodulation."""
    model = build("inbetween_guided", seed=0, **params).eval()
    x = _inputs()
    patch = (slice(None), slice(None), slice(4, 12), slice(6, 14))
    x["frame0"] = x["frame0"].clone()
    x["albedo0"], x["normal0"], x["depth0"] = x["albedo0"].clone(), x["normal0"].clone(), x["depth0"].clone()
    x["frame0"][patch], x["albedo0"][patch] = 5.0, 0.05
    x["normal0"][patch], x["depth0"][patch] = -x["normal0"][patch], 0.3
    out = _run(model, x)
    right = x["frame1"][patch]
    assert torch.allclose(out[patch], right, rtol=3e-2, atol=3e-3)
    # a blend of both keys there would be far off
    assert float((0.5 * (x["frame0"][patch] + right) - right).abs().mean()) > 1.0
    # the guide's texture moved exactly with the geometry: key 1's shading times the guide's albedo
    x["albedo"] = x["albedo"].clone()
    x["albedo"][patch] = x["albedo"][patch] * 0.25  # a darker texture over the whole patch
    textured = _run(model, x)
    inner = (slice(None), slice(None), slice(5, 11), slice(7, 13))  # the mismatch is read over 3 x 3 pixels
    expected = x["frame1"][inner] / (x["albedo1"][inner] + 0.02) * (x["albedo"][inner] + 0.02)
    assert torch.allclose(textured[inner], expected, rtol=5e-2, atol=5e-3)


def test_dataset_moves_the_keys_onto_the_made_frame_as_the_runtime_does(temporal_sequences):
    ds = make_dataset("inbetween_guided", temporal_sequences, "train", crop=32, crops_per_scene=2, augment=False,
                      guide_spp=[4])
    item = ds[0]
    for key, channels in (("frame0", 3), ("albedo0", 3), ("normal1", 3), ("depth1", 1), ("albedo", 3),
                          ("vectors", 4), ("target", 3)):
        assert item[key].shape == (channels, 32, 32), key
    assert float(item["t"]) == 0.5  # 3 frames: keys 1 and 3, the made frame 2
    scene = data.complete_scenes(temporal_sequences, "train")[0]
    from addon.runtime.exr import read_exr
    key0, guide, target = (read_exr(scene / render.sequence_name(f, spp)) for f, spp in ((1, None), (2, 4), (2, None)))
    hwc = {k: v.permute(1, 2, 0).numpy() for k, v in item.items() if v.ndim == 3}
    np.testing.assert_allclose(hwc["frame0"], warp_neighbour(key0.get("Combined")[..., :3], guide.get("Vector"),
                                                             "prev"), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(hwc["normal"], guide.get("Denoising Normal"), rtol=1e-6)
    np.testing.assert_allclose(hwc["target"], target.get("Combined")[..., :3], rtol=1e-6)
    with pytest.raises(ValueError, match="no sequence frames at \\[16\\] spp"):
        make_dataset("inbetween_guided", temporal_sequences, "train", crop=32, guide_spp=[16])


def test_training_export_and_the_runtime_give_the_model_what_training_gave_it(temporal_sequences, tmp_path):
    from addon.runtime import api
    from addon.runtime.exr import read_exr
    from addon.runtime.registry import Registry
    from export import export_checkpoint
    from ml_core.checkpoint import load_checkpoint
    from ml_core.train import load_config, model_inputs, train

    config = load_config("ml_core/configs/inbetween/inbetween_guided_tiny.json", **{"data.root": str(temporal_sequences)})
    history = train(config, run_dir=tmp_path / "run", progress=False, log=lambda *_: None)
    assert np.isfinite(history["epochs"][-1]["val_psnr"])
    models = tmp_path / "models"
    (report,) = export_checkpoint(tmp_path / "run" / "best.pt", models)
    assert report.parity_error <= report.tolerance
    contract = Registry(models).get("inbetween_guided_tiny").contract
    sources = {spec.name: spec.source for spec in contract.image_inputs}
    assert sources["frame0"] == sources["depth0"] == 0 and sources["normal1"] == 1
    assert sources["albedo"] == sources["vectors"] == 2
    assert contract.input("albedo1").warp == ("vectors", "next")

    # the runtime, given the raw key frames, moves them itself: the same output as the model on the dataset item
    scene = data.complete_scenes(temporal_sequences, "train")[0]
    key0, key1, guide = (read_exr(scene / render.sequence_name(f, spp)) for f, spp in ((1, None), (3, None), (2, 4)))
    given = {"t": 0.5, "albedo": guide.get("Denoising Albedo"), "normal": guide.get("Denoising Normal"),
             "depth": guide.get("Denoising Depth"), "vectors": guide.get("Vector")}
    for i, key in ((0, key0), (1, key1)):
        given.update({f"frame{i}": key.get("Combined")[..., :3], f"albedo{i}": key.get("Denoising Albedo"),
                      f"normal{i}": key.get("Denoising Normal"), f"depth{i}": key.get("Denoising Depth")})
    made = api.run("inbetween", given, model="inbetween_guided_tiny", models_dir=models, key_steps=2).image
    model = load_checkpoint(tmp_path / "run" / "best.pt")[0].eval()
    item = make_dataset("inbetween_guided", temporal_sequences, "train", crop=32, crops_per_scene=1, augment=False,
                        guide_spp=[4])[0]
    batch = {k: v[None] for k, v in item.items()}
    batch["t"] = item["t"].reshape(1)
    with torch.no_grad():
        inputs, _ = model_inputs(model, batch)
        expected = model(*inputs)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(made[..., :3], expected, rtol=1e-3, atol=1e-4)
