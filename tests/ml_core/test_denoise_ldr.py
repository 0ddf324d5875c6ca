"""The 8-bit image denoiser (issue 25): a denoise_kpn reading sRGB values as saved, trained on renders shown
through a display curve and quantised."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from addon.runtime.color import srgb_encode
from ml_core.datasets import make_dataset
from ml_core.models import build
from ml_core.models.blocks import linear_to_srgb, srgb_to_linear

PARAMS = {"aux": [], "widths": [8, 12, 16], "kernel": 3, "scales": 3}


def test_srgb_kpn_reads_and_writes_display_values_without_an_exposure():
    model = build("denoise_kpn", seed=0, color_space="srgb", **PARAMS)
    contract = model.contract()
    assert [i.name for i in contract.inputs] == ["color"]  # no exposure: the file's values are the display's
    assert contract.inputs[0].color_space == "srgb" and not contract.inputs[0].hdr
    assert contract.outputs[0].color_space == "srgb" and not contract.outputs[0].hdr
    out = model(torch.rand(2, 3, 32, 32)).detach()
    assert out.shape == (2, 3, 32, 32) and 0.0 <= out.min() and out.max() <= 1.0
    # the kernels average linear light, not the encoded values: with box kernels (zero logits) a black and white
    # checkerboard's interior is 4/9 or 5/9 linear, encoded 0.70-0.77 (averaging the encoded values: 0.44-0.56)
    with torch.no_grad():
        for head in model.heads:
            head.weight.zero_()
            head.bias.zero_()
        board = ((torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2).float().expand(1, 3, 32, 32)
        inner = model(board)[..., 4:-4, 4:-4]
    assert 0.69 < inner.min() and inner.max() < 0.78
    assert model.params["color_space"] == "srgb" and "color_space" not in build("denoise_kpn", **PARAMS).params


def test_srgb_kpn_starts_from_the_linear_model_and_refuses_passes():
    linear = build("denoise_kpn", seed=3, **PARAMS)
    srgb = build("denoise_kpn", seed=0, color_space="srgb", **PARAMS)
    srgb.init_from(linear)
    assert all(torch.equal(a, b) for a, b in zip(srgb.state_dict().values(), linear.state_dict().values()))
    with pytest.raises(ValueError, match="colour only"):
        build("denoise_kpn", color_space="srgb", aux=["albedo"], widths=[8, 12, 16])
    with pytest.raises(ValueError, match="linear or srgb"):
        build("denoise_kpn", color_space="acescg", **PARAMS)


def test_torch_srgb_curves_match_the_runtime():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.abs(linear_to_srgb(torch.from_numpy(x)).numpy() - srgb_encode(x)).max() < 1e-5
    assert np.abs(srgb_to_linear(linear_to_srgb(torch.from_numpy(x))).numpy() - x).max() < 1e-5


def test_ldr_pairs_are_display_values_and_the_input_is_quantised(tiny_dataset):
    ds = make_dataset("denoise", tiny_dataset, "train", crop=32, crops_per_scene=8, ldr=True)
    steps = []
    for i in range(len(ds)):
        item = ds[i]
        color, target = item["color"].numpy(), item["target"].numpy()
        assert 0.0 <= min(color.min(), target.min()) and max(color.max(), target.max()) <= 1.0
        levels = 255.0 if np.allclose(color * 255, np.round(color * 255), atol=1e-4) else 65535.0
        assert np.allclose(color * levels, np.round(color * levels), atol=1e-3)
        steps.append(levels)
    assert 255.0 in steps
    plain = make_dataset("denoise", tiny_dataset, "train", crop=32, crops_per_scene=8)
    assert plain[0]["color"].max() > 0 and not np.array_equal(plain[0]["color"].numpy(), ds[0]["color"].numpy())
    jpeg = make_dataset("denoise", tiny_dataset, "train", crop=32, crops_per_scene=8, ldr=True, jpeg=1.0)
    assert any(not np.array_equal(jpeg[i]["color"].numpy(), ds[i]["color"].numpy()) for i in range(4))
    assert all(np.array_equal(jpeg[i]["target"].numpy(), ds[i]["target"].numpy()) for i in range(4))
