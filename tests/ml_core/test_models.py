"""ml_core.models and checkpoints: contracts that survive the trip through metadata, a declared tile overlap
that really covers each network's receptive field, and checkpoints that are plain data."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TEST_MODELS

from addon.runtime.contract import ModelContract, ModelError
from ml_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ml_core.models import ARCHITECTURES, build

REPO = Path(__file__).resolve().parents[2]
TRAINING = {"command": "test", "seed": 0, "dataset_fingerprint": "none", "metrics": {"psnr": 1.0}}


def example_inputs(model, height: int, width: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    c = model.contract()
    values = []
    for spec in c.inputs:
        if spec.kind == "scalar":
            values.append(torch.full((1, 1), spec.default if spec.default is not None else 1.0))
            continue
        g = c.scale if spec.grid == "output" else 1
        x = torch.rand(1, len(spec.channels), height * g, width * g, generator=gen)
        values.append(torch.zeros_like(x) if spec.displacement_gain else x)
    return values


def test_every_task_has_an_architecture_and_defaults_build():
    tasks = {build(name).contract().task for name in ARCHITECTURES}
    assert tasks == {"denoise", "upres", "colorize", "inbetween"}


@pytest.mark.parametrize("name", TEST_MODELS)
def test_contract_round_trips_through_metadata(name):
    arch, params = TEST_MODELS[name]
    contract = build(arch, **params).contract()
    metadata = contract.to_metadata()
    assert all(isinstance(v, str) for v in metadata.values())
    assert ModelContract.from_metadata(metadata) == contract
    assert [i.name for i in contract.inputs] == list(build(arch, **params).input_names)


def test_contract_metadata_errors_are_one_line():
    metadata = build("colorize_unet").contract().to_metadata()
    with pytest.raises(ModelError, match="^m.onnx: not a Postpass model"):
        ModelContract.from_metadata({}, "m.onnx")
    with pytest.raises(ModelError, match="lacks 'tile_overlap'"):
        ModelContract.from_metadata({k: v for k, v in metadata.items() if k != "tile_overlap"}, "m.onnx")
    with pytest.raises(ModelError, match="colour space 'rec2020'"):
        ModelContract.from_metadata({**metadata, "outputs": metadata["outputs"].replace('"srgb"', '"rec2020"')})


@pytest.mark.parametrize("name", TEST_MODELS)
def test_declared_tile_overlap_covers_the_receptive_field(name):
    """The gradient of one output pixel reaches exactly as far as the inputs that influence it."""
    arch, params = TEST_MODELS[name]
    model = build(arch, seed=0, **params).eval()
    c = model.contract()
    side = 2 * c.tile_overlap + 4 * c.pad_multiple + 8
    side += -side % c.pad_multiple
    inputs = [x.requires_grad_(True) for x in example_inputs(model, side, side)]
    centre = side // 2
    model(*inputs)[0, :, centre * c.scale, centre * c.scale].sum().backward()
    reach = 0
    for spec, x in zip(c.inputs, inputs):
        if spec.kind == "scalar":
            continue
        g = c.scale if spec.grid == "output" else 1
        ys, xs = np.nonzero(x.grad.abs().sum(dim=(0, 1)).numpy())
        reach = max(reach, int(np.ceil(max(np.abs(ys / g - centre).max(), np.abs(xs / g - centre).max()))))
    assert c.tile_overlap // 2 <= reach <= c.tile_overlap


def test_checkpoint_is_plain_data_and_rebuilds_the_same_model(tmp_path):
    model = build("upres_net", seed=3, scale=4, guides=["normal"], width=8, depth=3).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, name="up", version="1.2.3", training=TRAINING)
    raw = torch.load(path, weights_only=True)  # no pickled classes: the safe loader reads it
    assert set(raw) == {"config", "state_dict"} and isinstance(raw["config"], str)
    loaded, config = load_checkpoint(path)
    assert config["architecture"] == "upres_net" and config["params"]["guides"] == ["normal"]
    assert config["name"] == "up" and config["training"]["metrics"] == {"psnr": 1.0}
    inputs = example_inputs(model, 16, 24)
    with torch.no_grad():
        assert torch.equal(model(*inputs), loaded(*inputs))


def test_bad_checkpoints_give_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="^.*junk.pt: not a Postpass checkpoint"):
        load_checkpoint(junk)
    pickled = tmp_path / "pickled.pt"
    pickled.write_bytes(pickle.dumps({"config": object()}, protocol=2))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(pickled)
    assert "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="lacks metrics"):
        save_checkpoint(tmp_path / "x.pt", build("colorize_unet"), name="x", version="1",
                        training={k: v for k, v in TRAINING.items() if k != "metrics"})


def test_kpn_can_use_a_smaller_kernel_at_its_finest_level():
    """``finest_kernel`` (the speed option: the finest level is most of the filtering) changes only the finest
    level's kernel; models without it keep their old parameters, so older checkpoints rebuild unchanged."""
    plain = build("denoise_kpn", seed=0, widths=[8, 12, 16], demodulate=True)
    small = build("denoise_kpn", seed=0, widths=[8, 12, 16], demodulate=True, finest_kernel=3)
    assert "finest_kernel" not in plain.params and small.params["finest_kernel"] == 3
    assert [h.out_channels for h in plain.heads] == [25 + 2, 25 + 1, 25]
    assert [h.out_channels for h in small.heads] == [9 + 2, 25 + 1, 25]
    x = example_inputs(small, 32, 32)
    x[0] = x[0] * 4.0
    out = small.eval()(*x)
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="odd"):
        build("denoise_kpn", finest_kernel=4)


