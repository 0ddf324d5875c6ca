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
    inbetween_file("f.0001.exr", "f.0003.exr", "f.0002.exr", guides="guides.0002.exr")  # + frame 2's guide render

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
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from .contract import BLENDER_DENOISED_PASS, ModelError
from .engine import DEFAULT_TILE, InferenceResult, beyond_display_white, check_run_options, load_model
from .exr import (ExrImage, ImageError, scaled_window, set_io_threads, update_exr,  # noqa: F401  (re-exported)
                  write_exr)
from .imageio import check_output, output_bit_depth, pass_names, read_image, source_range_of, write_image
from .registry import (PASS_SETTINGS, Choice, Registry, RegistryEntry, frames_read, main_input, reads_frame,
                       reads_sources, source_name)

PathLike = str | os.PathLike
log = logging.getLogger("postpass.runtime")


def run(task: str, inputs: dict, *, model: str | None = None, scale: int | None = None, precision: str = "fp32",
        models_dir: PathLike | None = None, device: str = "auto", threads: int | None = None,
        tile_size: int | None = DEFAULT_TILE, nonfinite: str = "zero", labels: dict[str, str] | None = None,
        progress: Callable[[int, int], None] | None = None, key_steps: float | None = None,
        source_range: str | None = None, frame_source: int | None = None,
        source_count: int | None = None, key_chains: dict[str, list] | None = None) -> InferenceResult:
    """Run ``task`` on ``inputs`` ({contract input name: array or number}; None means absent);
    ``key_steps``: frame steps between the frames whose Vector passes are given (see ``Model.run``);
    ``key_chains``: {"prev"/"next": [Vector passes of the frames between, nearest first]} (see ``Model.run``);
    ``source_range``: ``"ldr"``, ``"hdr"`` or None (unknown: ``"hdr"`` when the task's main input holds values
    above 1.0, an HDR render that an sRGB model would clip; else no preference, nothing clipped);
    ``frame_source``: the inputs are a window of frames f - r .. f + r whose frame f is source r = this (a
    model input's ``source``): only models of such windows run, and a neighbour frame's inputs left out are an
    absent frame (a note in the result says so), not missing passes (None: any model that fits the inputs);
    ``source_count``: the inputs come from sources 0 .. n - 1 of a run (a model input's ``source``): only models
    that read exactly those run (inbetween: 2, the key frames; 3, with the made frame's guide passes)."""
    check_run_options(threads=threads, tile_size=tile_size)
    frame_source, _ = _task_window(task, frame_source)
    if source_range is None:
        source_range = _range_of_values(task, inputs)
    registry = Registry(models_dir)
    given = {k for k, v in inputs.items() if v is not None}
    absent = set()
    if frame_source is not None:
        absent = _absent_neighbours(registry, task, given, frame_source, model)
    choice = _pick(registry, task, given | absent, model, scale, precision, exact=True, source_range=source_range,
                   frame_source=frame_source, source_count=source_count)
    if frame_source is not None:  # a window's farther frames are for the models of wider windows
        inputs = {k: v for k, v in inputs.items() if k in {i.name for i in choice.entry.contract.inputs}}
    runner = load_model(choice.entry.name, registry.folder, device, threads)
    result = runner.run(inputs, tile_size=tile_size, nonfinite=nonfinite, labels=labels, progress=progress,
                        key_steps=key_steps, key_chains=key_chains)
    _finish(task, runner, result, inputs)
    if frame_source is not None:
        _note_absent(result, choice.entry, given)
    return _chosen(result, choice)


#: A result's note where a source was a render Blender denoised (Cycles' Denoise, its raw render kept as "Noisy
#: Image") and the model read the raw render alone: the per-frame models score below Blender's own result on
#: scenes unlike their training data (docs/benchmarks.md), which a user who asked for this run must not miss.
BELOW_BLENDER_NOTE = ("the render was denoised by Blender (Cycles' Denoise); this ran on its raw render and is "
                      "usually below Blender's own result (an animation: denoise it temporally, --temporal)")


