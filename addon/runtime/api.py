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
raise in it to cancel), ``source_range`` (``"ldr"``: display-referred [0, 1] sRGB, e.g. an 8-bit texture, so an
sRGB model is preferred and results are clipped to [0, 1]; ``"hdr"``: a render; file calls default to the
first source's: 8/16-bit files are ``ldr``, EXR and float TIFF ``hdr``). Array calls return the image;
:func:`run` and the file calls return an :class:`InferenceResult` with the model and why it was chosen
(``choice``, also logged at INFO on ``postpass.runtime``), the provider that ran, NaN counts, scalars used and
timing.
Errors are one line: :class:`ImageError` names the file (or input) and the problem, :class:`ModelError` the model.

This module holds what every task shares (:func:`run`, :func:`run_files`); each task's own functions live in
its module of ``addon.runtime.tasks`` and are looked up here by name (``api.denoise``), so a new task's
functions appear without an edit here.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .contract import ModelError
from .engine import DEFAULT_TILE, InferenceResult, check_run_options, load_model
from .exr import ImageError, set_io_threads, update_exr, write_exr  # noqa: F401  (ImageError: re-exported, as before)
from .imageio import check_output, output_bit_depth, read_image, source_range_of, write_image
from .registry import Choice, Registry, RegistryEntry

PathLike = str | os.PathLike
log = logging.getLogger("postpass.runtime")


def run(task: str, inputs: dict, *, model: str | None = None, scale: int | None = None, precision: str = "fp32",
        models_dir: PathLike | None = None, device: str = "auto", threads: int | None = None,
        tile_size: int | None = DEFAULT_TILE, nonfinite: str = "zero", labels: dict[str, str] | None = None,
        progress: Callable[[int, int], None] | None = None, key_steps: float | None = None,
        source_range: str | None = None) -> InferenceResult:
    """Run ``task`` on ``inputs`` ({contract input name: array or number}; None means absent);
    ``key_steps``: frame steps between the frames whose Vector passes are given (see ``Model.run``);
    ``source_range``: ``"ldr"``, ``"hdr"`` or None (unknown: no preference, nothing clipped)."""
    check_run_options(threads=threads, tile_size=tile_size)
    registry = Registry(models_dir)
    given = {k for k, v in inputs.items() if v is not None}
    choice = _pick(registry, task, given, model, scale, precision, exact=True, source_range=source_range)
    runner = load_model(choice.entry.name, registry.folder, device, threads)
    result = runner.run(inputs, tile_size=tile_size, nonfinite=nonfinite, labels=labels, progress=progress,
                        key_steps=key_steps)
    _finish(task, runner, result, inputs)
    return _chosen(result, choice)


def run_files(task: str, sources: list[PathLike | None], dst: PathLike, *, inputs: dict | None = None,
              labels: dict[str, str] | None = None, layer: str | None = "ViewLayer", bit_depth: int | None = None,
              model: str | None = None, scale: int | None = None, precision: str = "fp32",
              models_dir: PathLike | None = None, device: str = "auto", threads: int | None = None,
              tile_size: int | None = DEFAULT_TILE, nonfinite: str = "zero",
              progress: Callable[[int, int], None] | None = None, key_steps: float | None = None,
              source_range: str | None = None) -> InferenceResult:
    """Run ``task`` on image files and write ``dst`` (``key_steps``: see :func:`run`).

    Each model input names a pass and which of ``sources`` holds it (its metadata), so a multilayer EXR
    feeds colour, albedo, normal and vectors by pass name, and the model is chosen by which passes exist and
    by the first source's range (``source_range``, default from the file: an 8/16-bit PNG, JPEG or TIFF is
    ``ldr``, its result clipped to [0, 1] and written back in its bit depth, alpha kept; an EXR is ``hdr``).
    ``inputs`` adds arrays or scalars (e.g. ``t``). An EXR result written from one EXR of the same size
    keeps that file's other parts and header; otherwise the result is written alone. ``bit_depth`` (PNG/TIFF):
    default the first source's when its format has it (16-bit in, 16-bit out), else the format's default.
    ``dst``'s type and ``bit_depth`` are checked before anything is read.
    """
    check_run_options(threads=threads, tile_size=tile_size)
    check_output(dst, bit_depth)
    set_io_threads(threads)
    # An EXR result from one EXR source goes back into that file's parts: keep them decoded (one decode a frame)
    single = sum(p is not None for p in sources) == 1
    keep = single and Path(dst).suffix.lower() == ".exr"
    files = [read_image(p, layer, keep_parts=keep and i == 0) if p is not None else None
             for i, p in enumerate(sources)]
    registry = Registry(models_dir)
    inputs = {k: v for k, v in (inputs or {}).items() if v is not None}
    available = set(inputs)
    for entry in registry.entries.values():
        if entry.contract.task == task:
            available |= {spec.name for spec in entry.contract.image_inputs if _holds(files, spec)}
    primary = files[0]
    if source_range is None and primary is not None:
        source_range = source_range_of(primary)
    choice = _pick(registry, task, available, model, scale, precision, exact=False, source_range=source_range,
                   files=True)
    entry = choice.entry

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
    for file in files:  # an 8K multilayer EXR holds GBs of passes: keep only those the model reads
        if file is not None:
            file.passes.clear()
    if entry.contract.scale != 1:
        primary.parts = None  # the result does not go back into this file (another size)
    runner = load_model(entry.name, registry.folder, device, threads)
    result = runner.run(arrays, tile_size=tile_size, nonfinite=nonfinite, labels=labels, progress=progress,
                        key_steps=key_steps)
    _finish(task, runner, result, arrays)
    del files, arrays
    result = _chosen(result, choice)
    _write_result(dst, result, entry, primary, single, layer, bit_depth)
    return result


def __getattr__(name: str):
    from .tasks import api_function  # the task modules import this one: look them up only when asked

    return api_function(name)


def _holds(files: list, spec) -> bool:
    return (spec.pass_name is not None and spec.source < len(files) and files[spec.source] is not None
            and spec.pass_name in files[spec.source].passes)


def _pick(registry: Registry, task: str, given: set[str], model: str | None, scale: int | None, precision: str,
          exact: bool, source_range: str | None = None, files: bool = False) -> Choice:
    if model is None:
        return registry.choice(task, given, scale, precision, exact, source_range, files)
    entry = registry.get(model)
    if entry.contract.task != task:
        raise ModelError(f"model {model!r} is a {entry.contract.task} model, not {task}")
    if scale is not None and entry.contract.scale != scale:
        raise ModelError(f"model {model!r} up-reses x{entry.contract.scale}, not x{scale}")
    return registry.named(model, given, source_range, files)


def _finish(task: str, model, result: InferenceResult, inputs: dict) -> None:
    """The task's ``finish`` hook on ``model``'s result, when it has one (colorize: automatic colour)."""
    from . import tasks  # the task modules import this one

    hook = tasks.get(task).finish if task in tasks.names() else None
    if hook is not None:
        hook(model, result, {k: v for k, v in inputs.items() if v is not None})


def _chosen(result: InferenceResult, choice: Choice) -> InferenceResult:
    """The result with its choice recorded (and logged); a display-referred source's outputs clipped to [0, 1]."""
    result.choice, result.better_with = choice.line, choice.better_with
    if choice.clip:
        for spec in choice.entry.contract.outputs:
            if spec.color_space != "data":
                np.clip(result.outputs[spec.name], 0.0, 1.0, out=result.outputs[spec.name])
    log.info("%s", choice.line)
    return result


def _write_result(dst: PathLike, result: InferenceResult, entry: RegistryEntry, primary, single_source: bool,
                  layer: str | None, bit_depth: int | None) -> None:
    """Write the first output: back into the source EXR's other parts and header when it is the same frame
    (one source, same size), else as a file of its own, carrying the source's layer naming and header text."""
    out_spec = entry.contract.outputs[0]
    image = result.outputs[out_spec.name]
    if Path(dst).suffix.lower() != ".exr":
        write_image(dst, image, output_bit_depth(dst, bit_depth, primary.bit_depth))
        return
    check_output(dst, bit_depth)
    pass_name = out_spec.pass_name or "Combined"
    out_layer = layer if primary.multilayer else None
    if single_source and entry.contract.scale == 1 and primary.path.lower().endswith(".exr"):
        parts, primary.parts = primary.parts, None
        update_exr(primary.path, dst, {pass_name: image}, out_layer, parts=parts)
    else:
        write_exr(dst, {pass_name: image}, out_layer, header=primary.header)
