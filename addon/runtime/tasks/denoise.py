"""Denoise: a noisy render in, a clean one out, guided by its albedo and normal passes when present.

The model is picked by what the input has (``Registry.choice``): colour + albedo + normal (a render with
Denoising Data), colour + albedo, or colour alone; an 8- or 16-bit image (PNG, JPEG, TIFF, a byte image in
Blender) gets an sRGB model where one is published, else the colour-only model on its linear values, the result
clipped to [0, 1] and written back in its bit depth with its alpha. The result's ``choice`` says which and why.

Temporal denoising (animations, issue 26) is the same task on windows of frames: frame f with frames f - 2 ..
f + 2, warped along the Vector passes by a model whose inputs include the neighbours (``prev_*``, ``next_*``,
``prev2_*``, ``next2_*``, all optional: an absent neighbour is zeros, which the model masks out, never the end
frame repeated). Renders made with Cycles' Denoise on get the average of Blender's own denoised frames
(``denoise_oidn_temporal``, frames f - 2 .. f + 2: it reads the most of such a file), raw renders the network on
the pooled samples of frames f - 1 .. f + 1 (``denoise_kpn_temporal``, a model of a narrower window, which
reads the middle of it). It runs only when asked (``--temporal``, ``temporal=True``, or the neighbour arrays
given): a per-frame run never gets such a model, whatever passes a file holds. The output of frame f depends on
frames f - 2 .. f + 2 alone (a window, no recurrent state), so farm chunks need no warm-up: a chunk reads the
two frames on each side of its range.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from ..api import PathLike, log, run, run_files
from ..contract import BLENDER_DENOISED_PASS, RAW_RENDER_PASS, ModelError, as_raw_render, raw_render_pass_names
from ..engine import InferenceResult
from ..exr import ExrImage
from ..registry import Registry, reads_frame
from . import CliOption, Layout, TaskSpec, register

#: Temporal runs: windows of frames f - 2 .. f + 2 (sources 0 .. 4), a neighbour not on disk absent.
TEMPORAL = Layout("window", window=2, ends="absent")
#: A neighbour frame's arrays (``prev``, ``next``, ``prev2``, ``next2``) by input name, and the passes of a
#: file they come from (Blender's denoised result only in a render that has it: a model of Blender's frames
#: reads it; the Vector pass of frame f - 1 or f + 1, which moves frame f - 2 or f + 2 on to frame f).
NEIGHBOUR_PASSES = {"color": "Combined", "albedo": "Denoising Albedo", "normal": "Denoising Normal",
                    "blender_denoised": BLENDER_DENOISED_PASS, "vector": "Vector"}
#: the neighbour frames of a window (argument names; their inputs are ``<name>_<key>``), nearest first
NEIGHBOURS = ("prev", "next", "prev2", "next2")
#: the neighbour passes every temporal model needs; the others are read where the file has them
NEIGHBOUR_REQUIRED = ("color", "albedo", "normal")


_RAW_RENDER_SAID: set[str] = set()  # folders whose renders were said to be Blender-denoised


def raw_render(image: ExrImage) -> None:
    """A render whose Combined is Blender's denoised result (its raw render kept as "Noisy Image") gets its raw
    render as Combined, alpha as rendered, and Blender's result as :data:`BLENDER_DENOISED_PASS`: denoising an
    already denoised image only blurs it, while a model that improves on Blender's result (a shot fine-tune's
    ``denoise_oidn_residual_shot``) reads both. Said once per folder (a warning): a sequence's frames are all
    rendered alike."""
    if RAW_RENDER_PASS not in image.passes:
        return
    passes = as_raw_render(image.passes)
    image.passes.clear()  # in place: the run holds this dict
    image.passes.update(passes)
    _say_blender_denoised(image.path)


def _say_blender_denoised(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in _RAW_RENDER_SAID:
        _RAW_RENDER_SAID.add(folder)
        # the per-frame shipped models read the raw render alone and score below Blender's own result on the
        # authored set (docs/benchmarks.md): a user who asked to denoise such a render must not take it for better
        log.warning("%s: its Combined pass is Blender's denoised render; a denoiser reads the raw render (%r) as "
                    "colour. A model that also reads Blender's result improves on it (an animation with --temporal: "
                    "denoise_oidn_temporal; a shot's fine-tune); a per-frame model of the raw render alone usually "
                    "comes out below Blender's result on scenes unlike its training data", path, RAW_RENDER_PASS)


def denoise(color: np.ndarray, albedo: np.ndarray | None = None, normal: np.ndarray | None = None, *,
            blender_denoised: np.ndarray | None = None, vector: np.ndarray | None = None,
            prev: Mapping | ExrImage | None = None, next: Mapping | ExrImage | None = None,
            prev2: Mapping | ExrImage | None = None, next2: Mapping | ExrImage | None = None,
            exposure: float | None = None, **options) -> np.ndarray:
    """Denoise a linear render (RGB or RGBA), optionally guided by Denoising Albedo and camera-space Normal: the
    model is the one for the inputs given (colour only, + albedo, + albedo and normal).

    ``blender_denoised``: Blender's own denoised image of this render (Cycles' Denoise with OpenImageDenoise,
    Accurate, High: a render's Combined when it also holds "Noisy Image", ``color`` then being that raw render),
    for a model that improves on it (a shot fine-tune's ``denoise_oidn_residual_shot``; none is shipped).

    Temporal, a frame of an animation: give ``vector``, this frame's Vector pass (H x W x 4, Blender's), and
    its neighbours ``prev`` (frame f - 1), ``next`` (frame f + 1), ``prev2`` (f - 2) and ``next2`` (f + 2), each
    a dict of arrays ``{"color": ..., "albedo": ..., "normal": ...}`` (Combined, Denoising Albedo, Denoising
    Normal; ``"vector"``, its Vector pass, in ``prev`` and ``next`` to reach ``prev2`` and ``next2``) or a
    :func:`read_image` result of that frame's file, or None where the frame does not exist (the ends of a
    sequence; all None: a still). A model of windows of frames runs (it needs ``albedo`` and ``normal`` too):
    with ``blender_denoised`` given (and ``"blender_denoised"`` in the neighbour dicts; a :func:`read_image`
    result of a Blender-denoised render gives it), ``denoise_oidn_temporal``, the average of Blender's frames
    f - 2 .. f + 2 along the Vector passes; without, ``denoise_kpn_temporal`` (frames f - 1 .. f + 1; it leaves
    ``prev2`` and ``next2`` out). Without ``vector`` and neighbours a per-frame model runs.

    ``exposure``: the scale the model normalises by (default: this frame's own, from ``color``; a temporal
    model scales the neighbours by it too); ``source_range="ldr"`` for an 8-bit image's decoded values (an
    sRGB model where published; the result clipped to [0, 1]).
    """
    inputs = {"color": color, "albedo": albedo, "normal": normal, "exposure": exposure,
              "blender_denoised": blender_denoised}
    frames = {"prev": prev, "next": next, "prev2": prev2, "next2": next2}
    if vector is None and all(frame is None for frame in frames.values()):
        if blender_denoised is not None and options.get("model") is None:
            _check_per_frame_reader(options.get("models_dir"))
        return run("denoise", inputs, **options).image
    if vector is None:
        raise ModelError("denoise: prev/next (the neighbour frames) need this frame's Vector pass: give vector=")
    inputs["vector"] = vector
    neighbours = {name: _neighbour(name, frame) for name, frame in frames.items()}
    for name, neighbour in neighbours.items():
        if neighbour and ("blender_denoised" in neighbour) != (blender_denoised is not None):
            raise ModelError(_mixed_frames(name, blender_denoised is not None))
        nearer = name[:-1]  # prev2 -> prev: the frame it is moved through
        if neighbour and name.endswith("2") and neighbours[nearer] and "vector" not in neighbours[nearer]:
            sign = "-" if nearer == "prev" else "+"
            raise ModelError(f"denoise: {name} (frame f {sign} 2) is moved onto this frame through frame f {sign} 1: "
                             f"give {nearer}'s Vector pass ({nearer}={{..., 'vector': ...}})")
        inputs.update({f"{name}_{key}": value for key, value in neighbour.items()})
    # frames f - 2, f + 2 (and the vectors that reach them) go to models of such windows only: with none in the
    # folder they are left out, as a run on files reads each model's own window
    window_inputs = {i.name for e in Registry(options.get("models_dir")).entries.values()
                     if e.contract.task == "denoise" and reads_frame(e.contract, TEMPORAL.window)
                     for i in e.contract.inputs}
    far = {f"{n}_{key}" for n in NEIGHBOURS for key in NEIGHBOUR_PASSES if n.endswith("2") or key == "vector"}
    inputs = {k: v for k, v in inputs.items() if k not in far or k in window_inputs}
    result = run("denoise", inputs, frame_source=TEMPORAL.window, **options)
    return result.image


def denoise_file(src: PathLike, dst: PathLike, *, temporal: bool = False, prev: PathLike | None = None,
                 next: PathLike | None = None, prev2: PathLike | None = None, next2: PathLike | None = None,
                 **options) -> InferenceResult:
    """Denoise a render or image file; from a multilayer EXR the albedo and normal passes are used when present
    (the model for the passes there), an 8/16-bit PNG, JPEG or TIFF comes back in its bit depth with its alpha.
    The result's ``choice`` says which model ran and why (e.g. no Denoising Data).

    ``temporal=True``: ``src`` is frame f of an animation, ``prev``, ``next``, ``prev2`` and ``next2`` the
    files of frames f - 1, f + 1, f - 2 and f + 2 (None where there is none: the ends of the sequence; all
    None: a still, which the result's ``notes`` say), all rendered with the Vector pass and Denoising Data
    (else an ImageError naming the file, before the model runs). Consecutive calls in one thread decode each file once (``postpass denoise
    --temporal`` runs the same). Without it a per-frame model runs, even on a file with a Vector pass.
    """
    if not temporal:
        if any(p is not None for p in (prev, next, prev2, next2)):
            raise ModelError("denoise_file: prev/next are the neighbour frames of a temporal run: add temporal=True")
        return run_files("denoise", [src], dst, **options)
    return run_files("denoise", [prev2, prev, src, next, next2], dst, frame_source=TEMPORAL.window, **options)


def _check_per_frame_reader(models_dir) -> None:
    """Refuse in one line a per-frame call given Blender's result where no per-frame model reads it (the shipped
    folder has none: a shot fine-tune's correction does), rather than list every model's inputs."""
    registry = Registry(models_dir)
    if not any(e.contract.task == "denoise" and reads_frame(e.contract, 0)
               and "blender_denoised" in {i.name for i in e.contract.inputs} for e in registry.entries.values()):
        raise ModelError(f"denoise: no per-frame model in {registry.path} reads blender_denoised (Blender's result; "
                         "a shot fine-tune's correction does): leave it out to denoise the raw render alone, or give "
                         "vector=, prev= and next= for the temporal model of Blender's frames")


def _mixed_frames(name: str, frame_has: bool) -> str:
    """Why a window whose frames differ in Blender's denoised result is refused (one model reads a window)."""
    if frame_has:
        return (f"denoise: blender_denoised (Blender's result) is given for this frame but {name} (a neighbour frame) "
                f"has none: give every frame's, as renders with Cycles' Denoise hold it, or none")
    return (f"denoise: {name} holds Blender's denoised result (a render with Cycles' Denoise on) but this frame's "
            f"blender_denoised is not given: give this frame's raw render ('Noisy Image') as colour and its Combined "
            f"as blender_denoised= (denoise_file reads both by itself)")


def _neighbour(name: str, frame: Mapping | ExrImage | None) -> dict[str, np.ndarray]:
    """A neighbour frame's arrays by input name (``color``, ``albedo``, ``normal``; ``blender_denoised`` where it
    has one); {} for None. A :func:`read_image` result is read as the denoiser reads a file (a Blender-denoised
    render's raw render as colour, Blender's result beside it) without changing the caller's image."""
    if frame is None:
        return {}
    if isinstance(frame, ExrImage):
        if RAW_RENDER_PASS in frame.passes:
            _say_blender_denoised(frame.path)
            frame = replace(frame, passes=as_raw_render(frame.passes))
        return {key: frame.get(pass_name) for key, pass_name in NEIGHBOUR_PASSES.items()
                if key in NEIGHBOUR_REQUIRED or pass_name in frame.passes}
    if not isinstance(frame, Mapping):
        raise ModelError(f"denoise: {name} is a neighbour frame: a dict of {', '.join(NEIGHBOUR_PASSES)} arrays, "
                         f"a read_image result or None, not {type(frame).__name__}")
    unknown = sorted(set(frame) - set(NEIGHBOUR_PASSES))
    if unknown:
        raise ModelError(f"denoise: {name} takes {', '.join(NEIGHBOUR_PASSES)}, not {', '.join(unknown)}")
    return {key: value for key, value in frame.items() if value is not None}


def layout_of(options: dict) -> Layout | None:
    """``--temporal``: windows of frames (:data:`TEMPORAL`); otherwise each frame alone."""
    return TEMPORAL if options.get("temporal") else None


SPEC = register(TaskSpec(
    name="denoise",
    summary="denoise renders and images (albedo and normal passes used when present)",
    label="Denoise",
    icon="SHADERFX",
    main_input="color",
    layout="frame",
    layout_of=layout_of,
    window_runs=TEMPORAL,
    prepare_source=raw_render,
    source_pass_names=raw_render_pass_names,
    cli_options=(
        CliOption(("--temporal",), {"action": "store_true",
                                    "help": "denoise an animation with a temporal model: each frame with frames "
                                            "f-2 .. f+2 along their Vector passes (less flicker); needs the Vector "
                                            "pass and Denoising Data; a chunk reads the two frames on each side "
                                            "of it"}),
    ),
    order=10,
    examples="""
examples:
  postpass denoise render/beauty.####.exr -o render/clean.####.exr
  postpass denoise beauty.%04d.exr -o clean/ --frames 1001-1100 --skip-existing    (one farm chunk)
  postpass denoise beauty.####.exr -o clean.####.exr --temporal --frames 1001-1050  (animation; reads 1000, 1051)
  postpass denoise beauty.####.exr -o preview/beauty.####.png --frames 1001-1100x10
  postpass denoise beauty.####.exr -o clean.####.exr --layer Characters             (another view layer)
  postpass denoise a.exr b.exr c.exr -o clean/
  postpass denoise photo.png -o photo_clean.png      (8-bit in, 8-bit out, alpha kept)
  postpass denoise beauty.####.exr -o clean.####.exr --scheduler tcp://farm-head:8786 --json
""",
    api=(denoise, denoise_file),
    on_render="frame",
    description="Denoise the image with a Postpass network (a render's albedo and normal passes are used when "
                "present; 8-bit images keep their range and alpha)",
    result="denoised",
    activity="Denoising",
))
