"""The Python API for TDs, farm scripts and the add-on: one call per task, on numpy arrays or on files.

Arrays are float32 H x W x C, linear, top-down (see ``../shared/DESIGN.md``, Contracts); results too. A model
is picked from the registry by task and by which inputs are given, or named with ``model=``::

    from addon.runtime import denoise, upres, colorize, inbetween, read_image

    render = read_image("shot.0101.exr")                      # every pass of ViewLayer
    clean = denoise(render.get("Combined"), albedo=render.get("Denoising Albedo"),
                    normal=render.get("Denoising Normal"))    # RGBA in, RGBA out: alpha is carried
    big = upres(clean, scale=2)                                # alpha resized alongside
    mid = inbetween(frame1, frame3, t=0.5, vectors=(vec1, vec3))  # Blender Vector passes of both frames
    rgb = colorize(gray, hints=hint_rgb, mask=hint_mask)

    denoise_file("beauty.0101.exr", "clean.0101.exr")        # passes by name; other passes and header kept
    inbetween_file("f.0001.exr", "f.0003.exr", "f.0002.exr")

Options every call takes: ``model`` (registry name), ``models_dir`` (registry folder; default
``$POSTPASS_MODELS`` or ``addon/models``), ``device`` (auto | cpu | cuda), ``threads``, ``tile_size``
(input pixels per tile core; None: one tile), ``nonfinite`` (``zero``: NaN/Inf become 0 and are counted and
logged; ``error``: refuse), ``precision`` (fp32 | fp16), ``progress`` (``progress(done, total)`` after each tile;
raise in it to cancel). Array calls return the image; :func:`run` and the file calls return an
:class:`InferenceResult` with the provider that ran, NaN counts, scalars used and timing.
Errors are one line: :class:`ImageError` names the file (or input) and the problem, :class:`ModelError` the model.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from .contract import ModelError
from .engine import DEFAULT_TILE, InferenceResult, load_model
from .exr import ImageError, update_exr, write_exr
from .imageio import read_image, write_image
from .registry import Registry, RegistryEntry

PathLike = str | os.PathLike


def run(task: str, inputs: dict, *, model: str | None = None, scale: int | None = None, precision: str = "fp32",
        models_dir: PathLike | None = None, device: str = "auto", threads: int | None = None,
        tile_size: int | None = DEFAULT_TILE, nonfinite: str = "zero", labels: dict[str, str] | None = None,
        progress: Callable[[int, int], None] | None = None, key_steps: float | None = None) -> InferenceResult:
    """Run ``task`` on ``inputs`` ({contract input name: array or number}; None means absent);
    ``key_steps``: frame steps between the frames whose Vector passes are given (see ``Model.run``)."""
    registry = Registry(models_dir)
    given = {k for k, v in inputs.items() if v is not None}
    entry = _pick(registry, task, given, model, scale, precision, exact=True)
    return load_model(entry.name, registry.folder, device, threads).run(
        inputs, tile_size=tile_size, nonfinite=nonfinite, labels=labels, progress=progress, key_steps=key_steps)


def denoise(color: np.ndarray, albedo: np.ndarray | None = None, normal: np.ndarray | None = None, *,
            exposure: float | None = None, **options) -> np.ndarray:
    """Denoise a linear HDR render (RGB or RGBA), optionally guided by Denoising Albedo and camera-space Normal.

    ``exposure``: the scale the model normalises by; give one per shot for sequences (default: this image's).
    """
    return run("denoise", {"color": color, "albedo": albedo, "normal": normal, "exposure": exposure},
               **options).image


def upres(image: np.ndarray, scale: int = 2, *, albedo: np.ndarray | None = None, normal: np.ndarray | None = None,
          exposure: float | None = None, **options) -> np.ndarray:
    """Up-res ``image`` ``scale`` times; ``albedo``/``normal`` at the output resolution guide render models."""
    return run("upres", {"image": image, "albedo": albedo, "normal": normal, "exposure": exposure},
               scale=scale, **options).image


def colorize(gray: np.ndarray, hints: np.ndarray | None = None, mask: np.ndarray | None = None,
             **options) -> np.ndarray:
    """Colour a grey image (H x W, or RGB(A) whose luminance is used) from optional sparse colour ``hints``
    (H x W x 3, linear) where ``mask`` (H x W, 1 = hint given) says so."""
    if hints is not None and mask is None:
        raise ImageError("input 'mask'", "needed with hints: H x W, 1 where a hint is given, 0 elsewhere")
    return run("colorize", {"gray": gray, "hints": hints, "mask": mask}, **options).image


def inbetween(frame0: np.ndarray, frame1: np.ndarray, t: float = 0.5,
              vectors: tuple[np.ndarray, np.ndarray] | None = None, *, depth0: np.ndarray | None = None,
              depth1: np.ndarray | None = None, exposure: float | None = None, key_steps: float = 2,
              **options) -> np.ndarray:
    """The frame at time ``t`` between ``frame0`` (t=0) and ``frame1`` (t=1).

    ``vectors``: the Blender Vector passes (4 channels, pixels) of both frames; with them a model uses the
    renderer's exact motion. ``key_steps``: how many frame steps apart the two frames are (2: rendered every
    other frame; 4 for every 4th, with t = 1/4, 2/4, 3/4 between): a Vector pass holds one step's motion.
    ``depth0`` / ``depth1``: the Denoising Depth passes (H x W or H x W x 1, distance from the camera) of
    ``frame0`` and ``frame1``; with vectors, the vector-guided model (``inbetween_vectors``) weighs the pixels
    that land on the same spot by them, nearer ones winning (as ``inbetween_file`` and ``postpass inbetween``
    do from the EXR passes). Give both or neither; without them that model weighs such pixels alike. The
    image-only model takes no depth (passing it raises :class:`ModelError`).
    """
    if (depth0 is None) != (depth1 is None):
        raise ModelError("inbetween: give depth0 and depth1 together (the Denoising Depth of both frames)")
    vector0, vector1 = vectors if vectors is not None else (None, None)
    return run("inbetween", {"frame0": frame0, "frame1": frame1, "t": t, "vectors0": vector0,
                             "vectors1": vector1, "depth0": depth0, "depth1": depth1, "exposure": exposure},
               key_steps=key_steps, **options).image


def run_files(task: str, sources: list[PathLike | None], dst: PathLike, *, inputs: dict | None = None,
              labels: dict[str, str] | None = None, layer: str | None = "ViewLayer", bit_depth: int | None = None,
              model: str | None = None, scale: int | None = None, precision: str = "fp32",
              models_dir: PathLike | None = None, device: str = "auto", threads: int | None = None,
              tile_size: int | None = DEFAULT_TILE, nonfinite: str = "zero",
              progress: Callable[[int, int], None] | None = None, key_steps: float | None = None) -> InferenceResult:
    """Run ``task`` on image files and write ``dst`` (``key_steps``: see :func:`run`).

    Each model input names a pass and which of ``sources`` holds it (its metadata), so a multilayer EXR
    feeds colour, albedo, normal and vectors by pass name, and the model is chosen by which passes exist.
    ``inputs`` adds arrays or scalars (e.g. ``t``). An EXR result written from one EXR of the same size
    keeps that file's other parts and header; otherwise the result is written alone.
    """
    files = [read_image(p, layer) if p is not None else None for p in sources]
    registry = Registry(models_dir)
    inputs = {k: v for k, v in (inputs or {}).items() if v is not None}
    available = set(inputs)
    for entry in registry.entries.values():
        if entry.contract.task == task:
            available |= {spec.name for spec in entry.contract.image_inputs if _holds(files, spec)}
    entry = _pick(registry, task, available, model, scale, precision, exact=False)

    arrays, labels = dict(inputs), dict(labels or {})
    for spec in entry.contract.image_inputs:
        if spec.name in arrays or spec.pass_name is None or (spec.optional and not _holds(files, spec)):
            continue
        source = files[spec.source] if spec.source < len(files) else None
        if source is None:
            raise ModelError(f"model {entry.name!r} needs source file #{spec.source} for {spec.name!r} "
                             f"(pass {spec.pass_name!r})")
        arrays[spec.name] = source.get(spec.pass_name)  # a missing pass raises ImageError naming the file
        labels.setdefault(spec.name, f"{source.path} [{spec.pass_name}]")
    result = load_model(entry.name, registry.folder, device, threads).run(
        arrays, tile_size=tile_size, nonfinite=nonfinite, labels=labels, progress=progress, key_steps=key_steps)
    primary, single = files[0], sum(f is not None for f in files) == 1
    primary.passes.clear()  # an 8K multilayer EXR holds GBs of passes: free them before writing
    del files, arrays
    _write_result(dst, result, entry, primary, single, layer, bit_depth)
    return result


def denoise_file(src: PathLike, dst: PathLike, **options) -> InferenceResult:
    """Denoise a render file; from a multilayer EXR the albedo and normal passes are used when present."""
    return run_files("denoise", [src], dst, **options)


def upres_file(src: PathLike, dst: PathLike, scale: int = 2, *, guide: PathLike | None = None,
               **options) -> InferenceResult:
    """Up-res an image file; ``guide``: a full-resolution EXR with Denoising Albedo/Normal (cheap to render)."""
    return run_files("upres", [src, guide], dst, scale=scale, **options)


def colorize_file(src: PathLike, dst: PathLike, *, hints: PathLike | None = None, mask: PathLike | None = None,
                  points: PathLike | list | None = None, **options) -> InferenceResult:
    """Colorize an image file. Hints, optional: ``hints``, an RGB(A) image whose painted pixels (alpha > 0, or
    ``mask`` > 0 where a mask image is given) are colour hints; or ``points``, a JSON points file or a list of
    ``{"x", "y", "rgb"[, "radius"]}`` (pixels from the top-left, sRGB 0..1; see ``hints.py``)."""
    from .hints import hint_arrays

    extra, labels = hint_arrays(src, hints=hints, mask=mask, points=points, layer=options.get("layer", "ViewLayer"))
    if labels:
        options["labels"] = {**labels, **options.get("labels", {})}
    return run_files("colorize", [src], dst, inputs=extra, **options)


def inbetween_file(src0: PathLike, src1: PathLike, dst: PathLike, t: float = 0.5, *, key_steps: float = 2,
                   **options) -> InferenceResult:
    """Write the frame at ``t`` between two render files ``key_steps`` frame steps apart; their Vector passes
    are used when present."""
    return run_files("inbetween", [src0, src1], dst, inputs={"t": t}, key_steps=key_steps, **options)


def _holds(files: list, spec) -> bool:
    return (spec.pass_name is not None and spec.source < len(files) and files[spec.source] is not None
            and spec.pass_name in files[spec.source].passes)


def _pick(registry: Registry, task: str, given: set[str], model: str | None, scale: int | None, precision: str,
          exact: bool) -> RegistryEntry:
    if model is None:
        return registry.choose(task, given, scale, precision, exact)
    entry = registry.get(model)
    if entry.contract.task != task:
        raise ModelError(f"model {model!r} is a {entry.contract.task} model, not {task}")
    if scale is not None and entry.contract.scale != scale:
        raise ModelError(f"model {model!r} up-reses x{entry.contract.scale}, not x{scale}")
    return entry


def _write_result(dst: PathLike, result: InferenceResult, entry: RegistryEntry, primary, single_source: bool,
                  layer: str | None, bit_depth: int | None) -> None:
    """Write the first output: back into the source EXR's other parts and header when it is the same frame
    (one source, same size), else as a file of its own, carrying the source's layer naming and header text."""
    out_spec = entry.contract.outputs[0]
    image = result.outputs[out_spec.name]
    if Path(dst).suffix.lower() != ".exr":
        write_image(dst, image, bit_depth)
        return
    if bit_depth not in (None, 32):
        raise ImageError(dst, f"EXR results are written as 32-bit float, not {bit_depth}-bit")
    pass_name = out_spec.pass_name or "Combined"
    out_layer = layer if primary.multilayer else None
    if single_source and entry.contract.scale == 1 and primary.path.lower().endswith(".exr"):
        update_exr(primary.path, dst, {pass_name: image}, out_layer)
    else:
        write_exr(dst, {pass_name: image}, out_layer, header=primary.header)
