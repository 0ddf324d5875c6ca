"""Image files as float32 linear arrays: EXR through OpenEXR (see ``exr.py``), PNG/JPEG/TIFF through OpenCV.

8- and 16-bit files hold sRGB-encoded colour: reading decodes it to linear and writing encodes it back (alpha
is stored linearly). Float TIFFs (32- or 64-bit) are linear both ways, written back as 32-bit float; integer
samples other than 8- and 16-bit unsigned have no agreed range and are refused. Every reader returns an
:class:`ExrImage` (a non-EXR image has one pass, ``Combined``, and its file's ``bit_depth``), so callers handle
renders and textures alike. Grey images read as one channel and write as one (OpenCV writes no grey + alpha: that becomes RGBA).
Writes are atomic and checked (:func:`~addon.runtime.exr.image_output`); :func:`file_problem` tells whether a
file on disk is a complete image, cheaply (``--skip-existing`` trusts only those).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .color import srgb_decode, srgb_encode
from .exr import PLAIN_PASS, ExrImage, ImageError, exr_pass_names, exr_problem, image_output, \
    library_output_swallowed, read_exr, write_exr
from .files import write_failure

OPENCV_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
SUFFIXES = (".exr", *OPENCV_SUFFIXES)
#: Bit depths each suffix can be written with; the first is the default. 32 means float (linear).
BIT_DEPTHS = {".png": (16, 8), ".jpg": (8,), ".jpeg": (8,), ".tif": (16, 8, 32), ".tiff": (16, 8, 32)}
#: EXR results are always written as 32-bit float.
EXR_BIT_DEPTHS = (32,)


def check_output(path: str | os.PathLike, bit_depth: int | None = None) -> None:
    """Refuse, before anything runs, an output file this module cannot write: no suffix, an unsupported one,
    or a bit depth its format does not have (an ImageError naming ``path``)."""
    suffix = Path(path).suffix.lower()
    if not suffix or suffix[1:].isdigit():  # "out" or "out.1001" (from the pattern out.####)
        raise ImageError(path, f"no image type suffix; end the name with one of {', '.join(SUFFIXES)}")
    if suffix not in SUFFIXES:
        raise ImageError(path, f"unsupported image type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    if bit_depth is None:
        return
    if suffix == ".exr":
        if bit_depth not in EXR_BIT_DEPTHS:
            raise ImageError(path, f"EXR results are written as 32-bit float, not {bit_depth}-bit "
                                   "(--bit-depth is for .png, .tif and .jpg)")
    elif bit_depth not in BIT_DEPTHS[suffix]:
        raise ImageError(path, f"cannot write {bit_depth}-bit {suffix}; choose "
                               f"{' or '.join(map(str, BIT_DEPTHS[suffix]))}")


def output_bit_depth(path: str | os.PathLike, bit_depth: int | None, source_bit_depth: int | None) -> int | None:
    """The bit depth ``path`` is written with: ``bit_depth`` when given, else the source file's when the
    output format has it (a 16-bit PNG texture stays 16-bit, an 8-bit one 8-bit), else the format's default."""
    if bit_depth is not None:
        return bit_depth
    depths = BIT_DEPTHS.get(Path(path).suffix.lower(), ())
    return source_bit_depth if source_bit_depth in depths else None


def source_range_of(image: ExrImage) -> str:
    """``"ldr"`` for an 8- or 16-bit file (sRGB-encoded, display-referred [0, 1]), else ``"hdr"`` (EXR, float
    TIFF): the range ``Registry.choice`` picks a model for and the runtime clips an ``ldr`` result back to."""
    return "ldr" if image.bit_depth in (8, 16) else "hdr"