def run_files(task: str, sources: list[PathLike | None], dst: PathLike, *, inputs: dict | None = None,
              labels: dict[str, str] | None = None, layer: str | None = "ViewLayer", bit_depth: int | None = None,
              model: str | None = None, scale: int | None = None, precision: str = "fp32",
              models_dir: PathLike | None = None, device: str = "auto", threads: int | None = None,
              tile_size: int | None = DEFAULT_TILE, nonfinite: str = "zero",
              progress: Callable[[int, int], None] | None = None, key_steps: float | None = None,
              source_range: str | None = None, frame_source: int | None = None,
              source_count: int | None = None, key_chains: dict[str, list[PathLike]] | None = None
              ) -> InferenceResult:
    """Run ``task`` on image files and write ``dst`` (``key_steps``: see :func:`run`; ``key_chains``: as there,
    each Vector pass given as the file, a guide render, that holds it).

    Each model input names a pass and which of ``sources`` holds it (its metadata), so a multilayer EXR
    feeds colour, albedo, normal and vectors by pass name, and the model is chosen by which passes exist and
    by the first source's range (``source_range``, default from the file: an 8/16-bit PNG, JPEG or TIFF is
    ``ldr``, its result clipped to [0, 1] and written back in its bit depth, alpha kept; an EXR is ``hdr``).
    ``inputs`` adds arrays or scalars (e.g. ``t``). An EXR result written from one EXR of the same size
    keeps that file's other parts and header; otherwise the result is written alone. ``bit_depth`` (PNG/TIFF):
    default the first source's when its format has it (16-bit in, 16-bit out), else the format's default.
    ``dst``'s type and ``bit_depth`` are checked before anything is read.

    ``frame_source``: the sources are a window of frames f - r .. f + r (None where that frame is absent: an
    end of the sequence, a gap, a still) whose frame f, the one written, is source r = this. Only models of
    such windows run (:meth:`Registry.choice`); each file must hold the passes such a model needs of a frame
    (else an :class:`ImageError` naming it, before the model runs); an absent neighbour is absent (the
    result's ``notes`` say which), never another frame repeated; an EXR result goes back into frame f's file's
    other passes and header. Consecutive calls in one thread decode each file once: a window's files stay
    decoded (the model's passes only) for the next frame's window (:func:`forget_frames` drops them). Default:
    the only source, when there is one, is the frame (a per-frame run: never a model of windows).

    ``source_count``: only models that read exactly ``sources`` 0 .. n - 1 run (inbetween: the key frames, or
    the key frames and the made frame's guide render: then always a model that reads the guides, and without
    them never one); each file is checked for the passes such a model needs of its source (an
    :class:`ImageError` naming it: a guide render without its Vector pass) before the model runs.
    """
    check_run_options(threads=threads, tile_size=tile_size)
    check_output(dst, bit_depth)
    frame_source, sources = _task_window(task, frame_source, sources)
    set_io_threads(threads)
    single = sum(p is not None for p in sources) == 1
    window = frame_source is not None
    # The frame written: its file's other passes and header go into an EXR result (one source, or a window's)
    own = frame_source if window else (0 if single else None)
    keep = own is not None and Path(dst).suffix.lower() == ".exr"  # keep its parts decoded: one decode a frame
    registry = Registry(models_dir)
    if source_count is not None:
        if len(sources) != source_count:
            raise ModelError(f"{task}: {len(sources)} source files given for a run of {source_count}")
        candidates = source_models(registry, task, source_count, model, scale, precision)  # none: refused now
    if window:
        files, all_passes = _window_files(sources, layer, keep, registry, task, frame_source, model, scale,
                                          precision)
    else:
        files = [_prepared(task, read_image(p, layer, keep_parts=keep and i == own)) if p is not None else None
                 for i, p in enumerate(sources)]
        all_passes = [set(f.passes) if f is not None else set() for f in files]
        if source_count is not None:
            for i, file in enumerate(files):
                if file is not None:
                    check_source_passes(candidates, file.path, all_passes[i], layer, i)
    inputs = {k: v for k, v in (inputs or {}).items() if v is not None}
    available = set(inputs)
    for entry in registry.entries.values():
        if entry.contract.task == task:
            available |= {spec.name for spec in entry.contract.image_inputs if _holds(all_passes, spec)}
    absent = set()
    if window:
        absent_sources = {i for i, p in enumerate(sources) if p is None and i != frame_source}
        absent = _absent_neighbours(registry, task, available, frame_source, model, absent_sources)
    primary = files[own] if own is not None else files[0]
    if source_range is None and primary is not None:
        source_range = source_range_of(primary)
    choice = _pick(registry, task, available | absent, model, scale, precision, exact=False,
                   source_range=source_range, files=True,
                   frame_source=frame_source if window else (0 if len(sources) == 1 else None),
                   source_count=source_count)
    entry = choice.entry

    needed = {spec.pass_name for spec in entry.contract.image_inputs if spec.pass_name}
    if window:
        _refresh_trimmed(files, all_passes, needed, layer, keep, task)
    arrays, labels = dict(inputs), dict(labels or {})
    for spec in entry.contract.image_inputs:
        if spec.name in arrays or spec.pass_name is None or (spec.optional and not _holds(all_passes, spec)):
            continue
        source = files[spec.source] if spec.source < len(files) else None
        if source is None:
            raise ModelError(f"model {entry.name!r} needs source file #{spec.source} for {spec.name!r} "
                             f"(pass {spec.pass_name!r})")
        arrays[spec.name] = source.get(spec.pass_name)  # a missing pass raises ImageError naming the file
        labels.setdefault(spec.name, f"{source.path} [{spec.pass_name}]")
    for file in files:  # an 8K multilayer EXR holds GBs of passes: keep only those the model reads
        if file is not None:
            for name in [n for n in file.passes if not window or n not in needed]:
                del file.passes[name]
    if entry.contract.scale != 1 and primary is not None:
        primary.parts = None  # the result does not go back into this file (another size)
    chains = {side: [read_image(path, layer).get("Vector", 4) for path in paths]  # ImageError names the file
              for side, paths in (key_chains or {}).items()}
    runner = load_model(entry.name, registry.folder, device, threads)
    result = runner.run(arrays, tile_size=tile_size, nonfinite=nonfinite, labels=labels, progress=progress,
                        key_steps=key_steps, key_chains=chains)
    _finish(task, runner, result, arrays)
    if window:
        _note_absent(result, entry, set(arrays))
    del files, arrays
    result = _chosen(result, choice)
    if any(BLENDER_DENOISED_PASS in p for p in all_passes) and BLENDER_DENOISED_PASS not in needed:
        result.notes.append(BELOW_BLENDER_NOTE)
    for note in result.notes if window else ():
        log.info("%s: %s", primary.path, note)
    _write_result(dst, result, entry, primary, own is not None, layer, bit_depth)
    return result


