"""Image files as float32 linear arrays: EXR through OpenEXR (see ``exr.py``), PNG/JPEG/TIFF through OpenCV.

8- and 16-bit files hold sRGB-encoded colour: reading decodes it to linear and writing encodes it back (alpha
is stored linearly). 32-bit float TIFFs are linear both ways. Every reader returns an :class:`ExrImage` (a
non-EXR image has one pass, ``Combined``), so callers handle renders and textures alike. Writes are atomic.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .color import srgb_decode, srgb_encode
from .exr import PLAIN_PASS, ExrImage, ImageError, read_exr, write_exr
from .files import atomic_output

OPENCV_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
SUFFIXES = (".exr", *OPENCV_SUFFIXES)
#: Bit depths each suffix can be written with; the first is the default. 32 means float (linear).
BIT_DEPTHS = {".png": (16, 8), ".jpg": (8,), ".jpeg": (8,), ".tif": (16, 8, 32), ".tiff": (16, 8, 32)}


def read_image(path: str | os.PathLike, layer: str | None = "ViewLayer") -> ExrImage:
    """Read an image file; an EXR keeps every pass of ``layer``, other formats give ``Combined`` (RGB(A) or Y)."""
    path = str(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".exr":
        return read_exr(path, layer)
    if suffix not in OPENCV_SUFFIXES:
        raise ImageError(path, f"unsupported image type {suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    if not os.path.isfile(path):
        raise ImageError(path, "file does not exist")
    import cv2

    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ImageError(path, "unreadable image (OpenCV cannot decode it)")
    if raw.ndim == 2:
        raw = raw[..., None]
    channels = raw.shape[2]
    if channels >= 3:
        raw = raw[..., [2, 1, 0, *range(3, channels)]]  # OpenCV's BGR(A) -> RGB(A)
    if np.issubdtype(raw.dtype, np.integer):
        arr = raw.astype(np.float32) / np.iinfo(raw.dtype).max
        colour = channels - (channels in (2, 4))  # the last of 2 or 4 channels is alpha
        arr[..., :colour] = srgb_decode(arr[..., :colour])
    else:
        arr = raw.astype(np.float32)
    return ExrImage(path, None, {PLAIN_PASS: arr}, {})


def write_image(path: str | os.PathLike, image: np.ndarray, bit_depth: int | None = None) -> None:
    """Write an H x W x C (1, 3 or 4 channels) linear image; EXR as plain float RGBA, others sRGB-encoded.

    JPEG has no alpha, so a fourth channel is dropped there.
    """
    path = str(path)
    suffix = Path(path).suffix.lower()
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if suffix == ".exr":
        write_exr(path, {PLAIN_PASS: image}, layer=None)
        return
    if suffix not in OPENCV_SUFFIXES:
        raise ImageError(path, f"unsupported image type {suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    depth = bit_depth or BIT_DEPTHS[suffix][0]
    if depth not in BIT_DEPTHS[suffix]:
        raise ImageError(path, f"cannot write {depth}-bit {suffix}; choose {' or '.join(map(str, BIT_DEPTHS[suffix]))}")
    channels = image.shape[2]
    if channels not in (1, 3, 4):
        raise ImageError(path, f"cannot write {channels} channels; expected 1, 3 or 4")
    if suffix in (".jpg", ".jpeg") and channels == 4:
        image, channels = image[..., :3], 3
    arr = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
    if depth != 32:
        colour = 3 if channels == 4 else channels
        arr = np.concatenate([srgb_encode(arr[..., :colour]), np.clip(arr[..., colour:], 0.0, 1.0)], axis=-1)
        dtype = np.uint8 if depth == 8 else np.uint16
        arr = np.round(arr * np.iinfo(dtype).max).astype(dtype)
    if channels >= 3:
        arr = arr[..., [2, 1, 0, *range(3, channels)]]  # RGB(A) -> OpenCV's BGR(A)
    import cv2

    with atomic_output(path) as tmp:
        if not cv2.imwrite(tmp, np.ascontiguousarray(arr)):
            raise ImageError(path, "OpenCV could not write it")