def test_kpn_outlier_limit_scales_down_lone_samples_only():
    """``outlier_limit``: a lone sample far above the limit and above 10x its neighbours is scaled to the bound
    (hue kept); a bright block (an emitter, a highlight) and everything below the limit pass unchanged; and the
    model without the option keeps its old parameters (older checkpoints rebuild unchanged)."""
    from ml_core.models.denoise_kpn import clamp_outliers

    color = torch.full((1, 3, 16, 16), 0.2)
    color[0, :, 4, 4] = torch.tensor([1e4, 5e3, 0.0])  # a caustic sample
    color[0, :, 10:13, 10:13] = 500.0  # a small lamp seen directly
    color[0, :, 1, 12] = 8.0  # bright, but under the limit
    out = clamp_outliers(color, 50.0)
    np.testing.assert_allclose(out[0, :, 4, 4].numpy(), [50.0, 25.0, 0.0], rtol=1e-5)
    untouched = torch.ones(16, 16, dtype=torch.bool)
    untouched[4, 4] = False
    assert torch.equal(out[..., untouched], color[..., untouched])
    assert "outlier_limit" not in build("denoise_kpn").params
    model = build("denoise_kpn", seed=0, widths=[8, 12, 16], outlier_limit=50.0).eval()
    x = example_inputs(model, 32, 32)
    fired = [t.clone() for t in x]
    fired[0][0, :, 16, 16] = 1e6 / float(x[3].reshape(-1)[0])  # 1e6 after exposure: becomes the limit
    limited = [t.clone() for t in x]
    limited[0][0, :, 16, 16] = 50.0 / float(x[3].reshape(-1)[0])
    torch.testing.assert_close(model(*fired), model(*limited))
    # it reads one neighbour before the U-Net: tiles overlap one pixel more
    assert model.tile_overlap == build("denoise_kpn", widths=[8, 12, 16]).tile_overlap + 1


