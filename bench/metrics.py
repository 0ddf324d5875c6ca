"""Benchmark-only image metrics, beside the protocol's ``ml_core.metrics`` (which training shares):

- :func:`hdr_flip`: NVIDIA's HDR-FLIP (``flip-evaluator``, imported on the first call) of a linear HDR render
  against its reference, the mean of its per-pixel error map (0 = identical, lower is better). HDR-FLIP picks
  its own exposure range from the reference and tone-maps (ACES) several exposures, so it needs no exposure
  from us and sees errors in the highlights and the shadows that one tone-mapped PSNR weighs little.
- :func:`periodicity`: the structured-artefact check. A plain dim wall denoised with a regular grid (period
  about 8 px) scores badly on no mean metric; this finds the flat regions of the reference
  (:func:`flat_windows`), takes the tone-mapped residual (output - reference) there and reports the strongest
  periodic peak of its power spectrum (periods 2..16 px) against the spectrum's median at that frequency, in dB.
- :func:`flat_regions`: the flattest and the dimmest regions of a reference, for the 1:1 crop grids.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

#: flat windows: std of the tone-mapped reference (sRGB-encoded [0, 1], per channel, a plane fit removed)
#: below this (about 6/255: a plain wall's noise-free shading passes, any texture or edge does not)
FLAT_THRESHOLD = 0.025
#: the periodicity check's window (px): 32 resolves periods 2..16 px (radius 2..16 frequency bins)
WINDOW = 32
#: the periods (px) the check looks for
PERIODS = (2.0, 16.0)


def hdr_flip(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Mean HDR-FLIP error of linear HDR ``estimate`` against ``reference`` (H x W x >= 3; negatives and NaN
    clipped to 0, as HDR-FLIP takes non-negative linear sRGB). Lower is better."""
    import flip_evaluator as flip

    def prepare(a: np.ndarray) -> np.ndarray:
        a = np.nan_to_num(np.asarray(a)[..., :3], nan=0.0, posinf=0.0, neginf=0.0)
        return np.ascontiguousarray(np.maximum(a, 0.0), np.float32)

    _, mean, _ = flip.evaluate(prepare(reference), prepare(estimate), "HDR", applyMagma=False,
                               computeMeanError=True)
    return float(mean)


