"""The guide prefilter of ``denoise_kpn`` (issue 30): noisy albedo and normal cleaned by a small U-Net before the
kernel predictor reads them and demodulates by them, trained against the v2 target's clean guides."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_models import TRAINING, example_inputs

from ml_core.checkpoint import save_checkpoint
from ml_core.models import build

SMALL = dict(widths=[8, 12, 16], demodulate=True, finest_kernel=3, outlier_limit=50.0)


def test_a_prefilter_model_grows_from_one_without_and_starts_as_it(tmp_path):
    from ml_core.train import init_weights

    plain = build("denoise_kpn", seed=0, **SMALL).eval()
    grown = build("denoise_kpn", seed=1, **SMALL, prefilter=[4, 8]).eval()
    x = example_inputs(plain, 32, 32)
    checkpoint = tmp_path / "plain.pt"
    save_checkpoint(checkpoint, plain, name="denoise_kpn", version="0", training=TRAINING)
    assert not torch.allclose(grown(*x), plain(*x), atol=1e-4)
    init_weights(grown, str(checkpoint))
    torch.testing.assert_close(grown(*x), plain(*x), rtol=0, atol=0)  # no correction yet: the same function
    with pytest.raises(ValueError, match="needs both"):
        build("denoise_kpn", aux=["albedo"], demodulate=True, prefilter=[4, 8])


def albedo_reach(model, side: int) -> int:
    """How far from one output pixel the albedo influences it (the gradient's extent)."""
    inputs = [x.requires_grad_(True) for x in example_inputs(model, side, side)]
    centre = side // 2
    model(*inputs)[0, :, centre, centre].sum().backward()
    ys, xs = np.nonzero(inputs[1].grad.abs().sum(dim=(0, 1)).numpy())
    return int(max(np.abs(ys - centre).max(), np.abs(xs - centre).max()))


def test_prefilter_reach_is_in_the_tile_overlap():
    """With a trained (non-zero) head the prefilter widens what an output pixel reads: the declared overlap
    covers it."""
    model = build("denoise_kpn", seed=0, **SMALL, prefilter=[4, 8]).eval()
    with torch.no_grad():
        model.prefilter.unet.head.weight.normal_(0.0, 0.01)
        model.prefilter.unet.head.bias[-1] = 0.5  # the gate half open: the filtered guides count
    c = model.contract()
    side = 2 * c.tile_overlap + 4 * c.pad_multiple + 8
    side += -side % c.pad_multiple
    reach = albedo_reach(model, side)
    assert albedo_reach(build("denoise_kpn", seed=0, **SMALL).eval(), side) < reach <= c.tile_overlap


def test_prefilter_learns_clean_guides_from_the_auxiliary_loss():
    """Trained on its auxiliary loss alone (the output's loss left out), the prefilter's error against the clean
    guides falls well below the noisy input's; without clean guides in the batch the loss names the option."""
    torch.manual_seed(0)
    model = build("denoise_kpn", seed=0, **SMALL, prefilter=[8, 16]).train()
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    albedo = torch.stack([0.2 + 0.6 * (xx > 0.5), 0.3 + 0.4 * yy, torch.full_like(xx, 0.5)]).expand(4, 3, 32, 32)
    normal = torch.nn.functional.normalize(torch.stack([xx - 0.5, yy - 0.5, torch.ones_like(xx)]), dim=0)
    normal = normal.expand(4, 3, 32, 32)
    clean = {"albedo_clean": albedo, "normal_clean": normal}
    opt = torch.optim.Adam(model.prefilter.parameters(), 1e-2)

    def noisy():
        return ((albedo + 0.1 * torch.randn_like(albedo)).clamp(0, 1), normal + 0.1 * torch.randn_like(normal))

    for _ in range(60):
        a, n = noisy()
        model(torch.rand(4, 3, 32, 32), a, n, torch.ones(4, 1))
        loss = model.auxiliary_loss(clean)
        opt.zero_grad()
        loss.backward()
        opt.step()
    a, n = noisy()
    before = (a - albedo).abs().mean() + (n - normal).abs().mean()
    with torch.no_grad():
        after_a, after_n = model.prefilter(a, n)
    after = (after_a - albedo).abs().mean() + (after_n - normal).abs().mean()
    assert float(after) < 0.5 * float(before), (float(before), float(after))
    model(torch.rand(4, 3, 32, 32), a, n, torch.ones(4, 1))
    with pytest.raises(ValueError, match="clean_guides"):
        model.auxiliary_loss({"target": albedo})
    model.eval()(torch.rand(1, 3, 32, 32), a[:1], n[:1], torch.ones(1, 1))
    assert model.auxiliary_loss(clean) is None  # an eval forward leaves nothing to train on


def test_prefilter_model_exports_with_parity(tmp_path):
    from export import export_checkpoint
    from ml_core.shipped import model_from_onnx

    model = build("denoise_kpn", seed=0, **SMALL, prefilter=[4, 8]).eval()
    with torch.no_grad():
        model.prefilter.unet.head.weight.normal_(0.0, 0.01)
        model.prefilter.unet.head.bias[-1] = 0.5
    checkpoint = save_checkpoint(tmp_path / "p.pt", model, name="denoise_kpn_p", version="0", training=TRAINING)
    report = export_checkpoint(checkpoint, tmp_path / "models")[0]
    assert report.parity_error < 1e-4
    back, meta = model_from_onnx(report.path)  # a shipped prefilter model is a fine-tune's start too
    assert back.params["prefilter"] == [4, 8]
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(back.state_dict()[name], tensor, rtol=0, atol=0)

