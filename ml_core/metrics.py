"""Image metrics of the evaluation protocol (shared by every benchmark so numbers compare across issues).

Colour renders are compared after the protocol's tone map (``addon.runtime.color.tonemap``) with the
*reference's* exposure applied to both images, so a method cannot gain by shifting brightness.
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
