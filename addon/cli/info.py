"""``postpass info`` and ``postpass models``: what an image file holds, and which models are registered."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..runtime.contract import PROVENANCE_KEYS, RAW_RENDER_PASS
from ..runtime.engine import load_model
from ..runtime.exr import ImageError, library_output_swallowed, read_exr_headers
from ..runtime.imageio import read_image
from ..runtime.registry import Registry
from ..runtime.sequence import format_frames, parse_pattern

#: EXR header attributes that describe the file's layout rather than the render; info leaves them out.
LAYOUT_KEYS = {"channels", "chunkCount", "compression", "dataWindow", "displayWindow", "lineOrder", "name",
               "pixelAspectRatio", "screenWindowCenter", "screenWindowWidth", "type", "version", "xDensity"}


def describe(path: str) -> dict:
    """Format, size, colour space, and passes per view layer of an image file (every pass read and checked)."""
    path = str(path)
    if Path(path).suffix.lower() == ".exr":
        return _describe_exr(path)
    image = read_image(path)  # checks the suffix and that OpenCV decodes it; its size as the runtime reads it
    import cv2

    with library_output_swallowed():
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    height, width = image.size
    channels = image.get("Combined").shape[2]
    integer = raw.dtype.kind in "ui"
    bits = raw.dtype.itemsize * 8
    return {
        "path": path,
        "format": f"{Path(path).suffix.lstrip('.').upper()}, {bits}-bit {'integer' if integer else 'float'}",
        "width": width, "height": height,
        "color_space": "sRGB-encoded (read as linear; alpha stored linearly)" if integer else "linear",
        "layers": {"": {"Combined": channels}}, "header": {},
    }


def _describe_exr(path: str) -> dict:
    # An empty, foreign or cut-off file fails here in one line; what OpenEXR prints about it is swallowed, so
    # with --json stdout holds only the JSON.
    parts = read_exr_headers(path)
    names = [c.name for p in parts for c in p.header["channels"]]
    view_layers = list(dict.fromkeys(n.split(".")[0] for n in names if n.count(".") >= 2))  # in file order
    layers = {}
    for layer in view_layers or [None]:
        image = read_image(path, layer)  # reads every pixel: a truncated or corrupt file fails here
        layers[layer or ""] = {name: arr.shape[2] for name, arr in image.passes.items()}
        height, width = image.size
    header = parts[0].header
    compression = str(header.get("compression", "")).split(".")[-1].replace("_COMPRESSION", "")
    return {
        "path": path,
        "format": f"OpenEXR, {'multilayer' if view_layers else 'single layer'}, {len(parts)} part(s), {compression}",
        "width": width, "height": height,
        "color_space": header.get("colorInteropID") or "linear (not stated in the file; Blender writes Linear Rec.709)",
        "layers": layers,
        # rendered with Cycles' Denoise and Denoising Data: what denoise reads as colour differs from Combined
        "blender_denoised_layers": [name for name, passes in layers.items() if RAW_RENDER_PASS in passes],
        "header": {k: v for k, v in header.items() if k not in LAYOUT_KEYS and isinstance(v, (str, int, float))},
    }


def info_command(args: argparse.Namespace) -> int:
    pattern = parse_pattern(args.file)
    frames = None
    path = args.file
    if pattern is not None:
        frames = pattern.frames_on_disk()
        if not frames:
            raise ImageError(pattern, "no frames on disk match this pattern")
        path = str(pattern.path(frames[0]))
    description = describe(path)
    if frames is not None:
        description = {"pattern": str(pattern), "frames": format_frames(frames), "frame_count": len(frames),
                       **description}
    if args.json:
        print(json.dumps(description, default=str))
    elif not args.quiet:
        print("\n".join(_info_lines(description)))
    return 0


def _info_lines(d: dict) -> list[str]:
    lines = []
    if "pattern" in d:
        lines.append(f"{d['pattern']}: {d['frame_count']} frame(s) on disk: {d['frames']}; first one:")
    lines += [d["path"], f"  format        {d['format']}", f"  size          {d['width']} x {d['height']}",
              f"  colour space  {d['color_space']}"]
    for layer, passes in d["layers"].items():
        listed = ", ".join(f"{name} ({n})" for name, n in passes.items())
        lines.append(f"  {'layer ' + layer + ':' if layer else 'channels':13s} {listed}")
        if layer in d.get("blender_denoised_layers", ()):
            lines.append(f"  {'':13s} (Cycles' Denoise: Combined is Blender's denoised render, {RAW_RENDER_PASS!r} "
                         "the raw one, which postpass denoise reads)")
    lines += [f"  {'header' if i == 0 else '':13s} {k} = {v}" for i, (k, v) in enumerate(d["header"].items())]
    return lines


def models_command(args: argparse.Namespace) -> int:
    registry = Registry(args.models_dir)
    if args.name:
        model = load_model(args.name, registry.folder)  # verifies the file against its sha256
        shown = {"name": args.name, "file": str(model.entry.path), "sha256": model.entry.sha256,
                 "provider": model.provider, **model.entry.summary,
                 **{k: model.metadata[k] for k in PROVENANCE_KEYS if k in model.metadata}}
        if args.json:
            print(json.dumps(shown, default=str))
        elif not args.quiet:
            for key, value in shown.items():
                print(f"{key:20s} {value if isinstance(value, str) else json.dumps(value)}")
        return 0
    # Every file is checked against its registry sha256 while listing: a tampered or missing model is flagged
    # here (it would be refused when used); the listing itself still succeeds.
    listed = []
    for e in registry.entries.values():
        problem = registry.verify(e.name)
        listed.append({"name": e.name, **e.summary, "verified": problem is None,
                       **({"problem": _model_problem(problem)} if problem else {})})
    if args.json:
        print(json.dumps(listed))
    elif not args.quiet:
        if not listed:
            print(f"no models in {registry.path}", file=sys.stderr)
        for entry in listed:
            inputs = ", ".join(i if i in entry["required"] else f"[{i}]" for i in entry["inputs"])
            scale = f" x{entry['scale']}" if entry["scale"] != 1 else ""
            metrics = json.dumps(entry["metrics"]) if entry["metrics"] else "no metrics"
            flag = "" if entry["verified"] else f"  {entry['problem']}"
            print(f"{entry['name']:24s} {entry['task']}{scale} {entry['precision']} v{entry['version']}: "
                  f"{inputs}; {metrics}{flag}")
    for entry in listed:
        if not entry["verified"]:
            print(f"postpass models: warning: {entry['name']}: {entry['problem']}", file=sys.stderr)
    return 0


def _model_problem(problem: str) -> str:
    """The listing's flag: TAMPERED for a file whose sha256 differs from the registry, else MISSING/UNREADABLE."""
    if problem.startswith("sha256"):
        return "TAMPERED: sha256 differs from the registry (refused when used)"
    if "No such file" in problem:
        return "MISSING: no model file (refused when used)"
    return f"UNREADABLE: {problem}"