# ----------------------------------------------------------------------------------------------------------
# Windows of frames (temporal models): checks, absent neighbours, frames decoded once
# ----------------------------------------------------------------------------------------------------------
_FRAMES = threading.local()  # .entries: {file key: (ExrImage, its passes as read)}, per thread


def forget_frames() -> None:
    """Drop the frames this thread keeps decoded between window runs (see :func:`run_files`)."""
    _FRAMES.entries = {}


def _frame_key(path: str, layer: str | None) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # read_image names the problem
    return os.path.realpath(path), layer, st.st_mtime_ns, st.st_size, st.st_ino


def _prepared(task: str, image: ExrImage) -> ExrImage:
    """``image``, a source file just read, after the task's ``prepare_source`` hook (when it has one)."""
    from . import tasks  # the task modules import this one

    hook = tasks.get(task).prepare_source if task in tasks.names() else None
    if hook is not None:
        hook(image)
    return image


def prepared_pass_names(task: str, path: PathLike, layer: str | None) -> set[str]:
    """The passes of file ``path`` (its header only) as ``task`` sees them after its ``prepare_source`` hook
    (:func:`_prepared`): what the checks before a run compare with what a model needs."""
    from . import tasks  # the task modules import this one

    names = pass_names(path, layer)
    rename = tasks.get(task).source_pass_names if task in tasks.names() else None
    return set(rename(names)) if rename is not None else set(names)


def _task_window(task: str, frame_source: int | None, sources: list | None = None) -> tuple[int | None, list | None]:
    """A run's ``frame_source`` and ``sources`` as the task's runs on windows read them
    (``TaskSpec.window_runs``): a window of fewer frames on each side (frame f source r, 0 < r < the task's R)
    is the middle of one of R, the frames beyond it absent (models read their windows from the middle:
    ``registry.into_window``). Anything else as it is."""
    from . import tasks  # the task modules import this one

    layout = tasks.get(task).window_runs if task in tasks.names() else None
    if frame_source is None or layout is None or not 0 < frame_source < layout.window:
        return frame_source, sources
    pad = [None] * (layout.window - frame_source)
    return layout.window, None if sources is None else [*pad, *sources, *pad]


