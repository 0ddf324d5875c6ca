"""Image metrics of the evaluation protocol (shared by every benchmark so numbers compare across issues).

Colour renders are compared after the protocol's tone map (``addon.runtime.color.tonemap``) with the
*reference's* exposure applied to both images, so a method cannot gain by shifting brightness.

The numpy functions score one image (the benchmarks); the torch twins below score a training batch the same way
(tone map at the target's exposure, clip, sRGB), one PSNR per sample, averaged: validation PSNR in training.
"""
from __future__ import annotations

import numpy as np

from addon.runtime.color import exposure_scale, tonemap


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=-1 if a.ndim == 3 else None, data_range=1.0))


def relmse(estimate: np.ndarray, reference: np.ndarray, eps: float = 1e-2) -> float:
    """Relative MSE on linear HDR: mean((x - y)^2 / (y^2 + eps))."""
    x, y = estimate[..., :3].astype(np.float64), reference[..., :3].astype(np.float64)
    return float(np.mean((x - y) ** 2 / (y**2 + eps)))


def render_metrics(estimate: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Tone-mapped PSNR/SSIM and linear relMSE of an HDR render against its reference."""
    scale = exposure_scale(reference[..., :3])
    a, b = tonemap(estimate, scale), tonemap(reference, scale)
    return {"psnr": psnr(a, b), "ssim": ssim(a, b), "relmse": relmse(estimate, reference)}


# ----------------------------------------------------------------------------------------------------------
# The same protocol on torch batches (N x C x H x W), for training's validation and losses. torch is imported
# on the first call, so the numpy benchmarks that import this module do not load it.
# ----------------------------------------------------------------------------------------------------------
def exposure_of(image, key: float = 0.18):
    """Per-sample twin of ``addon.runtime.color.exposure_scale`` (N x C x H x W -> N)."""
    import torch

    lum = (image[:, :3] * image.new_tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)).sum(1).clamp_min(0)
    log_avg = torch.exp(torch.log(lum + 1e-4).mean(dim=(1, 2)))
    return torch.where(lum.amax(dim=(1, 2)) > 0, key / log_avg.clamp_min(1e-4), torch.ones_like(log_avg))


def srgb_encode_torch(x):
    """The sRGB transfer function on a tensor of linear values in [0, 1] (``addon.runtime.color.srgb_encode``)."""
    import torch

    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(1e-8) ** (1 / 2.4) - 0.055)


def tonemapped_psnr(pred, target) -> float:
    """The tone-mapped PSNR of :func:`render_metrics` on an HDR batch: each sample tone-mapped at its target's
    exposure (clip, sRGB), PSNR per sample, averaged (the MSE floored at 1e-10, i.e. 100 dB)."""
    import torch

    e = exposure_of(target).view(-1, 1, 1, 1)

    def tm(x):
        return srgb_encode_torch((x * e).clamp(0, 1))

    mse = ((tm(pred) - tm(target)) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return float((10 * torch.log10(1 / mse)).mean())


def display_psnr(pred, target) -> float:
    """PSNR of display-referred ([0, 1], e.g. sRGB) images, per sample then averaged (``pred`` clipped)."""
    import torch

    mse = ((pred.clamp(0, 1) - target) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return float((10 * torch.log10(1 / mse)).mean())
