"""Colorize hints from files: a painted hint image (with its alpha or a separate mask), or a JSON list of points.

A points file is a JSON list of objects, one per hint, in pixel coordinates of the image to colour (x right,
y down from the top-left pixel's centre) with an sRGB colour in [0, 1] and an optional radius in pixels (the
disc of pixels within it; 0, the default, is the one pixel)::

    [{"x": 10, "y": 20, "rgb": [1, 0, 0]}, {"x": 64, "y": 40, "rgb": [0.2, 0.5, 0.9], "radius": 3}]

Later points overwrite earlier ones where they overlap. Every problem is one line naming the file.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np

from .color import srgb_decode
from .exr import ImageError
from .imageio import read_image

MAX_RADIUS = 64


@dataclass(frozen=True)
class HintPoint:
    x: int
    y: int
    rgb: tuple[float, float, float]  # sRGB-encoded, [0, 1]
    radius: float = 0.0


def read_hint_points(path: str | os.PathLike) -> tuple[HintPoint, ...]:
    """The points of a JSON points file, checked (see the module's text for the format)."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ImageError(path, "file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImageError(path, f"unreadable hint points ({exc})".splitlines()[0]) from None
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImageError(path, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    return parse_hint_points(entries, path)


def parse_hint_points(entries, source: str = "hint points") -> tuple[HintPoint, ...]:
    """Check a list of point dicts (``{"x", "y", "rgb"[, "radius"]}``) or :class:`HintPoint` s."""
    example = 'expected a list of {"x": 10, "y": 20, "rgb": [1, 0, 0]} (optional "radius")'
    if not isinstance(entries, (list, tuple)):
        raise ImageError(source, f"hint points must be a JSON list; {example}")
    points = []
    for i, entry in enumerate(entries):
        if isinstance(entry, HintPoint):
            entry = {"x": entry.x, "y": entry.y, "rgb": list(entry.rgb), "radius": entry.radius}
        where = f"point #{i + 1}"
        if not isinstance(entry, dict):
            raise ImageError(source, f"{where} is {type(entry).__name__}; {example}")
        unknown = sorted(set(entry) - {"x", "y", "rgb", "radius"})
        if unknown:
            raise ImageError(source, f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; {example}")
        missing = [k for k in ("x", "y", "rgb") if k not in entry]
        if missing:
            raise ImageError(source, f"{where} lacks {', '.join(map(repr, missing))}; {example}")
        x, y = (_integer(entry[k], f"{where} {k}", source) for k in ("x", "y"))
        rgb = entry["rgb"]
        if (not isinstance(rgb, (list, tuple)) or len(rgb) != 3
                or not all(_number(v) and 0.0 <= v <= 1.0 for v in rgb)):
            raise ImageError(source, f"{where} rgb is {json.dumps(rgb)}; expected 3 numbers in [0, 1] (sRGB)")
        radius = entry.get("radius", 0)
        if not _number(radius) or not 0 <= radius <= MAX_RADIUS:
            raise ImageError(source, f"{where} radius is {json.dumps(radius)}; expected a number in [0, {MAX_RADIUS}]")
        points.append(HintPoint(x, y, tuple(float(v) for v in rgb), float(radius)))
    return tuple(points)


def check_hint_points(points: tuple[HintPoint, ...], height: int, width: int, source: str = "hint points") -> None:
    """Refuse a point whose centre lies outside a ``width`` x ``height`` image."""
    for i, p in enumerate(points):
        if not (0 <= p.x < width and 0 <= p.y < height):
            raise ImageError(source, f"point #{i + 1} (x={p.x}, y={p.y}) is outside the {width}x{height} image "
                                     f"(x in 0..{width - 1}, y in 0..{height - 1})")


def rasterize_hint_points(points: tuple[HintPoint, ...], height: int, width: int,
                          source: str = "hint points") -> tuple[np.ndarray, np.ndarray]:
    """(H x W x 3 linear hint colours, H x W float mask) for the runtime's ``colorize``; points are checked."""
    check_hint_points(points, height, width, source)
    hints, mask = np.zeros((height, width, 3), np.float32), np.zeros((height, width), np.float32)
    for p in points:
        r = int(math.floor(p.radius))
        y0, y1, x0, x1 = max(0, p.y - r), min(height, p.y + r + 1), max(0, p.x - r), min(width, p.x + r + 1)
        ys, xs = np.mgrid[y0:y1, x0:x1]
        disc = (ys - p.y) ** 2 + (xs - p.x) ** 2 <= p.radius ** 2
        hints[y0:y1, x0:x1][disc] = srgb_decode(np.array(p.rgb, np.float32))
        mask[y0:y1, x0:x1][disc] = 1.0
    return hints, mask


def image_size(path: str | os.PathLike, layer: str | None = "ViewLayer") -> tuple[int, int]:
    """(height, width) of an image file; an EXR's from its header alone."""
    path = str(path)
    if path.lower().endswith(".exr") and os.path.isfile(path):
        try:
            import OpenEXR

            (x0, y0), (x1, y1) = OpenEXR.File(path, header_only=True).parts[0].header["dataWindow"]
            return int(y1 - y0 + 1), int(x1 - x0 + 1)
        except Exception:  # an unusual or damaged file: let the full reader say what is wrong
            pass
    return read_image(path, layer).size


def hint_arrays(image: str | os.PathLike, *, hints: str | os.PathLike | None = None,
                mask: str | os.PathLike | None = None, points=None, points_label: str | None = None,
                layer: str | None = "ViewLayer") -> tuple[dict, dict]:
    """The colorize inputs ({"hints", "mask"} arrays, or {}) and their labels for colouring the file ``image``:
    from a painted hint image (its alpha > 0 marks hints, unless a ``mask`` image, > 0 where a hint is given,
    says), or from ``points`` (a JSON points file, or a list of points named ``points_label``), not both."""
    if points is not None:
        if hints is not None or mask is not None:
            raise ImageError(str(hints or mask), "give hints as an image (and mask) or as points, not both")
        if isinstance(points, (str, os.PathLike)):
            source, parsed = str(points), read_hint_points(points)
        else:
            source = points_label or "hint points"
            parsed = parse_hint_points(points, source)
        hint, where = rasterize_hint_points(parsed, *image_size(image, layer), source)
        return {"hints": hint, "mask": where}, {"hints": source, "mask": source}
    if hints is None:
        if mask is not None:
            raise ImageError(str(mask), "a hint mask needs hints (--hints) to go with it")
        return {}, {}
    hints = str(hints)
    hint = read_image(hints).get("Combined")
    if hint.shape[2] not in (3, 4):
        raise ImageError(hints, f"hints have {hint.shape[2]} channel(s); expected RGB or RGBA")
    if mask is not None:
        painted = read_image(mask).get("Combined")[..., 0] > 0
    elif hint.shape[2] == 4:
        painted = hint[..., 3] > 0
    else:
        raise ImageError(hints, "hints without alpha: paint them with alpha or give a mask (--mask)")
    return ({"hints": np.ascontiguousarray(hint[..., :3]), "mask": painted.astype(np.float32)},
            {"hints": hints, "mask": str(mask) if mask is not None else hints})


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _integer(v, what: str, source: str) -> int:
    if not _number(v) or float(v) != int(v):
        raise ImageError(source, f"{what} is {json.dumps(v)}; expected a whole pixel coordinate")
    return int(v)