def test_kpn_residual_grows_from_a_trained_kernel_predictor_and_can_leave_the_average(tmp_path):
    """``residual``: the finest head's three extra channels correct the filtered colour in the log domain. A model
    grown from one without it (``init_from``, what ``train.init`` calls) starts with exactly that model's output;
    a correction moves the output beyond any average of the noisy samples but never below zero; mismatched
    parameters are refused, naming both."""
    from ml_core.train import init_weights

    small = dict(widths=[8, 12, 16], demodulate=True, finest_kernel=3, outlier_limit=50.0)
    plain = build("denoise_kpn", seed=0, **small).eval()
    grown = build("denoise_kpn", seed=1, **small, residual=True).eval()
    assert "residual" not in plain.params and grown.heads[0].out_channels == plain.heads[0].out_channels + 3
    x = example_inputs(plain, 32, 32)
    x[0] = x[0] * 4.0
    assert not torch.allclose(grown(*x), plain(*x), atol=1e-4)  # a different seed: different weights
    checkpoint = tmp_path / "plain.pt"
    save_checkpoint(checkpoint, plain, name="denoise_kpn", version="0", training=TRAINING)
    assert init_weights(grown, str(checkpoint)) == checkpoint
    torch.testing.assert_close(grown(*x), plain(*x))
    with torch.no_grad():  # a uniform brightening of e^1 on 1 + colour: more than the brightest input sample
        grown.heads[0].bias[-3:] = 1.0
    out = grown(*x).detach()
    assert out.amin() >= 0 and float(out.amax()) > float(x[0].amax())
    with torch.no_grad():
        grown.heads[0].bias[-3:] = -10.0  # far below: the bound keeps it finite, the clamp at zero
    out = grown(*x).detach()
    assert torch.isfinite(out).all() and out.amin() >= 0
    with pytest.raises(ValueError, match="init checkpoint: it is denoise_kpn"):
        init_weights(build("denoise_kpn", widths=[8, 12, 20], residual=True), str(checkpoint))


def test_kpn_for_fewer_guides_starts_from_the_shipped_model_file():
    """Issue 25: the colour-only and colour + albedo denoisers are fine-tuned from the shipped colour + albedo +
    normal one. ``train.init`` takes the shipped ONNX file itself (``ml_core.shipped``: its initializers, the
    decoders' split convolutions joined again), so a fresh machine needs no checkpoint; the first convolution
    keeps exactly the kept inputs' weights, and without albedo the demodulation choice channel goes."""
    from ml_core.shipped import model_from_onnx
    from ml_core.train import init_weights

    shipped, meta = model_from_onnx(REPO / "addon" / "models" / "denoise_kpn.onnx")
    assert meta["name"] == "denoise_kpn" and shipped.params["demodulate"]
    first = "unet.encoders.0.0.weight"
    for aux, channels in ((["albedo"], [0, 1, 2, 3, 4, 5]), ([], [0, 1, 2])):
        params = {**shipped.params, "aux": aux, "demodulate": bool(aux)}
        model = build("denoise_kpn", seed=0, **params).eval()
        assert init_weights(model, "addon/models/denoise_kpn.onnx").name == "denoise_kpn.onnx"
        torch.testing.assert_close(model.state_dict()[first], shipped.state_dict()[first][:, channels])
        heads = shipped.state_dict()["heads.0.weight"]
        torch.testing.assert_close(model.state_dict()["heads.0.weight"], heads if aux else heads[:-1])
        out = model(*example_inputs(model, 32, 32))
        assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="it is denoise_kpn"):  # more guides than the source: refused
        build("denoise_kpn", **{**shipped.params, "widths": [8, 12, 16, 20]}).init_from(shipped)
    from ml_core.shipped import ShippedModelError
    with pytest.raises(ShippedModelError, match="registry.json: not an ONNX model"):
        model_from_onnx(REPO / "addon" / "models" / "registry.json")


