"""Training losses, registered by name: a config's ``"train": {"loss": NAME}`` picks one (default ``l1``).

Every loss is ``fn(pred, target, exposure) -> scalar tensor`` on N x C x H x W batches; ``exposure`` is the
per-sample scale the model's exposure input got (``ml_core.train.model_inputs``). A task's own loss can be
registered from any module training imports (its model file, say: ``ml_core.models`` imports every file of the
package) with ``@LOSSES.register("name")``; nothing here needs editing.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

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


@LOSSES.register("display_mse_linear")
def display_mse_linear(pred, target, exposure):
    """The displayed image's per-image log-MSE (as :func:`hdr_l1_display_psnr`'s display part) to first order:
    the error in linear light weighted by the display curve's slope (exposure, sRGB) at the prediction, held
    constant (detached). Per pixel its minimiser is still the target's mean, so targets with their own independent
    noise (a few-sample render of the same frame) train it as clean ones do (Noise2Noise, Lehtinen et al. 2018);
    a loss on the displayed (or log) target itself would not: the display of a noisy value does not average to
    the display of its mean. Above display white the slope falls as 0.44 / x^2 (continuous there): highlights keep
    a gradient, which the clip would zero, but a firefly in a noisy target cannot take the image's weight (a
    0.44 / x tail did: validation fell 1.4 dB in the measurement of docs/benchmarks.md, "Noisy targets")."""
    e = exposure.view(-1, 1, 1, 1)
    p, t = pred * e, target * e
    x = p.detach().clamp_min(0.0)
    slope = torch.where(x <= 0.0031308, torch.full_like(x, 12.92), 1.055 / 2.4 * x.clamp_min(0.0031308) ** (-1.4 / 2.4))
    slope = torch.where(x > 1.0, 1.055 / 2.4 / x.clamp_min(1.0).square(), slope)
    per_image = (slope * (p - t)).square().mean(dim=(1, 2, 3))
    return 0.0075 * torch.log(per_image + 1e-5).mean()


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


def ssim_terms(a, b, window: int = 7, sigma: float = 1.5, data_range: float = 1.0):
    """Per-image mean SSIM luminance x contrast-structure term and contrast-structure term alone (N-vectors) of
    N x C x H x W images in [0, ``data_range``], Gaussian-weighted windows without padding (the borders' partial
    windows would weigh padding)."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    x = torch.arange(window, dtype=a.dtype, device=a.device) - window // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = (g / g.sum())
    kernel = (g[:, None] * g[None, :]).expand(a.shape[1], 1, window, window)

    def blur(t):
        return F.conv2d(t, kernel, groups=a.shape[1])

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2, blur(a * b) - mu_a * mu_b
    cs = (2 * cov + c2) / (var_a + var_b + c2)
    lum = (2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


#: MS-SSIM's scale weights (Wang et al. 2003) for the three finest scales, renormalised: a 64-px training crop has
#: no room for the five scales of the paper (its coarsest would be 4 px)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001)


def ms_ssim(a, b):
    """Three-scale MS-SSIM per image (N-vector) of images in [0, 1] at least 28 px on a side."""
    weights = torch.tensor(MS_SSIM_WEIGHTS, dtype=a.dtype, device=a.device)
    weights = weights / weights.sum()
    result = 1.0
    for level, w in enumerate(weights):
        full, cs = ssim_terms(a, b)
        last = level == len(weights) - 1
        result = result * (full if last else cs).clamp_min(1e-6) ** w
        if not last:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return result


@LOSSES.register("hdr_l1_display_msssim")
def hdr_l1_display_msssim(pred, target, exposure):
    """Half :func:`hdr_l1`, half OIDN's training mix on the displayed image (exposure, clip, sRGB): 0.16 L1 plus
    0.84 (1 - MS-SSIM). Squared-error losses are minimised by the mean, which at 4 spp is a blur wherever the
    render hides detail in noise; MS-SSIM weighs local contrast and structure, which a blur loses (issue 30: the
    denoiser's output on hand-built scenes holds about half the reference's fine detail, OIDN's three quarters)."""
    e = exposure.view(-1, 1, 1, 1)
    shown_pred = srgb_encode_torch((pred * e).clamp(0, 1))
    shown_target = srgb_encode_torch((target * e).clamp(0, 1))
    mix = 0.16 * (shown_pred - shown_target).abs().mean() + 0.84 * (1.0 - ms_ssim(shown_pred, shown_target)).mean()
    return 0.5 * hdr_l1(pred, target, exposure) + 0.5 * mix


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
