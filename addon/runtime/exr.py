"""OpenEXR files as Blender writes them: multi-part multilayer EXRs read and written by pass name.

Blender's multilayer EXR holds one part per pass, named ``<ViewLayer>.<Pass>`` with channels
``<ViewLayer>.<Pass>.<R|G|B|A|X|Y|Z|W>``; a single-layer EXR has plain ``R,G,B,A`` channels in one part.
Both read into ``{pass name: float32 H x W x C array}`` with components in their canonical order (OpenEXR
lists channels alphabetically, which would put a vector's W before X). bpy-free: farms use this too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import atomic_output

COMPONENT_ORDER = "RGBAXYZWUV"
#: Name given to the colour of a single-layer EXR (plain R,G,B,A channels), matching Blender's pass name.
PLAIN_PASS = "Combined"


class ImageError(ValueError):
    """A problem with one image file; ``str()`` is one line that names the file."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def _component_key(suffix: str) -> tuple[int, str]:
    return (COMPONENT_ORDER.index(suffix) if suffix in COMPONENT_ORDER else len(COMPONENT_ORDER), suffix)


@dataclass
class ExrImage:
    """The passes of one EXR file, the layer they came from, and part 0's header (render stats, camera, ...)."""

    path: str
    layer: str | None
    passes: dict[str, np.ndarray]
    header: dict = field(default_factory=dict)
    multilayer: bool = False  # channels named <layer>.<pass>.<component> (Blender's multilayer), not plain R,G,B,A

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


def _read_parts(path: str) -> list:
    """Every part of an EXR with its pixels, or an ImageError when the file is missing, unreadable or truncated."""
    import OpenEXR

    if not os.path.isfile(path):
        raise ImageError(path, "file does not exist")
    try:
        declared = [p.name() for p in OpenEXR.File(path, header_only=True).parts]
        parts = list(OpenEXR.File(path, separate_channels=True).parts)
    except Exception as exc:  # OpenEXR raises RuntimeError/OSError with multi-line texts
        raise ImageError(path, f"unreadable EXR ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    # OpenEXR drops the parts whose pixels it cannot read (a truncated file) with only a warning on stderr;
    # the headers at the start of the file still list them, so a difference means the file is damaged.
    lost = [name for name in declared if name not in {p.name() for p in parts}]
    lost += [p.name() for p in parts if len(p.channels) != len(p.header.get("channels", p.channels))]
    if lost:
        raise ImageError(path, f"truncated or corrupt EXR (cannot read {', '.join(map(str, lost))})")
    return parts


def read_exr(path: str | os.PathLike, layer: str | None = "ViewLayer") -> ExrImage:
    """Read every pass of ``layer`` (or the plain channels of a single-layer EXR) as float32 HxWxC arrays."""
    path = str(path)
    parts = _read_parts(path)
    grouped: dict[str, dict[str, np.ndarray]] = {}
    multilayer = False
    for part in parts:
        try:
            channels = part.channels
        except Exception as exc:
            raise ImageError(path, f"unreadable EXR part ({str(exc).splitlines()[0]})") from None
        for full, chan in channels.items():
            pieces = full.split(".")
            if len(pieces) == 1:  # single-layer: R, G, B, A
                pass_name, suffix, chan_layer = PLAIN_PASS, pieces[0], None
            else:
                chan_layer = pieces[0] if len(pieces) >= 3 else None
                pass_name = ".".join(pieces[1:-1]) if len(pieces) >= 3 else pieces[0]
                suffix = pieces[-1]
            if chan_layer is not None and layer is not None and chan_layer != layer:
                continue
            multilayer = multilayer or chan_layer is not None
            grouped.setdefault(pass_name, {})[suffix] = chan.pixels
    if not grouped:
        raise ImageError(path, f"no channels for view layer {layer!r}")
    passes = {}
    for name, comps in grouped.items():
        order = sorted(comps, key=_component_key)
        stack = np.stack([np.asarray(comps[c], dtype=np.float32) for c in order], axis=-1)
        passes[name] = stack
    header = {k: v for k, v in parts[0].header.items() if isinstance(v, (str, int, float))}
    return ExrImage(path, layer, passes, header, multilayer)


def write_exr(path: str | os.PathLike, passes: dict[str, np.ndarray], layer: str | None = "ViewLayer",
              header: dict | None = None, half: bool = False) -> None:
    """Write passes as a multi-part multilayer EXR the way Blender does (or a plain RGBA EXR if ``layer`` is None).

    The file appears atomically: written to a temporary name in the same folder, then renamed.
    """
    import OpenEXR

    path = Path(path)
    dtype = np.float16 if half else np.float32
    extra = {k: v for k, v in (header or {}).items() if isinstance(v, str)}
    parts = [_new_part(name, arr, layer, dtype, extra) for name, arr in passes.items()]
    with atomic_output(path) as tmp:
        OpenEXR.File(parts).write(tmp)


def update_exr(source: str | os.PathLike, path: str | os.PathLike, passes: dict[str, np.ndarray],
               layer: str | None = "ViewLayer") -> None:
    """Write ``path`` as ``source`` with ``passes`` replaced: every other part, channel and header attribute kept.

    This is how results go back into a render: Blender's stats, camera and the passes no model touched stay.
    Replaced channels keep their stored type (half or float). A pass given with one channel fewer than the
    file holds keeps its last component (Combined's alpha). A pass the file lacks becomes a new part.
    ``path`` may be ``source`` itself; the file is replaced atomically.
    """
    import OpenEXR

    source = str(source)
    parts = _read_parts(source)
    added = []
    for name, arr in passes.items():
        arr = np.asarray(arr)
        if arr.ndim == 2:
            arr = arr[..., None]
        found = _pass_channels(parts, name, layer)
        if not found:
            added.append(_new_part(name, arr, layer, np.float32, {}))
            continue
        order = sorted(found, key=_component_key)
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
    with atomic_output(path) as tmp:
        OpenEXR.File(parts + added).write(tmp)


def _pass_channels(parts: list, name: str, layer: str | None) -> dict:
    """{component suffix: Channel} of one pass: ``<layer>.<name>.*``, or plain R,G,B,A for Combined."""
    found = {}
    for part in parts:
        for full, channel in part.channels.items():
            pieces = full.split(".")
            if len(pieces) == 1 and name == PLAIN_PASS:
                found[pieces[0]] = channel
            elif len(pieces) >= 3 and ".".join(pieces[1:-1]) == name and (layer is None or pieces[0] == layer):
                found[pieces[-1]] = channel
    return found


def _new_part(name: str, arr: np.ndarray, layer: str | None, dtype, header: dict):
    """One EXR part holding pass ``name`` the way Blender names it (or plain R,G,B,A without a layer)."""
    import OpenEXR

    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    comps = _components(name, arr.shape[2]) if layer else "RGBA"[:arr.shape[2]]
    prefix = f"{layer}.{name}." if layer else ""
    chans = {prefix + c: np.ascontiguousarray(arr[..., i].astype(dtype)) for i, c in enumerate(comps)}
    hdr = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **header}
    return OpenEXR.Part(hdr, chans, name=f"{layer}.{name}" if layer else name)


def _components(pass_name: str, n: int) -> str:
    """Channel suffixes Blender uses for a pass with ``n`` channels (Depth.Z, Vector.XYZW, Combined.RGBA)."""
    if n == 1:
        return "Z"
    if pass_name in ("Vector", "Normal", "Denoising Normal", "Position"):
        return "XYZW"[:n]
    return "RGBA"[:n]
