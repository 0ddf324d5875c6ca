"""Other denoisers, run on the same inputs as ours so a benchmark compares like with like.

Each peer takes linear HDR colour, albedo and camera-space normal (H x W x 3 float32, the noisy render's own
passes) and returns linear HDR colour; given the same inputs as ours, albedo and normal may be None (left out:
OIDN then denoises colour alone, or colour and albedo), and ``hdr=False`` makes OIDN treat the colour as LDR,
linear [0, 1] (an 8-bit image decoded from sRGB):

- ``blender-oidn``: Blender's built-in OIDN through the compositor's Denoise node, exactly what an artist gets
  (``prefilter`` Accurate cleans albedo and normal first; Fast does not).
- ``pyoidn``: OIDN 2.5 called directly (the library Blender embeds), if the ``pyoidn`` wheel is installed.
- ``opencv-nlm``: OpenCV's non-local means on the tone-mapped image, the classic non-learned baseline.

And the classic colorizer the colorize benchmark compares with: :func:`levin_colorize`, hint propagation by
optimisation (Levin, Lischinski and Weiss 2004), on display (sRGB) images.
"""
from __future__ import annotations

import numpy as np

from addon.runtime.color import exposure_scale, srgb_decode, tonemap
from ml_core import blender

#: Blender's compositor Denoise node (``ml_core.blender``, where the training data's sidecars are made with it)
BlenderOIDN = blender.BlenderOIDN


def opencv_nlm(color: np.ndarray, albedo=None, normal=None, strength: float = 6.0) -> np.ndarray:
    """Non-local means in tone-mapped 8-bit space, mapped back to linear with the same exposure."""
    import cv2

    scale = exposure_scale(color)
    ldr = (tonemap(color, scale) * 255 + 0.5).astype(np.uint8)
    out = cv2.fastNlMeansDenoisingColored(ldr, None, strength, strength, 5, 15)
    return srgb_decode(out.astype(np.float32) / 255) / scale


def pyoidn_available() -> bool:
    try:
        import pyoidn  # noqa: F401
    except ImportError:
        return False
    return True


def pyoidn_denoise(color: np.ndarray, albedo: np.ndarray | None = None, normal: np.ndarray | None = None,
                   quality: str = "high", hdr: bool = True) -> np.ndarray:
    """OIDN 2.5 (``pyoidn``) on the inputs given: colour clamped at 0 (at 1 too for LDR), albedo to [0, 1]."""
    import pyoidn

    return pyoidn.denoise(np.ascontiguousarray(np.clip(color, 0, None if hdr else 1), np.float32),
                          None if albedo is None else np.ascontiguousarray(np.clip(albedo, 0, 1), np.float32),
                          None if normal is None else np.ascontiguousarray(normal, np.float32), hdr=hdr,
                          quality=quality)


# ----------------------------------------------------------------------------------------------------------
# Colorization: Levin et al. 2004, "Colorization using optimization"
# ----------------------------------------------------------------------------------------------------------
#: BT.601 YUV of (s)RGB, as in Levin's reference code (YIQ there: the same chroma plane up to a linear map,
#: and the propagation is linear, so both give the same colours).
_RGB_TO_UV = np.array([[-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]], np.float64)
_UV_TO_RGB = np.array([[0.0, 1.13983], [-0.39465, -0.58060], [2.03211, 0.0]], np.float64)


def levin_colorize(gray: np.ndarray, hints: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray:
    """Spread colour hints over a grey image by Levin et al.'s optimisation; all display-referred (sRGB [0, 1]).

    ``gray``: H x W (or H x W x 1) intensity, used as Y. ``hints``: H x W x 3 colours, read where ``mask``
    (H x W or H x W x 1) is > 0.5. Each unhinted pixel's chroma (U, V) is the weighted mean of its 3x3
    neighbours', weights exp(-(Y_r - Y_s)^2 / sigma_r^2) with sigma_r^2 from the window's variance (0.6 x, as the
    reference code), hinted pixels keep their hint's chroma; the sparse system is solved once per channel
    (scipy, SuperLU). Returns H x W x 3 in [0, 1]; with no hints, the grey image as RGB.
    """
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import splu

    y = np.asarray(gray, np.float64)
    y = y[..., 0] if y.ndim == 3 else y
    h, w = y.shape
    fixed = np.zeros((h, w), bool) if mask is None else np.asarray(mask).reshape(h, w) > 0.5
    if hints is None or not fixed.any():
        return np.repeat(np.clip(y, 0.0, 1.0)[..., None], 3, -1).astype(np.float32)
    uv_hint = np.asarray(hints, np.float64)[..., :3] @ _RGB_TO_UV.T  # H x W x 2

    n = h * w
    index = np.arange(n).reshape(h, w)
    pad = np.pad(y, 1, constant_values=np.nan)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    neighbours = np.stack([pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in offsets])  # 8 x H x W
    valid = ~np.isnan(neighbours)
    window = np.concatenate([neighbours, y[None]])
    count = valid.sum(0) + 1
    mean = np.nansum(window, 0) / count
    variance = np.nansum((window - mean) ** 2, 0) / count
    diff2 = np.where(valid, (neighbours - y) ** 2, np.inf)
    sigma = np.maximum(np.maximum(0.6 * variance, -diff2.min(0) / np.log(0.01)), 2e-6)
    weight = np.where(valid, np.exp(-np.where(valid, diff2, 0.0) / sigma), 0.0)
    weight /= weight.sum(0)

    free = ~fixed
    rows, cols, vals = [index.ravel()], [index.ravel()], [np.ones(n)]
    for k, (dy, dx) in enumerate(offsets):
        take = valid[k] & free
        ys, xs = np.nonzero(take)
        rows.append(index[ys, xs])
        cols.append(index[ys + dy, xs + dx])
        vals.append(-weight[k][take])
    a = csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    b = np.where(fixed[..., None], uv_hint, 0.0).reshape(n, 2)
    uv = splu(a).solve(b).reshape(h, w, 2)
    return np.clip(y[..., None] + uv @ _UV_TO_RGB.T, 0.0, 1.0).astype(np.float32)