def read_image(path: str | os.PathLike, layer: str | None = "ViewLayer", keep_parts: bool = False) -> ExrImage:
    """Read an image file; an EXR keeps every pass of ``layer``, other formats give ``Combined`` (RGB(A) or Y).
    ``keep_parts``: an EXR also keeps its decoded parts, to be written back without a second decode
    (:func:`~addon.runtime.exr.read_exr`)."""
    path = str(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".exr":
        return read_exr(path, layer, keep_parts=keep_parts)
    if suffix not in OPENCV_SUFFIXES:
        raise ImageError(path, f"unsupported image type {suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    if not os.path.isfile(path):
        raise ImageError(path, "file does not exist")
    if os.path.getsize(path) == 0:
        raise ImageError(path, "empty file (0 bytes)")
    import cv2

    with library_output_swallowed():  # libpng/libtiff print their complaints about a bad file on stderr
        raw = cv2.imread(path, _imread_flags(suffix))
    if raw is None:
        raise ImageError(path, "unreadable image (OpenCV cannot decode it)")
    if raw.ndim == 2:
        raw = raw[..., None]
    channels = raw.shape[2]
    if channels >= 3:
        raw = raw[..., [2, 1, 0, *range(3, channels)]]  # OpenCV's BGR(A) -> RGB(A)
    bits = raw.dtype.itemsize * 8
    if raw.dtype in (np.uint8, np.uint16):
        arr = raw.astype(np.float32) / np.iinfo(raw.dtype).max
        colour = channels - (channels in (2, 4))  # the last of 2 or 4 channels is alpha
        arr[..., :colour] = srgb_decode(arr[..., :colour])
        depth = bits
    elif np.issubdtype(raw.dtype, np.integer):
        # 32-bit or signed integer TIFF samples have no range images agree on (sRGB over 0..2^31 would make a
        # 0..999 image black; taken as linear values it would be 999 times too bright): refused, not guessed
        kind = f"{bits}-bit {'signed ' if raw.dtype.kind == 'i' else ''}integer"
        raise ImageError(path, f"{kind} samples have no defined colour range; save it as 8- or 16-bit or as float")
    else:  # float16/32/64: linear values, never clipped, written back as 32-bit float where the format has it
        arr = raw.astype(np.float32)
        depth = 32
    return ExrImage(path, None, {PLAIN_PASS: arr}, {}, bit_depth=depth)


def _imread_flags(suffix: str) -> int:
    """How OpenCV decodes a file of ``suffix``: as stored (alpha, 16-bit, float), which ignores EXIF
    orientation; a JPEG (no alpha, 8-bit) turned upright as its EXIF orientation says, as viewers show it (a
    camera stores a portrait photo sideways), since every result is written without that tag."""
    import cv2

    if suffix in (".jpg", ".jpeg"):
        return cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH  # grey stays one channel
    return cv2.IMREAD_UNCHANGED


def pass_names(path: str | os.PathLike, layer: str | None = "ViewLayer") -> set[str]:
    """The passes :func:`read_image` would give of ``path``, without reading pixels: an EXR's from its headers
    (of ``layer``), another image's ``Combined``. An ImageError when the file is missing or is no EXR."""
    path = str(path)
    if Path(path).suffix.lower() == ".exr":
        return exr_pass_names(path, layer)
    if not os.path.isfile(path):
        raise ImageError(path, "file does not exist")
    return {PLAIN_PASS}


def write_image(path: str | os.PathLike, image: np.ndarray, bit_depth: int | None = None) -> None:
    """Write an H x W x C (1 to 4 channels) linear image; EXR as plain float Y / YA / RGB / RGBA, others
    sRGB-encoded (``bit_depth``: default the format's first in :data:`BIT_DEPTHS`).

    JPEG has no alpha, so alpha is dropped there; grey + alpha (2 channels) becomes RGBA in PNG and TIFF.
    """
    path = str(path)
    suffix = Path(path).suffix.lower()
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if suffix == ".exr":
        write_exr(path, {PLAIN_PASS: image}, layer=None)
        return
    check_output(path, bit_depth)
    depth = bit_depth or BIT_DEPTHS[suffix][0]
    channels = image.shape[2]
    if channels not in (1, 2, 3, 4):
        raise ImageError(path, f"cannot write {channels} channels; expected 1 (grey), 2 (grey, alpha), 3 or 4")
    if suffix in (".jpg", ".jpeg") and channels in (2, 4):
        image, channels = image[..., :channels - 1], channels - 1
    if channels == 2:  # OpenCV writes no grey + alpha
        image, channels = np.concatenate([image[..., :1]] * 3 + [image[..., 1:]], axis=-1), 4
    arr = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
    if depth != 32:
        colour = 3 if channels == 4 else channels
        arr = np.concatenate([srgb_encode(arr[..., :colour]), np.clip(arr[..., colour:], 0.0, 1.0)], axis=-1)
        dtype = np.uint8 if depth == 8 else np.uint16
        arr = np.round(arr * np.iinfo(dtype).max).astype(dtype)
    if channels >= 3:
        arr = arr[..., [2, 1, 0, *range(3, channels)]]  # RGB(A) -> OpenCV's BGR(A)
    import cv2

    # OpenCV stores a 3-channel float TIFF as LogLuv (SGILOG) unless told otherwise: lossy (about 1%), and
    # negative values lost. Deflate is lossless, and what Nuke and Photoshop write for float TIFFs.
    params = [cv2.IMWRITE_TIFF_COMPRESSION, cv2.IMWRITE_TIFF_COMPRESSION_ADOBE_DEFLATE] \
        if depth == 32 and suffix in (".tif", ".tiff") else []
    with image_output(path) as tmp:
        if not cv2.imwrite(tmp, np.ascontiguousarray(arr), params):
            raise ImageError(path, f"cannot write: {write_failure(path) or 'OpenCV could not write it'}")


def file_problem(path: str | os.PathLike, thorough: bool = True) -> str | None:
    """Why ``path`` is no complete image file (a few words), or None; cheap, without decoding big files.

    Every format: it exists and is not empty. EXR: its headers and chunk offset tables are whole and every
    chunk lies inside the file (:func:`~addon.runtime.exr.exr_problem`), which catches a file cut off anywhere.
    PNG: the signature, and the IEND chunk that closes every complete PNG at its very end. JPEG: the start and
    end-of-image markers. TIFF: its byte-order mark, then (``thorough``) OpenCV decodes it.
    """
    path = str(path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        return "file does not exist" if not os.path.exists(path) else f"cannot read it ({exc.strerror or exc})"
    if size == 0:
        return "empty file (0 bytes)"
    suffix = Path(path).suffix.lower()
    if suffix == ".exr":
        return exr_problem(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(max(0, size - 12))
            tail = f.read(12)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if suffix == ".png":
        if head != b"\x89PNG\r\n\x1a\n":
            return "not a PNG file (no PNG signature)"
        return None if tail == b"\x00\x00\x00\x00IEND\xaeB`\x82" else "truncated PNG file (no IEND chunk at its end)"
    if suffix in (".jpg", ".jpeg"):
        if not head.startswith(b"\xff\xd8"):
            return "not a JPEG file (no start-of-image marker)"
        return None if b"\xff\xd9" in tail else "truncated JPEG file (no end-of-image marker)"
    if suffix in (".tif", ".tiff") and not head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "not a TIFF file (no byte-order mark)"
    if not thorough:
        return None
    import cv2

    with library_output_swallowed():
        decoded = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return None if decoded is not None else "unreadable image (OpenCV cannot decode it)"
