"""Training losses, registered by name: a config's ``"train": {"loss": NAME}`` picks one (default ``l1``).

Every loss is ``fn(pred, target, exposure) -> scalar tensor`` on N x C x H x W batches; ``exposure`` is the
per-sample scale the model's exposure input got (``ml_core.train.model_inputs``). A task's own loss can be
registered from any module training imports (its model file, say: ``ml_core.models`` imports every file of the
package) with ``@LOSSES.register("name")``; nothing here needs editing.
"""
from __future__ import annotations

import torch

from .metrics import srgb_encode_torch
from .registry import Registry

LOSSES = Registry("loss")


@LOSSES.register("l1")
def l1(pred, target, exposure):
    return (pred - target).abs().mean()


@LOSSES.register("l2")
def l2(pred, target, exposure):
    """Mean squared error: its optimum is the conditional mean, the best a model can do for PSNR (its log).
    Where the answer is uncertain (a colorizer without hints) L1's median sits closer to grey than the mean."""
    return (pred - target).square().mean()


@LOSSES.register("log_mse")
def log_mse(pred, target, exposure):
    """Mean over images of log(MSE): minus PSNR per image up to scale, the loss of benchmarks that average PSNR
    per image. Unlike pooled L2 it does not trade a near-grey image's few dB for a colourful one's gain."""
    return torch.log((pred - target).square().mean(dim=(1, 2, 3)) + 1e-6).mean()


@LOSSES.register("hdr_l1")
def hdr_l1(pred, target, exposure):
    """L1 after the log transfer at the image's exposure: errors weigh alike in shadows and highlights."""
    e = exposure.view(-1, 1, 1, 1)
    return (torch.log1p((pred * e).clamp_min(0)) - torch.log1p((target * e).clamp_min(0))).abs().mean()


def _display_error(pred, target, exposure):
    """Per-pixel difference of the displayed images (exposure, clip, sRGB: what the evaluation measures)."""
    e = exposure.view(-1, 1, 1, 1)
    return srgb_encode_torch((pred * e).clamp(0, 1)) - srgb_encode_torch((target * e).clamp(0, 1))


def _display_mse(pred, target, exposure):
    """Each image's mean squared :func:`_display_error`: what its tone-mapped PSNR is the log of."""
    return _display_error(pred, target, exposure).square().mean(dim=(1, 2, 3))


@LOSSES.register("hdr_l1_display")
def hdr_l1_display(pred, target, exposure):
    """Half :func:`hdr_l1`, half L1 of the displayed image (exposure, clip, sRGB: what the evaluation measures).
    The log term keeps highlights above the clip point in check; the display term weighs errors the way a
    viewer (and tone-mapped PSNR) sees them, which the log transfer underweights in the mid-tones."""
    display = _display_error(pred, target, exposure).abs().mean()
    return 0.5 * hdr_l1(pred, target, exposure) + 0.5 * display


@LOSSES.register("hdr_l1_display_rmse")
def hdr_l1_display_rmse(pred, target, exposure):
    """Half :func:`hdr_l1`, half the displayed image's RMSE per image, averaged: the display term weighs errors
    as a per-image PSNR does (the mean, not L1's median; each image by its own error level, so clean images are
    not drowned by noisy ones) without log-MSE's unbounded weight on near-perfect crops."""
    return 0.5 * hdr_l1(pred, target, exposure) + 0.5 * torch.sqrt(_display_mse(pred, target, exposure) + 1e-8).mean()


@LOSSES.register("hdr_l1_display_psnr")
def hdr_l1_display_psnr(pred, target, exposure):
    """Half :func:`hdr_l1`, and the displayed image's log-MSE per image, averaged: minus the per-image PSNR up to
    scale, exactly what the benchmark averages. Weighted 0.0075 so that at 30 dB (display RMSE 0.03) its gradient
    equals :func:`hdr_l1_display_rmse`'s display half; cleaner crops weigh more than there, noisier ones less.
    The 1e-5 floor (50 dB) stops near-perfect flat crops from taking all the weight."""
    return 0.5 * hdr_l1(pred, target, exposure) + 0.0075 * torch.log(_display_mse(pred, target, exposure) + 1e-5).mean()


def temporal_change(pred, earlier_pred, target, earlier_target, vector, exposure):
    """The temporal loss (issue 26): mean absolute difference between how the output changes from frame t - 1
    to frame t along the motion and how the reference does, in the displayed image (exposure, clip, sRGB: the
    domain of the benchmark's temporal error). Frame t - 1 is warped onto frame t along frame t's Vector pass,
    so what moves with the geometry cancels; what is left is flicker, and changes the reference has too
    (shading, disocclusions the warp gets wrong) cancel between the two. ``exposure``: frame t's, for both
    frames (one scale per shot). A per-frame loss alone lets each frame's residual error be independent."""
    from .models.blocks import warp
    from .models.denoise_temporal import neighbour_flows

    e = exposure.view(-1, 1, 1, 1)
    flow = neighbour_flows(vector)["prev"]

    def change(now, before):
        shown_now, shown_before = (srgb_encode_torch((x * e).clamp(0, 1)) for x in (now, before))
        return shown_now - warp(shown_before, flow)

    return (change(pred, earlier_pred) - change(target, earlier_target)).abs().mean()
