"""OpenEXR files as Blender writes them: multi-part multilayer EXRs read and written by pass name.

Blender's multilayer EXR holds one part per pass, named ``<ViewLayer>.<Pass>`` with channels
``<ViewLayer>.<Pass>.<R|G|B|A|X|Y|Z|W>``; a single-layer EXR has plain ``R,G,B,A`` channels in one part.
Both read into ``{pass name: float32 H x W x C array}`` with components in their canonical order (OpenEXR
lists channels alphabetically, which would put a vector's W before X). bpy-free: farms use this too.
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import struct
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import atomic_output, write_failure

COMPONENT_ORDER = "RGBAXYZWUV"
#: Name given to the colour of a single-layer EXR (plain R,G,B,A channels), matching Blender's pass name.
PLAIN_PASS = "Combined"
#: The first four bytes of every OpenEXR file.
EXR_MAGIC = b"\x76\x2f\x31\x01"
log = logging.getLogger("postpass.runtime")


class ImageError(ValueError):
    """A problem with one image file; ``str()`` is one line that names the file."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def _component_key(suffix: str) -> tuple[int, str]:
    return (COMPONENT_ORDER.index(suffix) if suffix in COMPONENT_ORDER else len(COMPONENT_ORDER), suffix)


def _ordered(suffixes) -> list[str]:
    """Channel suffixes in their canonical order; a grey image's Y comes before its alpha."""
    if set(suffixes) == {"Y", "A"}:
        return ["Y", "A"]
    return sorted(suffixes, key=_component_key)


@dataclass
class ExrImage:
    """The passes of one EXR file, the layer they came from, and part 0's header (render stats, camera, ...).

    Other image files read into one too (see ``imageio.read_image``): ``bit_depth`` is then the file's bits
    per channel (8 or 16 for sRGB-encoded integers, 32 for float); None for an EXR.
    """

    path: str
    layer: str | None
    passes: dict[str, np.ndarray]
    header: dict = field(default_factory=dict)
    multilayer: bool = False  # channels named <layer>.<pass>.<component> (Blender's multilayer), not plain R,G,B,A
    bit_depth: int | None = None
    #: the file's decoded OpenEXR parts (every layer, channel and header), kept only when read with
    #: ``keep_parts`` so the result can be written back into them without decoding the file again (:func:`update_exr`)
    parts: list | None = field(default=None, repr=False, compare=False)
    #: an EXR's data window (where its pixels lie) and display window (the frame a comp shows), each
    #: (x min, y min, x max, y max), inclusive, as OpenEXR stores them; None for other image files
    data_window: tuple[int, int, int, int] | None = None
    display_window: tuple[int, int, int, int] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        first = next(iter(self.passes.values()))
        return first.shape[0], first.shape[1]

    def get(self, name: str, channels: int | None = None) -> np.ndarray:
        """One pass by name (e.g. ``"Denoising Albedo"``), checked for presence and channel count."""
        if name not in self.passes:
            have = ", ".join(sorted(self.passes)) or "none"
            raise ImageError(self.path, f"missing pass {name!r} (layer {self.layer!r}; passes here: {have})")
        arr = self.passes[name]
        if channels is not None and arr.shape[2] != channels:
            raise ImageError(self.path, f"pass {name!r} has {arr.shape[2]} channels, expected {channels}")
        return arr


# ----------------------------------------------------------------------------------------------------------
# OpenEXR's threads
# ----------------------------------------------------------------------------------------------------------
_IO_THREADS: dict = {"count": None}


def set_io_threads(count: int | None = None) -> int:
    """Give OpenEXR's process-wide thread pool ``count`` threads (None or 0: the cores this process may use,
    ``$POSTPASS_THREADS`` if set); returns the count. OpenEXR's Python module starts with none, so without this
    every ZIP chunk of a frame is inflated and deflated on one thread. Cheap to call again with the same count."""
    from .session import default_threads

    count = int(count or default_threads())
    if _IO_THREADS["count"] != count:
        import OpenEXR

        OpenEXR.set_global_thread_count(count)
        _IO_THREADS["count"] = count
    return count


