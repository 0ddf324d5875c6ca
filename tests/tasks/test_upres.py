"""Up-res: the guided model's demodulated base, the sRGB (texture) training pairs, and the benchmark command."""
from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F

from bench import main as evaluate_main
from bench.upres import pil_resize, ycbcr_y
from ml_core.datasets import make_dataset
from ml_core.datasets.upres import downscale
from ml_core.models import build


def test_guided_base_restores_texture_finer_than_the_low_res_pixels():
    # A pixel-scale checker albedo under smooth light: the low-res render averages the texture away; the
    # demodulated base (shading from the low-res image, texture from the full-res albedo) brings it back.
    # With the network's last layer zeroed the model is exactly that base.
    h = w = 32
    yy, xx = np.mgrid[0:h, 0:w]
    albedo = np.where((yy + xx) % 2, 0.8, 0.3)[None].repeat(3, 0)[None].astype(np.float32)
    light = (1.0 + 0.5 * np.sin(xx / 9.0) * np.cos(yy / 11.0))[None, None].astype(np.float32)
    truth = torch.from_numpy(albedo * light)
    low = F.avg_pool2d(truth, 2)
    model = build("upres_net", seed=0, scale=2, guides=["albedo", "normal"], width=8, depth=3).eval()
    torch.nn.init.zeros_(model.body[-1].weight)
    torch.nn.init.zeros_(model.body[-1].bias)
    normal = torch.zeros(1, 3, h, w)
    normal[:, 2] = -1
    with torch.no_grad():
        guided = model(low, torch.from_numpy(albedo), normal, torch.ones(1, 1))
    bicubic = F.interpolate(low, scale_factor=2.0, mode="bicubic", align_corners=False)
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
    guided_error = (guided - truth)[inner].abs().mean()
    assert guided_error < 0.1 * (bicubic - truth)[inner].abs().mean()
    assert guided_error < 0.02


def test_srgb_pairs_are_8bit_bicubic_downscales_of_a_display_image(tiny_dataset):
    ds = make_dataset("upres", tiny_dataset, "train", crop=32, crops_per_scene=4, scale=2, color_space="srgb",
                      degrade=0.0)
    for i in range(4):
        item = ds[i]
        target, image = item["target"].numpy().transpose(1, 2, 0), item["image"].numpy().transpose(1, 2, 0)
        assert target.shape == (32, 32, 3) and image.shape == (16, 16, 3)
        assert 0.0 <= target.min() and target.max() <= 1.0
        assert np.allclose(image * 255, np.round(image * 255), atol=1e-4)  # 8-bit values
        assert np.abs(image - np.clip(downscale(target, 2), 0, 1)).max() <= 0.5 / 255 + 1e-6
    degraded = make_dataset("upres", tiny_dataset, "train", crop=32, crops_per_scene=4, scale=2,
                            color_space="srgb", degrade=1.0)
    assert any(np.abs(degraded[i]["image"].numpy() - ds[i]["image"].numpy()).max() > 2 / 255 for i in range(4))


def test_set5_protocol_pieces():
    # BT.601 Y on the 0..255 scale: black is 16, white 235
    assert np.allclose(ycbcr_y(np.zeros((1, 1, 3))), 16.0) and np.allclose(ycbcr_y(np.ones((1, 1, 3))), 235.0)
    ramp = np.linspace(0, 1, 64, dtype=np.float32)[None, :, None].repeat(8, 0).repeat(3, 2)
    assert np.abs(pil_resize(pil_resize(ramp, (32, 4)), (64, 8)) - ramp)[:, 4:-4].max() < 0.01


def test_upres_benchmark_writes_a_table_with_every_model(tiny_dataset, models_dir, tmp_path, capsys):
    code = evaluate_main(["upres", "--data", str(tiny_dataset), "--split", "test", "--models", str(models_dir),
                          "--set5", str(tmp_path / "no-set5"), "--no-hd", "--out", str(tmp_path)])
    assert code == 0
    result = json.loads((tmp_path / "upres.json").read_text())
    assert set(result["renders"]["2"]) >= {"bicubic", "lanczos", "postpass upres_x2", "postpass upres_x2_guided"}
    assert "postpass upres_x4_srgb" in result["renders"]["4"]
    for by_method in result["renders"].values():
        assert all(np.isfinite(m["psnr"]) for m in by_method.values())
    assert "| bicubic |" in capsys.readouterr().out and (tmp_path / "upres_crops_x2.png").stat().st_size > 1000


def test_shipped_models_up_res_a_render_in_hdr_and_a_texture_in_srgb(tmp_path):
    """Issue 25: a float EXR without guides gets the linear image-only model (values above 1 kept, the choice
    said), an 8-bit PNG the sRGB one; both through the file path a farm uses, with the shipped models."""
    import cv2

    from addon.runtime import read_image, upres_file, write_exr

    rng = np.random.default_rng(3)
    render = np.exp(rng.uniform(-2, 1.5, (24, 32, 3))).astype(np.float32)  # up to 4.5: HDR
    write_exr(tmp_path / "half.exr", {"Combined": render})
    result = upres_file(tmp_path / "half.exr", tmp_path / "full.exr", scale=2, threads=1)
    assert result.model == "upres_hdr_x2" and result.choice.startswith("upres: upres_hdr_x2 (no full-size albedo/"
                                                                       "normal given: a full-size render's passes")
    out = read_image(tmp_path / "full.exr").get("Combined")
    assert out.shape[:2] == (48, 64) and out.max() > 2.0  # not clipped
    cv2.imwrite(str(tmp_path / "tex.png"), (rng.random((24, 32, 3)) * 255).astype(np.uint8))
    texture = upres_file(tmp_path / "tex.png", tmp_path / "tex4.png", scale=4, threads=1)
    assert texture.model == "upres_x4" and texture.choice == "upres: upres_x4 (an 8/16-bit sRGB source)"
    assert cv2.imread(str(tmp_path / "tex4.png"), cv2.IMREAD_UNCHANGED).shape == (96, 128, 3)