# ----------------------------------------------------------------------------------------------------------
# Flat regions of a reference
# ----------------------------------------------------------------------------------------------------------
def _window_stats(image: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-left corners (K x 2), detrended std (the largest over channels) and mean luminance of every
    ``size`` px window of ``image`` (H x W x C, display-referred) on a ``stride`` px grid."""
    from numpy.lib.stride_tricks import sliding_window_view

    h, w = image.shape[:2]
    size = min(size, h, w)
    img = np.asarray(image, np.float32)
    img = img[..., None] if img.ndim == 2 else img[..., :3]
    ys, xs = np.arange(0, h - size + 1, stride), np.arange(0, w - size + 1, stride)
    views = sliding_window_view(img, (size, size), axis=(0, 1))[ys][:, xs]  # ny x nx x C x size x size
    flat = views.reshape(len(ys) * len(xs), img.shape[-1], size * size)
    yy, xx = np.mgrid[:size, :size].reshape(2, -1) / max(size - 1, 1) - 0.5
    basis = np.linalg.qr(np.stack([np.ones(size * size), yy, xx], 1))[0].astype(np.float32)  # a plane: shading
    detrended = flat - (flat @ basis) @ basis.T
    std = np.sqrt((detrended ** 2).mean(-1)).max(-1)
    mean = flat.mean(-1)
    lum = mean @ np.array([0.2126, 0.7152, 0.0722]) if mean.shape[-1] == 3 else mean[:, 0]
    corners = np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)
    return corners, std, lum


def flat_windows(reference_tm: np.ndarray, size: int = WINDOW, threshold: float = FLAT_THRESHOLD,
                 stride: int | None = None) -> np.ndarray:
    """Top-left (y, x) corners (K x 2) of the ``size`` px windows (every ``stride`` px, default half a window)
    where the tone-mapped reference is flat: std per channel, once a plane (smooth shading) is removed, below
    ``threshold``. Dim regions are flat here too: their tone-mapped values, and so their std, are small."""
    corners, std, _ = _window_stats(reference_tm, size, stride or max(size // 2, 1))
    return corners[std < threshold]


def flat_regions(reference_tm: np.ndarray, size: int = 64, count: int = 2,
                 threshold: float = FLAT_THRESHOLD) -> dict[str, list[tuple[int, int]]]:
    """The ``count`` flattest and the ``count`` dimmest ``size`` px regions (top-left (y, x); not overlapping
    within a kind) of a tone-mapped reference, for 1:1 crops. "dim": the lowest mean luminance among the
    flat-ish windows (std below twice ``threshold``) that are not black (mean > 0.02), else among all."""
    corners, std, lum = _window_stats(reference_tm, size, max(size // 2, 1))
    size = min(size, *reference_tm.shape[:2])

    def pick(order: np.ndarray) -> list[tuple[int, int]]:
        chosen: list[tuple[int, int]] = []
        for k in order:
            y, x = (int(v) for v in corners[k])
            if all(abs(y - cy) >= size or abs(x - cx) >= size for cy, cx in chosen):
                chosen.append((y, x))
            if len(chosen) == count:
                break
        return chosen

    dim = np.flatnonzero((std < 2 * threshold) & (lum > 0.02))
    dim = dim[np.argsort(lum[dim], kind="stable")] if dim.size else np.argsort(lum, kind="stable")
    return {"flat": pick(np.argsort(std, kind="stable")), "dim": pick(dim)}


# ----------------------------------------------------------------------------------------------------------
# Periodicity of the residual
# ----------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _plane_basis(size: int) -> np.ndarray:
    """An orthonormal basis (size^2 x 3) of the planes a + b y + c x over a size x size window."""
    yy, xx = np.mgrid[:size, :size].reshape(2, -1) / max(size - 1, 1) - 0.5
    return np.linalg.qr(np.stack([np.ones(size * size), yy, xx], 1))[0]


@lru_cache(maxsize=8)
def _round_hann(size: int) -> np.ndarray:
    """A circular Hann window: its leakage is the same in every direction, so smooth content does not leak
    along the axes into a cross of false peaks, as a separable window's does."""
    g = np.arange(size) - (size - 1) / 2
    r = np.hypot(*np.meshgrid(g, g, indexing="ij")) / (size / 2)
    return np.where(r < 1, 0.5 * (1 + np.cos(np.pi * r)), 0.0)


def power_spectrum(residual: np.ndarray, corners: np.ndarray, size: int = WINDOW) -> np.ndarray:
    """The mean power spectrum (size x size, FFT order) of ``residual`` (H x W or H x W x C) over the windows
    at ``corners``: from each window (each channel) a plane fit removed (the mean and a gradient: a blotch's
    slope), a circular Hann window applied; power summed over channels, averaged over windows."""
    r = np.asarray(residual, np.float64)
    r = r[..., None] if r.ndim == 2 else r
    basis, window = _plane_basis(size), _round_hann(size)
    total = np.zeros((size, size))
    for y, x in corners:
        tile = r[y:y + size, x:x + size].reshape(size * size, -1)
        tile = (tile - basis @ (basis.T @ tile)).reshape(size, size, -1) * window[..., None]
        total += (np.abs(np.fft.fft2(tile, axes=(0, 1))) ** 2).sum(-1)
    return total / max(len(corners), 1)


@lru_cache(maxsize=8)
def _rings(size: int, periods: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the spectral peak: the band's bins (flat indices), each one's comparison bins (flat indices, -1
    padded: the bins within half a bin of its exact radius, less the 3 x 3 bins around it and around its
    mirror, a peak's own main lobe), and every bin's radius (bins) and band mask."""
    f = np.fft.fftfreq(size) * size
    ky, kx = (a.ravel() for a in np.meshgrid(f, f, indexing="ij"))
    radius = np.hypot(ky, kx)
    band = (radius >= size / periods[1]) & (radius <= size / periods[0])

    def near(a: float, b: float) -> np.ndarray:
        dy, dx = (ky - a + size / 2) % size - size / 2, (kx - b + size / 2) % size - size / 2
        return (np.abs(dy) <= 1) & (np.abs(dx) <= 1)

    bins = np.flatnonzero(band)
    rings = [np.flatnonzero((np.abs(radius - radius[k]) <= 0.5) & ~near(ky[k], kx[k]) & ~near(-ky[k], -kx[k]))
             for k in bins]
    padded = np.full((len(bins), max(len(r) for r in rings)), -1)
    for i, ring in enumerate(rings):
        padded[i, :len(ring)] = ring
    return bins, padded, radius.reshape(size, size), band.reshape(size, size)


def spectral_peak(power: np.ndarray, periods: tuple[float, float] = PERIODS) -> tuple[float, float]:
    """(score in dB, period in px) of the strongest periodic peak of a square power spectrum (FFT order):
    the largest ratio of a bin's power to its background among the bins of periods ``periods`` (px).

    A bin's background is the median power of the bins at its exact radial frequency (within half a bin;
    not its own 3 x 3 neighbourhood nor its mirror's), floored at the band's median power. A grid is a few
    bins far above the rest of their ring; noise, white or smooth (blotches: power falling steeply with
    frequency, which a ring of whole bins would mistake for a peak at its inner edge), is as strong as its
    ring; the floor keeps near-zero leakage (a smooth residual's high frequencies, a pure pattern's gaps) from
    counting. The period is that of the most powerful bin within 3 dB of the best score, or of its fundamental
    when that scores within 3 dB too (a line grid's harmonics are as strong as its fundamental)."""
    size = power.shape[0]
    bins, rings, radius, band = _rings(size, tuple(periods))
    flat = power.ravel()
    tiny = 1e-30
    floor = max(float(np.median(flat[bins])), tiny)
    logs = np.where(rings >= 0, np.log(flat[rings] + tiny), np.nan)
    background = np.maximum(np.exp(np.nanmedian(logs, axis=1)), floor)
    ratio = np.zeros(size * size)
    ratio[bins] = flat[bins] / background
    ratio = ratio.reshape(size, size)
    best = float(ratio.max())
    strong = band & (ratio >= best / 2)
    k = np.unravel_index(np.argmax(np.where(strong, power, -np.inf)), power.shape)
    f = np.rint(np.fft.fftfreq(size) * size).astype(int)
    for n in (4, 3, 2):  # a fundamental of the strongest bin as strong as it (a line grid's harmonics)
        if f[k[0]] % n == 0 and f[k[1]] % n == 0:
            sub = (f[k[0]] // n % size, f[k[1]] // n % size)
            if strong[sub]:
                k = sub
                break
    return float(10 * np.log10(max(best, 1e-12))), float(size / radius[k])


def periodicity(residual: np.ndarray, corners: np.ndarray, size: int = WINDOW,
                periods: tuple[float, float] = PERIODS) -> dict[str, float]:
    """The periodicity score of a (tone-mapped) residual over the flat windows at ``corners``:
    ``{"periodicity": dB, "period": px, "windows": K}``; NaN score and period with no window. Higher score
    = a more regular pattern; on white noise it stays a few dB (the spectrum's own fluctuation: fewer windows,
    a higher floor), so compare methods on the same windows (the same scene)."""
    if len(corners) == 0:
        return {"periodicity": float("nan"), "period": float("nan"), "windows": 0}
    score, period = spectral_peak(power_spectrum(residual, corners, size), periods)
    if not np.isfinite(score) or score <= 0:
        period = float("nan")
    return {"periodicity": score, "period": period, "windows": int(len(corners))}


def residual_periodicity(estimate: np.ndarray, reference: np.ndarray, scale: float | None = None,
                         corners: np.ndarray | None = None, size: int = WINDOW) -> dict[str, float]:
    """:func:`periodicity` of linear HDR ``estimate`` against ``reference``, both tone-mapped at the
    reference's exposure (``scale``; computed when None) as in ``ml_core.metrics.render_metrics``; the flat
    windows of the reference unless ``corners`` are given (pass them to score several methods on one scene)."""
    from addon.runtime.color import exposure_scale, tonemap

    scale = exposure_scale(reference[..., :3]) if scale is None else scale
    ref = tonemap(reference, scale)
    corners = flat_windows(ref, size) if corners is None else corners
    return periodicity(tonemap(estimate, scale) - ref, corners, size)