def _ensure_io_threads() -> None:
    if _IO_THREADS["count"] is None:
        set_io_threads()


# ----------------------------------------------------------------------------------------------------------
# What the libraries print, and what a damaged file is
# ----------------------------------------------------------------------------------------------------------
_QUIET_LOCK = threading.Lock()
_quiet: dict = {"depth": 0, "state": None}


@contextlib.contextmanager
def library_output_swallowed():
    """Swallow what image libraries print while a file is read or written: OpenEXR prints its warnings through
    Python's ``sys.stdout`` and its C library's errors straight to file descriptor 2 (ten lines for one
    truncated file), OpenCV's codecs to fd 2. Both are redirected (Python's streams and fds 1 and 2) for the
    duration, so stdout carries only what the caller prints (``--json``) and a bad file gives one line, the
    ImageError. Nested and concurrent uses share one redirection; what was swallowed is logged at debug level.
    """
    with _QUIET_LOCK:
        if _quiet["depth"] == 0:
            state = {"streams": (sys.stdout, sys.stderr), "buffer": io.StringIO(), "fds": [], "file": None}
            try:
                _redirect(state)
            except BaseException:  # even a signal half-way: put back what was redirected
                _restore(state)
                raise
            _quiet["state"] = state
        _quiet["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet["depth"] -= 1
            if _quiet["depth"] == 0:
                _restore(_quiet["state"])
                _quiet["state"] = None


def _redirect(state: dict) -> None:
    for stream in state["streams"]:
        try:
            stream.flush()
        except Exception:  # a closed or odd stream: nothing to flush
            pass
    try:
        state["file"] = tempfile.TemporaryFile()
        for fd in (1, 2):
            saved = os.dup(fd)
            state["fds"].append((fd, saved))
            os.dup2(state["file"].fileno(), fd)
    except OSError:  # no such descriptors (a daemon): Python-level only
        pass
    sys.stdout = sys.stderr = state["buffer"]


def _restore(state: dict) -> None:
    sys.stdout, sys.stderr = state["streams"]
    for fd, saved in reversed(state["fds"]):
        os.dup2(saved, fd)
        os.close(saved)
    said = state["buffer"].getvalue()
    if state["file"] is not None:
        state["file"].seek(0)
        said += state["file"].read().decode(errors="replace")
        state["file"].close()
    if said.strip():
        log.debug("image library output: %s", said.strip().replace("\n", " | "))


#: (lines per chunk) of each scanline compression this runtime knows (OpenEXR's enum values 0..9); others are
#: checked by decoding the file.
_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_KNOWN_FORMATS = ((b"\x89PNG", "a PNG file"), (b"\xff\xd8\xff", "a JPEG file"), (b"II*\x00", "a TIFF file"),
                  (b"MM\x00*", "a TIFF file"), (b"BM", "a BMP file"))


class _Damaged(Exception):
    """What is wrong with an EXR file, found while parsing its headers and chunk table."""


def exr_problem(path: str | os.PathLike, chunks: bool = True, decode: bool = True) -> str | None:
    """What makes ``path`` no complete OpenEXR file, in a few words, or None: read from its first bytes, its
    headers and (``chunks``) its chunk offset tables, without decoding a pixel.

    Catches an empty file, another format named .exr, a file cut off in its headers or its pixels (an offset
    past the end, or the last chunk running past it) and one whose writer never filled its offset table (zero
    entries: a write that was killed or lost in a power cut). Files this parser cannot follow (deep images,
    compressions newer than DWAB) are decoded by OpenEXR instead (``decode``; else taken as whole).
    """
    path = str(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if size == 0:
                return "empty file (0 bytes)"
            head = f.read(8)
            if head[:4] != EXR_MAGIC:
                return _not_exr(head)
            if len(head) < 8:
                return f"truncated or damaged OpenEXR file (ends after {size} bytes)"
            try:
                parts = _parse_headers(f, struct.unpack("<I", head[4:])[0], size)
                if chunks:
                    known = _check_chunks(f, parts, size)
                    if not known and decode:
                        return _decode_problem(path)
            except _Damaged as exc:
                return f"truncated or damaged OpenEXR file ({exc})"
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    return None


def _not_exr(head: bytes) -> str:
    shown = " ".join(f"{b:02x}" for b in head[:4])
    what = next((f", {name}" for magic, name in _KNOWN_FORMATS if head.startswith(magic)), "")
    return f"not an OpenEXR file (starts with {shown}{what}; OpenEXR files start with 76 2f 31 01)"


def _read_exactly(f, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise _Damaged(f"{what} cut off at byte {f.tell()}")
    return data


def _read_name(f, limit: int, what: str) -> bytes:
    """A null-terminated name of at most ``limit`` bytes."""
    start = f.tell()
    data = f.read(limit + 1)
    end = data.find(b"\0")
    if end < 0:
        if len(data) <= limit:
            raise _Damaged(f"{what} cut off at byte {start + len(data)}")
        raise _Damaged(f"{what} name longer than {limit} bytes at byte {start}")
    f.seek(start + end + 1)
    return data[:end]


def _parse_headers(f, version: int, size: int) -> list[dict]:
    """Each part's attributes this check needs (type, dataWindow, compression, tiles, chunkCount)."""
    multipart, tiled, deep = bool(version & 0x1000), bool(version & 0x200), bool(version & 0x800)
    limit = 255 if version & 0x400 else 31
    parts = []
    while True:
        attrs: dict = {}
        while True:
            name = _read_name(f, limit, "header")
            if not name:
                break
            kind = _read_name(f, limit, "header")
            (length,) = struct.unpack("<i", _read_exactly(f, 4, "header"))
            if length < 0 or f.tell() + length > size:
                raise _Damaged(f"header cut off at byte {size}" if length >= 0 else "negative attribute size")
            value = _read_exactly(f, length, "header")
            if name in (b"dataWindow", b"compression", b"tiles", b"chunkCount", b"type", b"channels"):
                attrs[name.decode()] = (kind, value)
        if not multipart:
            attrs.setdefault("type", (b"string", b"deepscanline" if deep else b"tiledimage" if tiled
                                      else b"scanlineimage"))
            return [attrs]
        if not attrs:  # the empty header that ends a multi-part file's list
            if not parts:
                raise _Damaged("no part headers")
            return parts
        parts.append(attrs)


def _chunk_count(attrs: dict) -> int | None:
    """Chunks in one part's offset table, or None where this parser does not know (deep, new compressions)."""
    if "chunkCount" in attrs:
        return struct.unpack("<i", attrs["chunkCount"][1][:4])[0]
    kind = attrs["type"][1].rstrip(b"\0")
    if "dataWindow" not in attrs:
        raise _Damaged("no dataWindow in the header")
    x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"][1][:16])
    width, height = x1 - x0 + 1, y1 - y0 + 1
    if width < 1 or height < 1:
        raise _Damaged(f"data window {width}x{height}")
    if kind == b"scanlineimage":
        lines = _LINES_PER_CHUNK.get(attrs.get("compression", (b"", b"\0"))[1][0])
        return None if lines is None else -(-height // lines)
    if kind == b"tiledimage" and "tiles" in attrs:
        tile_x, tile_y, mode = struct.unpack("<IIB", attrs["tiles"][1][:9])
        return _tile_count(width, height, tile_x, tile_y, mode & 0xF, mode >> 4)
    return None


def _tile_count(width: int, height: int, tile_x: int, tile_y: int, levels: int, rounding: int) -> int | None:
    if tile_x < 1 or tile_y < 1:
        raise _Damaged(f"tile size {tile_x}x{tile_y}")

    def level_count(n: int) -> int:
        return (math.ceil if rounding else math.floor)(math.log2(n)) + 1 if n > 1 else 1

    def level_size(n: int, level: int) -> int:
        return max(1, (-(-n // 2 ** level) if rounding else n // 2 ** level))

    def tiles(w: int, h: int) -> int:
        return -(-w // tile_x) * -(-h // tile_y)

    if levels == 0:
        return tiles(width, height)
    if levels == 1:
        return sum(tiles(level_size(width, lv), level_size(height, lv))
                   for lv in range(level_count(max(width, height))))
    if levels == 2:
        return sum(tiles(level_size(width, lx), level_size(height, ly))
                   for lx in range(level_count(width)) for ly in range(level_count(height)))
    return None


def _check_chunks(f, parts: list[dict], size: int) -> bool:
    """Every offset table entry inside the file and the last chunk ending inside it; False: cannot tell."""
    counts = [_chunk_count(p) for p in parts]
    if any(c is None for c in counts):
        return False
    table_start = f.tell()
    total = sum(counts)
    if total <= 0:
        raise _Damaged("no chunks")
    if table_start + 8 * total > size:
        raise _Damaged(f"chunk offset table cut off: the file ends at byte {size}")
    offsets = np.frombuffer(_read_exactly(f, 8 * total, "chunk offset table"), dtype="<u8")
    table_end = table_start + 8 * total
    # A scanline part's table is filled when its writer closes the file: zeros mean it never did. Tiled parts
    # may legally lack tiles (OpenEXR reads incomplete tiled files; its Python writer skips mip levels).
    ends = np.cumsum(counts)
    unwritten = sum(int(np.count_nonzero(offsets[end - n:end] == 0)) for end, n, part in zip(ends, counts, parts)
                    if part["type"][1].rstrip(b"\0") == b"scanlineimage")
    if unwritten:
        raise _Damaged(f"{unwritten} of {total} chunks never written")
    written = offsets[offsets != 0]
    if not written.size:
        raise _Damaged(f"none of its {total} chunks written")
    if int(written.min()) < table_end or int(written.max()) >= size:
        raise _Damaged(f"chunk offsets point past the end of the file ({size} bytes)")
    last = int(written.max())
    at = np.searchsorted(ends, int(np.argmax(offsets)), side="right")
    kind = parts[at]["type"][1].rstrip(b"\0")
    leader = {b"scanlineimage": (8, 4), b"tiledimage": (20, 16)}.get(kind)  # (leader bytes, where the size is)
    if leader is None:  # deep data: the offsets are checked, the last chunk's size is not
        return True
    skip = 4 if len(parts) > 1 else 0  # multi-part chunks start with their part number
    f.seek(last)
    head = f.read(skip + leader[0])
    if len(head) < skip + leader[0]:
        raise _Damaged(f"last chunk cut off: the file ends at byte {size}")
    (packed,) = struct.unpack_from("<i", head, skip + leader[1])
    if packed < 0 or last + skip + leader[0] + packed > size:
        raise _Damaged(f"last chunk cut off: it needs {last + skip + leader[0] + packed} bytes, the file has {size}")
    return True


def _decode_problem(path: str) -> str | None:
    """What decoding every part finds wrong (for files the header parser cannot follow), or None."""
    try:
        _read_parts(path)
    except ImageError as exc:
        return exc.problem
    return None


def _read_parts(path: str) -> list:
    """Every part of an EXR with its pixels, or an ImageError when the file is missing, unreadable or truncated."""
    import OpenEXR

    if not os.path.isfile(path):
        raise ImageError(path, "file does not exist")
    problem = exr_problem(path, chunks=False)  # empty, not an EXR, headers cut off: say so, not "Unable to open"
    if problem:
        raise ImageError(path, problem)
    _ensure_io_threads()
    try:
        with library_output_swallowed():
            declared = [p.name() for p in OpenEXR.File(path, header_only=True).parts]
            parts = list(OpenEXR.File(path, separate_channels=True).parts)
    except Exception as exc:  # OpenEXR raises RuntimeError/OSError with multi-line texts
        detail = exr_problem(path, decode=False)
        if detail:
            raise ImageError(path, detail) from None
        raise ImageError(path, f"unreadable OpenEXR file ({_first_line(exc)})") from None
    # OpenEXR drops the parts whose pixels it cannot read (a truncated file) with only a warning on stdout;
    # the headers at the start of the file still list them, so a difference means the file is damaged.
    lost = [name for name in declared if name not in {p.name() for p in parts}]
    lost += [p.name() for p in parts if len(p.channels) != len(p.header.get("channels", p.channels))]
    if lost:
        raise ImageError(path, f"truncated or damaged OpenEXR file (cannot read {', '.join(map(str, lost))})")
    return parts


def read_exr_headers(path: str | os.PathLike) -> list:
    """Every part of an EXR, headers only (no pixels read); an ImageError for a missing, empty, foreign or
    damaged file."""
    import OpenEXR

    path = str(path)
    if not os.path.isfile(path):
        raise ImageError(path, "file does not exist")
    problem = exr_problem(path, chunks=False)
    if problem:
        raise ImageError(path, problem)
    try:
        with library_output_swallowed():
            return list(OpenEXR.File(path, header_only=True).parts)
    except Exception as exc:
        detail = exr_problem(path, decode=False) or f"unreadable OpenEXR file ({_first_line(exc)})"
        raise ImageError(path, detail) from None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _channel_name(full: str) -> tuple[str | None, str, str]:
    """(view layer or None, pass, component) of a channel name: ``ViewLayer.Vector.X``, ``Depth.Z``, ``R``."""
    pieces = full.split(".")
    if len(pieces) == 1:  # single-layer: R, G, B, A
        return None, PLAIN_PASS, pieces[0]
    if len(pieces) >= 3:
        return pieces[0], ".".join(pieces[1:-1]), pieces[-1]
    return None, pieces[0], pieces[-1]


def exr_pass_names(path: str | os.PathLike, layer: str | None = "ViewLayer") -> set[str]:
    """The passes of ``layer`` an EXR holds (as :func:`read_exr` reads them), from its headers alone: no pixel
    is read. An ImageError for a missing, empty, foreign or damaged file, and (as :func:`read_exr`) for one
    without that view layer."""
    names = set()
    channels = [channel.name for part in read_exr_headers(path) for channel in part.header.get("channels", ())]
    for full in channels:
        chan_layer, pass_name, _ = _channel_name(full)
        if chan_layer is None or layer is None or chan_layer == layer:
            names.add(pass_name)
    if not names:
        raise _no_layer(path, layer, channels)
    return names


def _no_layer(path: str | os.PathLike, layer: str | None, channels: list[str]) -> ImageError:
    """The error for an EXR none of whose ``channels`` (full names) is in view layer ``layer``: it names the
    layers the file has, so a mistyped ``--layer`` is fixed from the message alone."""
    layers = ", ".join(dict.fromkeys(_channel_name(full)[0] for full in channels)) or "no channels"
    return ImageError(path, f"no channels for view layer {layer!r}; it has {layers}")


def read_exr(path: str | os.PathLike, layer: str | None = "ViewLayer", keep_parts: bool = False) -> ExrImage:
    """Read every pass of ``layer`` (or the plain channels of a single-layer EXR) as float32 HxWxC arrays.

    ``keep_parts``: also keep the decoded file (``ExrImage.parts``: every part, channel and header), so a result
    is written back with :func:`update_exr` ``(parts=...)`` without decoding the file a second time."""
    path = str(path)
    parts = _read_parts(path)
    grouped: dict[str, dict[str, np.ndarray]] = {}
    multilayer = False
    names = []
    for part in parts:
        try:
            channels = part.channels
        except Exception as exc:
            raise ImageError(path, f"unreadable EXR part ({str(exc).splitlines()[0]})") from None
        names += channels
        for full, chan in channels.items():
            chan_layer, pass_name, suffix = _channel_name(full)
            if chan_layer is not None and layer is not None and chan_layer != layer:
                continue
            multilayer = multilayer or chan_layer is not None
            grouped.setdefault(pass_name, {})[suffix] = chan.pixels
    if not grouped:
        raise _no_layer(path, layer, names)
    passes = {}
    for name, comps in grouped.items():
        order = _ordered(comps)
        stack = np.stack([np.asarray(comps[c], dtype=np.float32) for c in order], axis=-1)
        passes[name] = stack
    header = {k: v for k, v in parts[0].header.items() if isinstance(v, (str, int, float))}
    data_window, display_window = (_window(parts[0].header.get(key)) for key in ("dataWindow", "displayWindow"))
    return ExrImage(path, layer, passes, header, multilayer, parts=parts if keep_parts else None,
                    data_window=data_window, display_window=display_window)


def _window(value) -> tuple[int, int, int, int] | None:
    """An OpenEXR header's window, ``(array([x min, y min]), array([x max, y max]))``, as four ints."""
    if value is None:
        return None
    (x0, y0), (x1, y1) = value
    return int(x0), int(y0), int(x1), int(y1)


def scaled_window(window: tuple[int, int, int, int] | None, scale: int) -> tuple[int, int, int, int] | None:
    """``window`` of an image resized by ``scale``: its min corner and its size times ``scale`` (as Nuke's
    Reformat scales a frame), so an up-ressed crop keeps its place in the up-ressed frame."""
    if window is None:
        return None
    x0, y0, x1, y1 = window
    return x0 * scale, y0 * scale, (x1 + 1) * scale - 1, (y1 + 1) * scale - 1


@contextlib.contextmanager
def image_output(path: str | os.PathLike):
    """:func:`~addon.runtime.files.atomic_output` for an image file: the written file is checked (a library
    that ignored a failed write, e.g. on a full disk, leaves a short file) before the rename, and any failure
    is one ImageError that names ``path`` (not the temporary file) and the reason: permission denied, a file
    where a folder should be, disk full (ENOSPC), ..."""
    path = Path(path)
    try:
        with atomic_output(path) as tmp:
            with library_output_swallowed():
                yield tmp
            _check_written(path, tmp)
    except ImageError:
        raise
    except (OSError, RuntimeError) as exc:  # OpenEXR raises RuntimeError naming the temporary file
        reason = write_failure(path, exc)
        if not reason:
            text = _first_line(exc)
            for name in {getattr(exc, "filename", None), *_quoted(text)} - {None, ""}:
                text = text.replace(str(name), path.name)
            reason = text
        raise ImageError(path, f"cannot write: {reason}") from None


def _quoted(text: str) -> set[str]:
    """Paths a library quoted in its message (its temporary file's name)."""
    import re

    return {m for m in re.findall(r"[\"']([^\"']+)[\"']", text) if ".tmp" in m}


def _check_written(path: Path, tmp: str) -> None:
    from .imageio import file_problem

    problem = file_problem(tmp, thorough=False)
    if problem:
        reason = write_failure(path) or f"the written file is incomplete: {problem}"
        raise ImageError(path, f"cannot write: {reason}")


def write_exr(path: str | os.PathLike, passes: dict[str, np.ndarray], layer: str | None = "ViewLayer",
              header: dict | None = None, half: bool = False,
              data_window: tuple[int, int, int, int] | None = None,
              display_window: tuple[int, int, int, int] | None = None) -> None:
    """Write passes as a multi-part multilayer EXR the way Blender does (or a plain RGBA EXR if ``layer`` is None).

    The file appears atomically: written to a temporary name in the same folder, then renamed (see
    :func:`image_output`). A plain EXR (``layer`` None) names one channel Y and two Y, A (grey, grey + alpha).
    ``data_window`` / ``display_window`` (as :class:`ExrImage` holds them; the data window the passes' size):
    where the pixels lie in the frame; default both the passes' size at the origin.
    """
    import OpenEXR

    path = Path(path)
    dtype = np.float16 if half else np.float32
    extra = {k: v for k, v in (header or {}).items() if isinstance(v, str)}
    for key, window in (("dataWindow", data_window), ("displayWindow", display_window)):
        if window is not None:
            extra[key] = (np.array(window[:2], np.int32), np.array(window[2:], np.int32))
    parts = [_new_part(name, arr, layer, dtype, extra) for name, arr in passes.items()]
    _ensure_io_threads()
    with image_output(path) as tmp:
        OpenEXR.File(parts).write(tmp)


def update_exr(source: str | os.PathLike, path: str | os.PathLike, passes: dict[str, np.ndarray],
               layer: str | None = "ViewLayer", parts: list | None = None) -> None:
    """Write ``path`` as ``source`` with ``passes`` replaced: every other part, channel and header attribute kept.

    This is how results go back into a render: Blender's stats, camera and the passes no model touched stay.
    Replaced channels keep their stored type (half or float). A pass given with one channel fewer than the
    file holds keeps its last component (Combined's alpha). A pass the file lacks becomes a new part.
    ``path`` may be ``source`` itself; the file is replaced atomically. ``parts``: ``source`` as already decoded
    (``read_exr(..., keep_parts=True).parts``; they are changed in place), so it is not decoded again; the
    compression, line order and every attribute of each part are written as they were read.
    """
    import OpenEXR

    source = str(source)
    parts = _read_parts(source) if parts is None else parts
    added, touched = [], set()
    for name, arr in passes.items():
        arr = np.asarray(arr)
        if arr.ndim == 2:
            arr = arr[..., None]
        found_in: dict[str, int] = {}
        found = _pass_channels(parts, name, layer, found_in)
        if not found:
            added.append(_new_part(name, arr, layer, np.float32, {}))
            continue
        order = _ordered(found)
        if arr.shape[2] not in (len(order), len(order) - 1) or (arr.shape[2] < len(order) and order[-1] != "A"):
            raise ImageError(source, f"pass {name!r} has {len(order)} channels ({''.join(order)}); "
                                     f"cannot write {arr.shape[2]} into it")
        for suffix, plane in zip(order, np.moveaxis(arr, -1, 0)):
            channel = found[suffix]
            if channel.pixels.shape != plane.shape:
                h, w = channel.pixels.shape
                raise ImageError(source, f"pass {name!r} is {w}x{h}; cannot write a {plane.shape[1]}x{plane.shape[0]} "
                                         "image into it")
            channel.pixels = np.ascontiguousarray(plane.astype(channel.pixels.dtype))
            touched.add(found_in[suffix])
    _ensure_io_threads()
    with image_output(path) as tmp:
        if added or not _write_changed_parts(source, parts, touched, tmp):
            OpenEXR.File(parts + added).write(tmp)


def _write_changed_parts(source: str, parts: list, changed: set[int], tmp: str) -> bool:
    """Write ``tmp`` as ``source`` with only the parts numbered in ``changed`` encoded again (from ``parts``), every
    other part's compressed chunks and every header copied byte for byte from ``source``; False (nothing written)
    where the file is not one this does: not multi-part, not all scanline parts, or a re-encoded part whose
    channel list or compression differ from the source's header.

    Why: a render's result replaces one pass of a dozen; compressing the untouched ones again (ZIP: two thirds of
    a 16-channel 1080p frame's write) only reproduces what the file already holds. The file is the same, byte for
    byte, as the full write (OpenEXR encodes each chunk on its own; tested), read and written a chunk at a time.
    """
    import OpenEXR

    with open(source, "rb") as src:
        layout = _scanline_layout(src, os.path.getsize(source))
        if layout is None or len(layout[1]) != len(parts):
            return False
        header_end, tables = layout
        encoded = {}
        for index in changed:
            buffer = io.BytesIO()
            OpenEXR.File([parts[index]]).write(buffer)
            own = _scanline_layout(buffer, buffer.tell(), multipart=False)
            if own is None or len(own[1]) != 1 or len(own[1][0][1]) != len(tables[index][1]) \
                    or own[1][0][0] != tables[index][0]:
                return False
            encoded[index] = (buffer, own[1][0][1])
        total = sum(len(offsets) for _, offsets in tables)
        src.seek(0)
        with open(tmp, "wb") as out:
            out.write(src.read(header_end))
            out.write(bytes(8 * total))  # the offset table, filled in below
            new_offsets = []
            for index, (_, offsets) in enumerate(tables):
                for j, offset in enumerate(offsets):
                    new_offsets.append(out.tell())
                    if index in encoded:  # a single-part chunk is y, size, data: the part number goes first
                        buffer, own_offsets = encoded[index]
                        buffer.seek(own_offsets[j])
                        head = buffer.read(8)
                        out.write(struct.pack("<i", index) + head + buffer.read(struct.unpack("<i", head[4:])[0]))
                    else:
                        src.seek(offset)
                        head = src.read(12)  # part number, y, size
                        out.write(head + src.read(struct.unpack("<i", head[8:])[0]))
            out.seek(header_end)
            out.write(np.asarray(new_offsets, dtype="<u8").tobytes())
    return True


def _scanline_layout(f, size: int, multipart: bool = True) -> tuple[int, list[tuple[tuple, list[int]]]] | None:
    """(end of the headers, [((channel list, compression) as stored, chunk offsets)] per part) of the EXR in the
    binary file ``f`` (``size`` bytes) whose parts are all scanline images with whole offset tables, multi-part or
    (``multipart=False``) single-part; None for anything else."""
    f.seek(0)
    head = f.read(8)
    if len(head) < 8 or head[:4] != EXR_MAGIC:
        return None
    version = struct.unpack("<I", head[4:])[0]
    if bool(version & 0x1000) != multipart or version & 0xA00:  # multi-part as asked, not tiled, not deep
        return None
    try:
        headers = _parse_headers(f, version, size)
        counts = [_chunk_count(h) for h in headers]
    except _Damaged:
        return None
    if any(h["type"][1].rstrip(b"\0") != b"scanlineimage" or "channels" not in h or "compression" not in h
           for h in headers) or any(not c for c in counts):
        return None
    header_end = f.tell()
    table = f.read(8 * sum(counts))
    if len(table) < 8 * sum(counts):
        return None
    offsets = np.frombuffer(table, dtype="<u8").astype(np.int64)
    if (offsets < header_end + len(table)).any() or (offsets >= size).any():
        return None
    ends = np.cumsum(counts)
    return header_end, [((headers[i]["channels"][1], headers[i]["compression"][1]), offsets[end - n:end].tolist())
                        for i, (end, n) in enumerate(zip(ends, counts))]


def _pass_channels(parts: list, name: str, layer: str | None, found_in: dict | None = None) -> dict:
    """{component suffix: Channel} of one pass: ``<layer>.<name>.*``, or plain R,G,B,A for Combined;
    ``found_in`` gets {component suffix: index of its part}."""
    found = {}
    for index, part in enumerate(parts):
        for full, channel in part.channels.items():
            pieces = full.split(".")
            if len(pieces) == 1 and name == PLAIN_PASS:
                suffix = pieces[0]
            elif len(pieces) >= 3 and ".".join(pieces[1:-1]) == name and (layer is None or pieces[0] == layer):
                suffix = pieces[-1]
            else:
                continue
            found[suffix] = channel
            if found_in is not None:
                found_in[suffix] = index
    return found


def _new_part(name: str, arr: np.ndarray, layer: str | None, dtype, header: dict):
    """One EXR part holding pass ``name`` the way Blender names it (or plain R,G,B,A without a layer)."""
    import OpenEXR

    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    comps = _components(name, arr.shape[2]) if layer else _plain_components(arr.shape[2])
    prefix = f"{layer}.{name}." if layer else ""
    chans = {prefix + c: np.ascontiguousarray(arr[..., i].astype(dtype)) for i, c in enumerate(comps)}
    hdr = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **header}
    return OpenEXR.Part(hdr, chans, name=f"{layer}.{name}" if layer else name)


def _plain_components(n: int) -> list[str]:
    """Channels of a plain (single-layer) EXR with ``n`` channels: Y; Y, A; R, G, B; R, G, B, A."""
    return {1: ["Y"], 2: ["Y", "A"]}.get(n, list("RGBA"[:n]))


def _components(pass_name: str, n: int) -> str:
    """Channel suffixes Blender uses for a pass with ``n`` channels (Depth.Z, Vector.XYZW, Combined.RGBA)."""
    if n == 1:
        return "Z"
    if pass_name in ("Vector", "Normal", "Denoising Normal", "Position"):
        return "XYZW"[:n]
    return "RGBA"[:n]