def test_colorize_classification_starts_grey_learns_bins_and_exports(tmp_path):
    """``chroma_grid``: bin logits whose annealed mean colours what no hint reaches. Untrained, it is the grey
    image (uniform bins average to grey); its cross-entropy falls when trained on one colourful image; where
    hints reach, the hint base still rules; and the variant exports with parity."""
    from export import export_checkpoint
    from ml_core.models.colorize_unet import chroma_bins

    assert chroma_bins(12).shape == (91, 3) and torch.allclose(chroma_bins(12).mean(0), torch.full((3,), 1 / 3))
    torch.manual_seed(0)
    model = build("colorize_unet", seed=0, widths=[8, 12], chroma_grid=6, leak=0.1)
    gray = torch.rand(1, 1, 32, 32) * 0.6 + 0.2
    none = torch.zeros(1, 1, 32, 32)
    with torch.no_grad():
        start = model.eval()(gray, torch.zeros(1, 3, 32, 32), none)
    torch.testing.assert_close(start, gray.expand(1, 3, 32, 32), atol=1e-5, rtol=0)
    target = torch.cat([gray * 1.0, gray * 0.6, gray * 0.3], 1).clamp(0, 1)  # an orange image
    model.train()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for _ in range(40):
        model(gray, torch.zeros(1, 3, 32, 32), none)
        loss = model.auxiliary_loss({"target": target})
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses
    with torch.no_grad():
        auto = model.eval()(gray, torch.zeros(1, 3, 32, 32), none)
        blue = torch.zeros(1, 3, 32, 32)
        blue[:, 2] = 1.0
        hinted = model(gray, blue, torch.ones(1, 1, 32, 32))
    assert (auto[:, 0] - auto[:, 2]).mean() > 0.05  # the learnt orange, with no hints
    assert (hinted[:, 2] - hinted[:, 0]).mean() > 0.05  # blue hints everywhere: blue
    assert model.auxiliary_loss({"target": target}) is None  # an eval forward leaves nothing to train on
    checkpoint = save_checkpoint(tmp_path / "c.pt", model, name="colorize_bins", version="0", training=TRAINING)
    assert export_checkpoint(checkpoint, tmp_path / "models")[0].parity_error < 1e-4


def test_kpn_kernel_taps_and_decoder_in_few_ops_equal_the_plain_formulas():
    """Issue 30: the kernels are applied by one one-hot convolution, one multiply and one sum, and each decoder's
    first convolution is split instead of fed a concatenation; both compute what the plain formulas compute (a
    slice, multiply and add per tap; each decoder fed the concatenation), up to float rounding, for any kernel size."""
    import torch.nn.functional as F

    from ml_core.models.denoise_kpn import apply_kernels

    gen = torch.Generator().manual_seed(0)
    for size, channels in ((1, 3), (3, 6), (5, 3), (7, 6)):
        image = torch.rand(2, channels, 13, 17, generator=gen) * 4
        logits = torch.randn(2, size * size, 13, 17, generator=gen) * 3
        weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        r = size // 2
        padded = F.pad(image, (r, r, r, r), mode="replicate")
        plain = sum(weights[:, dy * size + dx:dy * size + dx + 1] * padded[:, :, dy:dy + 13, dx:dx + 17]
                    for dy in range(size) for dx in range(size)) / weights.sum(dim=1, keepdim=True)
        torch.testing.assert_close(apply_kernels(image, logits, size), plain, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(apply_kernels(image, logits, size, channels), plain, rtol=1e-5, atol=1e-6)
    unet = build("denoise_kpn", seed=0, widths=[8, 12, 16, 20]).eval().unet
    x = torch.randn(1, 9, 40, 48, generator=gen)
    with torch.no_grad():  # the plain U-Net: each decoder fed the concatenation [upsampled, skip]
        skips, h = [], x
        for i, encoder in enumerate(unet.encoders):
            h = encoder(h)
            if i < len(unet.encoders) - 1:
                skips.append(h)
                h = F.max_pool2d(h, 2)
        plain = [h]
        for decoder, skip in zip(reversed(unet.decoders), reversed(skips)):
            h = decoder(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), skip], 1))
            plain.append(h)
        for ours, reference in zip(unet.decoder_features(x), plain[::-1], strict=True):
            torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
