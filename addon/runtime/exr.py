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


def read_exr(path: str | os.PathLike, layer: str | None = "ViewLayer") -> ExrImage:
    """Read every pass of ``layer`` (or the plain channels of a single-layer EXR) as float32 HxWxC arrays."""
    import OpenEXR

    path = str(path)
    if not os.path.isfile(path):
        raise ImageError(path, "file does not exist")
    try:
        exr = OpenEXR.File(path, separate_channels=True)
        parts = list(exr.parts)
    except Exception as exc:  # OpenEXR raises RuntimeError/OSError with multi-line texts
        raise ImageError(path, f"unreadable EXR ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    grouped: dict[str, dict[str, np.ndarray]] = {}
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
            grouped.setdefault(pass_name, {})[suffix] = chan.pixels
    if not grouped:
        raise ImageError(path, f"no channels for view layer {layer!r}")
    passes = {}
    for name, comps in grouped.items():
        order = sorted(comps, key=_component_key)
        stack = np.stack([np.asarray(comps[c], dtype=np.float32) for c in order], axis=-1)
        passes[name] = stack
    header = {k: v for k, v in parts[0].header.items() if isinstance(v, (str, int, float))}
    return ExrImage(path, layer, passes, header)


def write_exr(path: str | os.PathLike, passes: dict[str, np.ndarray], layer: str | None = "ViewLayer",
              header: dict | None = None, half: bool = False) -> None:
    """Write passes as a multi-part multilayer EXR the way Blender does (or a plain RGBA EXR if ``layer`` is None).

    The file appears atomically: written to a temporary name in the same folder, then renamed.
    """
    import OpenEXR

    path = Path(path)
    dtype = np.float16 if half else np.float32
    extra = {k: v for k, v in (header or {}).items() if isinstance(v, str)}
    parts = []
    for name, arr in passes.items():
        arr = np.asarray(arr)
        if arr.ndim == 2:
            arr = arr[..., None]
        comps = _components(name, arr.shape[2]) if layer else "RGBA"[:arr.shape[2]]
        prefix = f"{layer}.{name}." if layer else ""
        chans = {prefix + c: np.ascontiguousarray(arr[..., i].astype(dtype)) for i, c in enumerate(comps)}
        hdr = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **extra}
        parts.append(OpenEXR.Part(hdr, chans, name=f"{layer}.{name}" if layer else name))
    with atomic_output(path) as tmp:
        OpenEXR.File(parts).write(tmp)


def _components(pass_name: str, n: int) -> str:
    """Channel suffixes Blender uses for a pass with ``n`` channels (Depth.Z, Vector.XYZW, Combined.RGBA)."""
    if n == 1:
        return "Z"
    if pass_name in ("Vector", "Normal", "Denoising Normal", "Position"):
        return "XYZW"[:n]
    return "RGBA"[:n]
