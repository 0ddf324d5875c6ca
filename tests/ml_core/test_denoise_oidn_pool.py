"""The average of Blender's denoised frames along the Vector pass (``denoise_oidn_pool``, issue 26): what it
takes from a neighbour and what it leaves, on arrays made to show each case."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.models import build


def _frame(rng, h=24, w=24, noise=0.3):
    """A smooth Blender result, a raw render ``noise`` (relative) around it, guides and a still Vector pass."""
    denoised = torch.rand(1, 3, 1, 1, generator=rng) * 0.5 + 0.25 + torch.zeros(1, 3, h, w)
    raw = denoised * (1 + noise * torch.randn(1, 3, h, w, generator=rng)).clamp(min=0.0)
    normal = torch.nn.functional.normalize(torch.ones(1, 3, h, w), dim=1)
    return {"color": raw, "blender_denoised": denoised, "albedo": torch.full((1, 3, h, w), 0.5), "normal": normal,
            "vector": torch.zeros(1, 4, h, w), "exposure": torch.ones(1, 1)}


def _with(x, prev=None, next=None):
    """``x`` with its neighbours (each a dict of colour, Blender's result, albedo, normal; None: absent, zeros)."""
    out = dict(x)
    for name, frame in (("prev", prev), ("next", next)):
        for part in ("color", "blender_denoised", "albedo", "normal"):
            out[f"{name}_{part}"] = frame[part] if frame is not None else torch.zeros_like(x["color"])
    return out


def _run(model, x):
    with torch.no_grad():
        return model(*[x[name] for name in model.input_names])


@pytest.fixture(scope="module")
def model():
    return build("denoise_oidn_pool").eval()


def test_without_neighbours_it_returns_blenders_frame_exactly(model):
    x = _frame(torch.Generator().manual_seed(0))
    out = _run(model, _with(x))
    assert torch.equal(out, x["blender_denoised"])


def test_a_neighbour_showing_the_same_surface_is_averaged_in(model):
    rng = torch.Generator().manual_seed(1)
    x = _frame(rng)
    other = {**x, "blender_denoised": x["blender_denoised"] * 1.02}  # OIDN's error differs a little per frame
    out = _run(model, _with(x, prev=other, next=other))
    middle = out[..., 6:-6, 6:-6]
    # both neighbours agree within the frame's noise: close to the mean of the three frames (1 + 2 x 1.02) / 3
    assert torch.allclose(middle, x["blender_denoised"][..., 6:-6, 6:-6] * (1 + 2 * 1.02) / 3, rtol=2e-3)


def test_a_neighbour_whose_shading_changed_is_left_out(model):
    x = _frame(torch.Generator().manual_seed(2))
    lit = {**x, "blender_denoised": x["blender_denoised"] * 3.0}  # a light turned on: the vectors do not carry it
    out = _run(model, _with(x, prev=lit))
    assert torch.allclose(out, x["blender_denoised"], rtol=1e-3)


def test_a_neighbour_with_other_guides_is_left_out(model):
    x = _frame(torch.Generator().manual_seed(3))
    other = {**x, "albedo": torch.full_like(x["albedo"], 0.9), "blender_denoised": x["blender_denoised"] * 1.02}
    out = _run(model, _with(x, next=other))
    assert torch.allclose(out, x["blender_denoised"], rtol=2e-3)


def test_the_tolerance_follows_the_frames_own_noise(model):
    """The same 8 % difference between OIDN's frames is averaged in at few samples (a noisy raw render), where
    such differences are OIDN's leftover noise, and mostly left out at many (a clean one), where it is detail."""
    shares = []
    for noise in (0.6, 0.02):
        x = _frame(torch.Generator().manual_seed(4), noise=noise)
        other = {**x, "blender_denoised": x["blender_denoised"] * 1.08}
        out = _run(model, _with(x, prev=other))[..., 6:-6, 6:-6]
        base = x["blender_denoised"][..., 6:-6, 6:-6]
        weight = ((out - base) / (0.08 * base - (out - base))).mean().item()  # out = (b + w 1.08 b) / (1 + w)
        shares.append(weight)
    assert shares[0] > 0.5 and shares[1] < 0.05, shares


def test_it_exports_and_its_contract_reads_blenders_frames_warped_along_the_vectors(model):
    contract = model.contract()
    inputs = {i.name: i for i in contract.inputs}
    assert inputs["blender_denoised"].pass_name == "Denoised Image" and inputs["blender_denoised"].source == 1
    for n, source in (("prev", 0), ("next", 2)):
        spec = inputs[f"{n}_blender_denoised"]
        assert spec.warp == ("vector", n) and spec.optional and spec.source == source
    assert set(contract.required) == {"color", "albedo", "normal", "vector", "blender_denoised"}
    assert np.isfinite(_run(model, _with(_frame(torch.Generator().manual_seed(5)))).numpy()).all()


def test_a_shots_correction_goes_inside_the_shipped_average_of_blenders_frames(tmp_path):
    """``export.finetune.export_residual_temporal``: the shot's correction (here a small perturbed one) applied to
    frames f-1, f, f+1 and averaged with the shipped ``denoise_oidn_temporal``'s gains, published as
    ``denoise_oidn_residual_shot_temporal``; its ONNX through the runtime gives what the torch model gives."""
    from types import SimpleNamespace

    from addon.runtime import api
    from addon.runtime.registry import Registry
    from export.finetune import RESIDUAL_TEMPORAL_MODEL, export_residual_temporal
    from ml_core.checkpoint import load_checkpoint, save_checkpoint
    from ml_core.shipped import model_from_onnx

    net = build("denoise_oidn_residual", seed=0, widths=[8, 12, 16])
    with torch.no_grad():
        net.unet.head.weight.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(0))
    training = {"command": "test", "seed": 0, "dataset_fingerprint": "none", "metrics": {}}
    checkpoint = save_checkpoint(tmp_path / "run" / "last.pt", net, name="denoise_oidn_residual_shot",
                                 version="1.0.0+shot.test", training=training)
    staging = tmp_path / "models"
    shot = SimpleNamespace(path=tmp_path / "shot.blend", sha256="0" * 64)
    assert export_residual_temporal(checkpoint, staging, shot)
    entry = Registry(staging).get(RESIDUAL_TEMPORAL_MODEL)
    both, _ = load_checkpoint(tmp_path / "run" / "residual_temporal.pt")
    shipped = Registry().get("denoise_oidn_temporal")
    assert both.architecture == "denoise_oidn_residual_pool" and entry.contract.tile_overlap > 16

    assert both.pool.radius == model_from_onnx(shipped.path)[0].radius  # the shipped window's frames
    rng = torch.Generator().manual_seed(6)
    x = _window(_frame(rng, 40, 40), prev=_frame(rng, 40, 40))
    x["denoised_exposure"] = torch.ones(1, 1)
    expected = _run(both, x)[0].numpy().transpose(1, 2, 0)
    arrays = {k: v[0].numpy().transpose(1, 2, 0) for k, v in x.items() if v.dim() == 4}
    arrays = {k: v for k, v in arrays.items() if not k.startswith(("next", "prev2"))}  # absent: as the runtime feeds it
    got = api.run("denoise", {**arrays, "exposure": 1.0, "denoised_exposure": 1.0}, model=RESIDUAL_TEMPORAL_MODEL,
                  models_dir=staging).image
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # the correction did something, and the frames were still averaged: not the shipped average alone
    plain = api.run("denoise", {**arrays, "exposure": 1.0}, model="denoise_oidn_temporal",
                    models_dir=shipped.path.parent).image
    assert not np.allclose(got, plain, atol=1e-4)


