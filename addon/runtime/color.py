"""Colour transfer at the IO boundary, and the one tone map every preview and metric uses.

Renders are linear scene-referred Rec.709, HDR and unclamped; 8-bit textures and photos are sRGB-encoded.
The evaluation protocol (shared by every benchmark so numbers compare): normalise exposure, clip to [0, 1],
sRGB-encode. :func:`display_8bit` is that tone map quantised: a render as an artist saves it as an 8-bit image.
"""
from __future__ import annotations

import numpy as np


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear [0, 1] -> sRGB-encoded [0, 1] (IEC 61966-2-1 piecewise curve)."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0, 1] -> linear [0, 1]."""
    x = np.clip(encoded, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4)).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec.709 relative luminance of linear RGB, H x W."""
    return (rgb[..., :3] @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)).astype(np.float32)


def exposure_scale(rgb: np.ndarray, key: float = 0.18) -> float:
    """One scale per image that maps its log-average luminance to middle grey (Reinhard's key).

    Used for previews, metrics and as the HDR models' exposure input, so tiles of one image agree.
    """
    lum = luminance(np.nan_to_num(rgb, nan=0.0, posinf=0.0, neginf=0.0))
    lum = np.maximum(lum, 0.0)
    if not lum.size or lum.max() <= 0:
        return 1.0
    log_avg = float(np.exp(np.mean(np.log(lum + 1e-4))))
    return key / max(log_avg, 1e-4)


def tonemap(rgb: np.ndarray, scale: float | None = None) -> np.ndarray:
    """The protocol's tone map: exposure-normalise (by ``scale``, or this image's own), clip, sRGB-encode."""
    rgb = np.nan_to_num(rgb[..., :3].astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return srgb_encode(rgb * (exposure_scale(rgb) if scale is None else scale))


def display_8bit(rgb: np.ndarray, scale: float | None = None, bits: int = 8) -> np.ndarray:
    """A linear render as an artist saves it to an 8-bit PNG or JPEG: the protocol's tone map (:func:`tonemap`:
    exposure-normalised by ``scale`` (default this image's own :func:`exposure_scale`), clipped to [0, 1],
    sRGB-encoded), quantised to ``bits`` per channel. Returns the sRGB-encoded values on that grid as float32
    H x W x 3 in [0, 1]: ``srgb_decode`` of it is what reading the saved file gives (``imageio.read_image``),
    and ``np.round(x * 255)`` the file's bytes. For LDR benchmarks and, later, LDR training data: a render and
    its reference saved at one ``scale`` (the reference's) differ only by what the noise did.
    """
    levels = float(2**bits - 1)
    return (np.round(tonemap(rgb, scale) * levels) / levels).astype(np.float32)