def _window_files(sources: list, layer: str | None, keep: bool, registry: Registry, task: str, frame_source: int,
                  model: str | None, scale: int | None, precision: str) -> tuple[list, list[set[str]]]:
    """The window's files (decoded, or as this thread kept them from the window before) and each one's passes,
    each checked for the passes a model of such windows needs of a frame (an ImageError naming it)."""
    cache: dict = getattr(_FRAMES, "entries", {})
    models = window_models(registry, task, frame_source, model, scale, precision)
    files, passes, seen, kept = [], [], {}, {}
    for i, path in enumerate(sources):
        if path is None:
            files.append(None)
            passes.append(set())
            continue
        key = _frame_key(str(path), layer)
        hit = (seen.get(key) or cache.get(key)) if key is not None else None
        if hit is None:
            # every file of a window is some frame's own file in a run: keep its parts for then (EXR results)
            image = _prepared(task, read_image(path, layer, keep_parts=keep))
            hit = (image, frozenset(image.passes))
        check_window_passes(models, str(path), hit[1], layer)
        if key is not None:
            seen[key] = hit
            if i >= 1:  # frames f - r + 1 .. f + r serve the next frame's window again
                kept[key] = hit
        files.append(hit[0])
        passes.append(set(hit[1]))
    _FRAMES.entries = kept
    return files, passes


def _refresh_trimmed(files: list, all_passes: list[set[str]], needed: set[str], layer: str | None,
                     keep: bool, task: str) -> None:
    """Read again a kept frame that lost a pass this model reads (another model's window kept fewer)."""
    for i, file in enumerate(files):
        if file is not None and (needed & all_passes[i]) - set(file.passes):
            fresh = _prepared(task, read_image(file.path, layer, keep_parts=keep))
            file.passes.update(fresh.passes)
            file.parts = file.parts if file.parts is not None else fresh.parts


def window_models(registry: Registry, task: str, frame_source: int, model: str | None = None,
                  scale: int | None = None, precision: str = "fp32") -> list[RegistryEntry]:
    """The models a run on windows of frames (frame f: source ``frame_source``) may use: the one named, or the
    task's of that scale and precision that read such windows; a one-line ModelError when there is none."""
    return _models_reading(registry, task, model, scale, precision, registry.check_frames,
                           lambda c: reads_frame(c, frame_source), frame_source=frame_source)


def _models_reading(registry: Registry, task: str, model: str | None, scale: int | None, precision: str,
                    check, reads, **which) -> list[RegistryEntry]:
    """The model named (refused by :meth:`Registry.named` when it does not read ``which``), or the task's models
    of that scale and precision for which ``reads(contract)`` holds, after ``check(task, *which)`` (a one-line
    ModelError when the registry has none)."""
    if model is not None:
        entry = registry.get(model)
        if entry.contract.task != task:
            raise ModelError(f"model {model!r} is a {entry.contract.task} model, not {task}")
        registry.named(model, **which)  # refuses a model of other frames or sources
        return [entry]
    check(task, *which.values())
    of_kind = [e for e in registry.entries.values() if e.contract.task == task and e.precision == precision
               and (scale is None or e.contract.scale == scale)]
    return [e for e in of_kind if reads(e.contract)]


def frame_passes(entry: RegistryEntry) -> list[str]:
    """The passes a model of windows of frames needs of its frame (its required inputs from that source)."""
    main = main_input(entry.contract)
    return list(dict.fromkeys(i.pass_name for i in entry.contract.image_inputs
                              if i.pass_name and not i.optional and i.source == main.source))


def check_window_passes(models: list[RegistryEntry], path: str, passes: set[str] | frozenset[str],
                        layer: str | None) -> None:
    """Refuse (an ImageError naming ``path``) a file of a window of frames that lacks a pass every one of
    ``models`` needs of a frame: any file of the window is some frame's own, or the neighbour of one."""
    if not models:
        return
    lacking = [[p for p in frame_passes(e) if p not in passes] for e in models]
    if any(not missing for missing in lacking):
        return
    entry, missing = min(zip(models, lacking), key=lambda pair: len(pair[1]))
    needs = frame_passes(entry)
    settings = list(dict.fromkeys(PASS_SETTINGS[p] for p in needs if p in PASS_SETTINGS))
    where = f" in view layer {layer!r}" if layer else ""
    noun = "pass" if len(missing) == 1 else "passes"
    advice = f"; render with {' and '.join(settings)}" if settings else ""
    raise ImageError(path, f"no {_and(missing)} {noun}{where}: {entry.name} reads {frames_read(entry.contract)} "
                           f"and needs {_and(needs)} in every frame{advice}")