def _window(x, **frames):
    """``x`` with the neighbours of a window of frames f - 2 .. f + 2 (``prev``, ``next``, ``prev2``, ``next2``:
    dicts as :func:`_with`'s; missing: absent, zeros), frames f - 1 and f + 1 with their still Vector passes."""
    out = dict(x)
    for name in ("prev", "next", "prev2", "next2"):
        frame = frames.get(name)
        for part in ("color", "blender_denoised", "albedo", "normal") + (("vector",) if len(name) == 4 else ()):
            out[f"{name}_{part}"] = frame[part] if frame is not None else torch.zeros_like(x[part])
    return out


def test_a_window_of_five_frames_averages_the_far_ones_only_through_the_near_ones():
    """``radius`` 2: frames f - 2 and f + 2 are tested as f - 1 and f + 1 are and averaged in; a far frame counts
    only where the frame between has the point in its frame (its warp went through that frame's vectors)."""
    wide = build("denoise_oidn_pool", radius=2).eval()
    assert wide.params == {"radius": 2} and build("denoise_oidn_pool").params == {}  # 0.1.0's params kept
    rng = torch.Generator().manual_seed(7)
    x = _frame(rng)
    others = {name: {**x, "blender_denoised": x["blender_denoised"] * (1 + 0.01 * k)}
              for k, name in enumerate(("prev", "next", "prev2", "next2"), 1)}
    out = _run(wide, _window(x, **others))[..., 6:-6, 6:-6]
    base = x["blender_denoised"][..., 6:-6, 6:-6]
    assert torch.allclose(out, base * (1 + 1.01 + 1.02 + 1.03 + 1.04) / 5, rtol=2e-3)
    # the same five frames without f - 1: f - 2 is left out with it, f + 1 and f + 2 stay
    out = _run(wide, _window(x, **{k: v for k, v in others.items() if k != "prev"}))[..., 6:-6, 6:-6]
    assert torch.allclose(out, base * (1 + 1.02 + 1.04) / 3, rtol=2e-3)
    # and the three-frame pool is the five-frame one without its far frames
    narrow = build("denoise_oidn_pool").eval()
    three = _with(x, prev=others["prev"], next=others["next"])
    assert torch.allclose(_run(narrow, three), _run(wide, _window(x, prev=others["prev"], next=others["next"])))
