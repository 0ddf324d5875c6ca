"""Automatic colour: what ``colorize`` keeps of the network's colour when no hint is given.

Measured (docs/benchmarks.md, "Automatic colour"): without hints the shipped colorizer gives every pixel of every
image the same chromaticity, relative chroma ``rgb / Y - 1`` of about (-0.064, +0.024, -0.046), a yellow-green
tint, pulled towards grey only where the pixel is too bright to hold it. It is what the network gives a flat
grey image: its prior (the training renders' average colour), not evidence about the image. Everything the
network's no-hint colour does to PSNR is that tint, to within 0.006 dB per image: it helps images whose colours
happen to lean that way (our renders, landscapes) and costs images that lean another (portraits, warm interiors),
0.12 to 0.21 dB below the grey image on average on three photo sets and the authored renders.

So automatic colour keeps only the colour the network gives this image beyond its prior:

1. the prior: the network's relative chroma on a flat grey image (:func:`prior_tint`, one small run per model);
2. the evidence: the result less the prior's colour at the same luminance, gamut-mapped as the network maps its
   own colour (pulled towards grey along constant luminance as far as [0, 1] needs);
3. when the evidence's luminance-weighted RMS relative chroma is below :data:`MIN_COLOUR`, there is no colour to
   place: the result is the grey image's colours, and a note (:data:`GREY_NOTE`) says so;
4. otherwise the grey image plus :data:`GAIN` times the evidence, pulled towards grey per pixel as far as needed
   to stay inside [0, 1], along constant luminance, so the result keeps the luminance ``Y`` of the network's
   result, which is the input's (to float rounding).

:data:`GAIN` and :data:`MIN_COLOUR` were fitted on this project's renders only (the val split and the
natural-palette val split; ``python -m bench colorize --fit-auto``), then checked on photos and on renders never
trained on (``python -m bench colorize``). With the shipped model no image of any set has evidence above 0.001,
so every no-hint result is the grey image. Hinted results never come here: with a hint the network's colour is
used as it is.

Numpy only (no torch, no bpy), like the whole runtime.
"""
from __future__ import annotations

import threading

import numpy as np

from .color import luminance

#: Scale of the evidence kept (fitted on renders: val + palette_val).
GAIN = 1.0
#: Below this luminance-weighted RMS relative chroma of the evidence, the result is the grey image (fitted on
#: renders: the largest threshold that costs them nothing).
MIN_COLOUR = 0.02
#: The note of a result that is the grey image: the same words every time, so a batch counts its frames.
GREY_NOTE = ("no hints, and no colour the model can place in this image: the result is the grey image's colours "
             "(give colour hints to colour it)")
#: The flat image the prior is measured on: side (pixels), linear grey level, and the border left out (padding).
PRIOR_SIZE, PRIOR_GREY, PRIOR_BORDER = 64, 0.18, 16

_priors: dict[str, np.ndarray] = {}
_lock = threading.Lock()


def is_automatic(inputs: dict) -> bool:
    """True when a colorize run has no hint: no ``mask``, or a mask with no pixel above 0."""
    mask = inputs.get("mask")
    return mask is None or not np.any(np.asarray(mask) > 0)


def prior_tint(model) -> np.ndarray:
    """The relative chroma (3 values) a colorize ``model`` (``addon.runtime.engine.Model``) gives a flat grey
    image without hints: its colour when it recognises nothing. Measured once per model file."""
    key = model.entry.sha256
    with _lock:
        if key not in _priors:
            flat = np.full((PRIOR_SIZE, PRIOR_SIZE, 1), PRIOR_GREY, np.float32)
            out = model.run({"gray": flat}, tile_size=None).image[..., :3]
            b = PRIOR_BORDER
            centre = out[b:-b, b:-b].reshape(-1, 3).astype(np.float64)
            y = centre @ np.array([0.2126, 0.7152, 0.0722])
            _priors[key] = ((centre - y[:, None]) / y[:, None]).mean(0).astype(np.float32)
        return _priors[key]


def tint_at(y: np.ndarray, tint: np.ndarray) -> np.ndarray:
    """Linear colour of relative chroma ``tint`` at luminance ``y`` (H x W), gamut-mapped as the network maps its
    own colour (``ml_core.models.colorize_unet.compose``): pulled towards grey as far as [0, 1] needs."""
    y = np.clip(np.asarray(y, np.float32), 0.0, 1.0)
    chroma = y[..., None] * np.asarray(tint, np.float32)
    return y[..., None] + fit_gamut(y, chroma)[..., None] * chroma


def evidence(image: np.ndarray, tint: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(luminance Y, H x W; the chroma beyond the prior ``tint``, H x W x 3, zero luminance; its
    luminance-weighted RMS relative chroma) of a linear RGB image (more channels after RGB are ignored)."""
    rgb = np.asarray(image, np.float32)[..., :3]
    y = luminance(rgb)
    extra = rgb - tint_at(y, tint)
    extra -= luminance(extra)[..., None]  # zero luminance to float rounding (the weights sum to 1)
    total = float(np.sum(y, dtype=np.float64))
    if not total > 0:  # black (or empty): no colour to place
        return y, np.zeros_like(extra), 0.0
    # sum over pixels of Y |extra / Y|^2 is sum |extra|^2 / Y; pixels without luminance have no chroma either
    with np.errstate(divide="ignore", invalid="ignore"):
        energy = np.where(y > 0, np.sum(extra * extra, -1) / y, 0.0)
    return y, extra, float(np.sqrt(np.sum(energy, dtype=np.float64) / total))


def automatic_colour(image: np.ndarray, tint: np.ndarray, gain: float = GAIN, min_colour: float = MIN_COLOUR
                     ) -> tuple[np.ndarray, str | None]:
    """The automatic-colour result of the network's no-hint result ``image`` (linear RGB, alpha or more channels
    after it kept as they are) given the network's prior ``tint`` (:func:`prior_tint`), and its note (None, or
    :data:`GREY_NOTE` when it is the grey image)."""
    image = np.asarray(image, np.float32)
    y, extra, colour = evidence(image, tint)
    out = image.copy()
    if colour < min_colour or gain <= 0:
        out[..., :3] = y[..., None]
        return out, GREY_NOTE
    chroma = gain * extra
    out[..., :3] = y[..., None] + fit_gamut(y, chroma)[..., None] * chroma
    return out, None


def fit_gamut(y: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """The largest t in [0, 1] per pixel with ``y + t * chroma`` inside [0, 1] in every channel (H x W)."""
    y = np.clip(y, 0.0, 1.0)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(chroma > 0, (1.0 - y) / chroma, np.where(chroma < 0, y / -chroma, np.inf))
    return np.clip(np.min(room, -1), 0.0, 1.0).astype(np.float32)