def check_windows_alike(models: list[RegistryEntry], passes: dict[str, set[str] | frozenset[str]],
                        first: list[str], layer: str | None) -> None:
    """Refuse (an ImageError naming the file) a run on windows of frames whose files differ in a pass the model
    its first window may pick needs of every frame: the first frame that runs picks the run's model and every
    later frame uses it, so a sequence rendered partly with Cycles' Denoise and partly without would fail its
    later frames one by one, and a chunk of them alone would pick another model. ``passes``: each file's
    (header) passes; ``first``: the files of the first window that runs. The message names a model every file
    fits, when one does."""
    def fits(entry: RegistryEntry, names) -> bool:
        return all(p in names for p in frame_passes(entry))

    first = [p for p in first if p in passes]  # a file that could not be read fails its own frame
    if not first:
        return
    first_fit = [e for e in models if all(fits(e, passes[p]) for p in first)]
    everywhere = [e for e in models if all(fits(e, names) for names in passes.values())]
    risky = [e for e in first_fit if e not in everywhere]
    if not risky:
        return
    entry = max(risky, key=lambda e: len(frame_passes(e)))  # the choice prefers the model that reads the most
    path = next(p for p, names in passes.items() if not fits(entry, names))
    missing = [p for p in frame_passes(entry) if p not in passes[path]]
    has = first[0]
    where = f" in view layer {layer!r}" if layer else ""
    noun = "pass" if len(missing) == 1 else "passes"
    settings = list(dict.fromkeys(PASS_SETTINGS[p] for p in missing if p in PASS_SETTINGS))
    alike = f"render every frame with {' and '.join(settings)}" if settings else "render the frames alike"
    other = f", or run them all with a model every frame fits (--model {everywhere[0].name})" if everywhere else ""
    raise ImageError(path, f"no {_and(missing)} {noun}{where}, which {Path(has).name} has: one model runs the "
                           f"whole sequence, and {entry.name} needs {_and(frame_passes(entry))} in every frame; "
                           f"{alike}{other}")


def source_models(registry: Registry, task: str, source_count: int, model: str | None = None,
                  scale: int | None = None, precision: str = "fp32") -> list[RegistryEntry]:
    """The models a run whose sources are 0 .. ``source_count`` - 1 may use (see :meth:`Registry.choice`): the
    one named, or the task's of that scale and precision that read exactly those; a one-line ModelError when
    there is none (guides given and no model that reads them) or the named one reads others."""
    return _models_reading(registry, task, model, scale, precision, registry.check_sources,
                           lambda c: reads_sources(c, source_count), source_count=source_count)


def source_passes(entry: RegistryEntry, source: int) -> list[str]:
    """The passes model ``entry`` needs of its source ``source`` (its required inputs from there)."""
    return list(dict.fromkeys(i.pass_name for i in entry.contract.image_inputs
                              if i.pass_name and not i.optional and i.source == source))


def check_source_passes(models: list[RegistryEntry], path: str, passes: set[str] | frozenset[str],
                        layer: str | None, source: int) -> None:
    """Refuse (an ImageError naming ``path``) source file #``source`` of a run when it lacks a pass every one of
    ``models`` needs of that source: ``beauty.1001.exr: no Denoising Depth pass in view layer 'ViewLayer':
    inbetween_guided reads key frames and guides and needs Combined, ... in every key frame; render the key
    frames with Denoising Data``."""
    if not models:
        return
    lacking = [[p for p in source_passes(e, source) if p not in passes] for e in models]
    if any(not missing for missing in lacking):
        return
    entry, missing = min(zip(models, lacking), key=lambda pair: len(pair[1]))
    needs = source_passes(entry, source)
    settings = list(dict.fromkeys(PASS_SETTINGS[p] for p in needs if p in PASS_SETTINGS))
    where = f" in view layer {layer!r}" if layer else ""
    noun = "pass" if len(missing) == 1 else "passes"
    kind = source_name(entry.contract.task, source)
    advice = f"; render the {kind}s with {' and '.join(settings)}" if settings else ""
    raise ImageError(path, f"no {_and(missing)} {noun}{where}: {entry.name} reads {frames_read(entry.contract)} "
                           f"and needs {_and(needs)} in every {kind}{advice}")


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _absent_neighbours(registry: Registry, task: str, given: set[str], frame_source: int, model: str | None,
                       sources: set[int] | None = None) -> set[str]:
    """The inputs of window models (frame f: source ``frame_source``) that read a neighbour frame absent from
    this window (of ``sources``; None: any not given) whose pass frame f gives: an end of the sequence or a
    still, not a missing pass, so they count as given when the model is chosen and explained."""
    found = set()
    for entry in registry.entries.values():
        if entry.contract.task != task or not reads_frame(entry.contract, frame_source) \
                or (model is not None and entry.name != model):
            continue
        own = {i.pass_name for i in entry.contract.image_inputs
               if i.source == frame_source and i.name in given and i.pass_name}
        found |= {i.name for i in entry.contract.image_inputs
                  if i.source != frame_source and i.name not in given and i.pass_name in own
                  and (sources is None or i.source in sources)}
    return found


def _note_absent(result: InferenceResult, entry: RegistryEntry, given: set[str]) -> None:
    """A note on ``result`` naming the neighbour frames of its window of which no input was ``given``."""
    main = main_input(entry.contract).source
    sources = sorted({i.source for i in entry.contract.image_inputs})
    missing = [s for s in sources if s != main
               and not any(i.name in given for i in entry.contract.image_inputs if i.source == s)]
    if not missing:
        return
    name = lambda s: "f" if s == main else f"f{s - main:+d}"  # noqa: E731
    present = [name(s) for s in sources if s not in missing]
    frames = "frame" if len(missing) == 1 else "frames"
    if len(present) > 1:
        why = f"an end of the sequence or a gap: made from frames {', '.join(present)}"
    else:
        why = "a still, or a gap on each side: made from frame f alone"
    result.notes.append(f"no {frames} {' and '.join(name(s) for s in missing)} to read ({why})")


def __getattr__(name: str):
    from .tasks import api_function  # the task modules import this one: look them up only when asked

    return api_function(name)


def _holds(passes: list[set[str]], spec) -> bool:
    """Whether the source ``spec`` reads holds its pass (``passes``: each source's pass names)."""
    return spec.pass_name is not None and spec.source < len(passes) and spec.pass_name in passes[spec.source]


def _pick(registry: Registry, task: str, given: set[str], model: str | None, scale: int | None, precision: str,
          exact: bool, source_range: str | None = None, files: bool = False,
          frame_source: int | None = None, source_count: int | None = None) -> Choice:
    if model is None:
        return registry.choice(task, given, scale, precision, exact, source_range, files, frame_source, source_count)
    entry = registry.get(model)
    if entry.contract.task != task:
        raise ModelError(f"model {model!r} is a {entry.contract.task} model, not {task}")
    if scale is not None and entry.contract.scale != scale:
        raise ModelError(f"model {model!r} up-reses x{entry.contract.scale}, not x{scale}")
    return registry.named(model, given, source_range, files, frame_source, source_count)


def _range_of_values(task: str, inputs: dict) -> str | None:
    """``"hdr"`` when the task's main input (denoise ``color``, upres ``image``) holds values above 1.0: a render,
    never a display-referred image, so a linear model is picked rather than an sRGB one that clips it; else None
    (values in [0, 1] may be either)."""
    from . import tasks  # the task modules import this one

    image = inputs.get(tasks.get(task).main_input) if task in tasks.names() else None
    if image is None or isinstance(image, (int, float)):
        return None
    image = np.asarray(image)
    return "hdr" if image.dtype.kind == "f" and image.size and beyond_display_white(image) else None


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
        # an up-res of a crop (data window inside the display window) keeps its place in the scaled frame
        scale = entry.contract.scale
        write_exr(dst, {pass_name: image}, out_layer, header=primary.header,
                  data_window=scaled_window(primary.data_window, scale),
                  display_window=scaled_window(primary.display_window, scale))
