"""What the add-on's work really is, without ``bpy``: runtime calls on arrays and files.

Operators and render handlers gather plain data on Blender's side (pixels, file paths, options from the
preferences) and hand it to these functions, which run in the worker thread or the render thread and never
touch ``bpy``. Every inference records the provider that really ran, for the preferences to show.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import runtime
from .runtime.exr import ImageError
from .runtime.sequence import FramePattern

#: Beside a frame written by the render: the untouched render (replace mode) or the result (sibling mode).
ORIGINALS_FOLDER = "original"
RESULTS_FOLDER = "postpass"

Progress = Callable[[int, int], None]

#: The latest inference: model, provider that ran, and why it fell back to the CPU (None: it did not).
LAST_RUN: dict[str, str | None] = {}


@dataclass(frozen=True)
class RunOptions:
    """One task's runtime options: the model (None: the runtime picks by the inputs) and how to run it."""

    model: str | None
    models_dir: Path
    device: str = "auto"
    threads: int | None = None
    tile_size: int | None = runtime.DEFAULT_TILE
    precision: str = "fp32"

    def kwargs(self) -> dict:
        return {"model": self.model, "models_dir": self.models_dir, "device": self.device, "threads": self.threads,
                "tile_size": self.tile_size, "precision": self.precision}


def _record(result: runtime.InferenceResult) -> np.ndarray:
    LAST_RUN.update(model=result.model, provider=result.provider, fallback=result.fallback)
    return result.image


def run_arrays(task: str, inputs: dict, options: RunOptions, scale: int | None = None,
               progress: Progress | None = None) -> np.ndarray:
    """``task`` on arrays named by the model contract (color, image, gray, hints, frame0, ...).

    ``progress(done, total)`` is called after each tile; raising in it (a cancelled job) stops the run."""
    return _record(runtime.run(task, inputs, scale=scale, progress=progress, **options.kwargs()))


def run_file(task: str, sources: list[str | None], dst: str, options: RunOptions, *, layer: str,
             inputs: dict | None = None, scale: int | None = None, progress: Progress | None = None,
             key_steps: float | None = None) -> np.ndarray:
    """``task`` on render files (passes of view layer ``layer`` found by name), writing ``dst``; returns the
    result as an array too."""
    return _record(runtime.run_files(task, sources, dst, inputs=inputs, scale=scale, layer=layer,
                                     progress=progress, key_steps=key_steps, **options.kwargs()))


def hint_inputs(hints: np.ndarray | None, mask: np.ndarray | None) -> dict:
    """Colorize hints from a painted RGBA image: the colour where painted; painted means ``mask`` > 0.5, or,
    without a mask, alpha > 0 (a fresh hint image is transparent, so only the strokes count)."""
    if hints is None:
        if mask is not None:
            raise ImageError("mask", "a hint mask needs a hint image to go with it")
        return {}
    if mask is not None:
        if mask.shape[:2] != hints.shape[:2]:
            raise ImageError("mask", f"is {mask.shape[1]}x{mask.shape[0]}; the hint image is "
                                     f"{hints.shape[1]}x{hints.shape[0]}")
        painted = mask[..., 0] > 0.5
    elif hints.shape[2] == 4:
        painted = hints[..., 3] > 0
    else:
        raise ImageError("hints", "has no alpha: paint on a transparent image or give a mask")
    return {"hints": np.ascontiguousarray(hints[..., :3]), "mask": painted.astype(np.float32)}


# ----------------------------------------------------------------------------------------------------------
# Frames written by a render
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FramePlan:
    """What to do with one frame the render wrote.

    ``output`` receives the processed frame: the written file itself (replace mode: the render is first
    copied to ``original``) or a file in the ``postpass`` folder beside it (sibling mode). ``inbetweens``
    are the frames skipped since the previous rendered frame: (previous frame's output, t, where to write).
    """

    written: str
    output: str
    original: str | None
    layer: str = "ViewLayer"
    denoise: RunOptions | None = None
    upres: RunOptions | None = None
    upres_scale: int = 1
    inbetween: RunOptions | None = None
    inbetweens: tuple[tuple[str, float, str], ...] = ()  # (previous frame's file, t, output)
    key_steps: int = 2  # frame steps between the previous rendered frame and this one


def process_frame(plan: FramePlan) -> list[str]:
    """Denoise, up-res and inbetween one rendered frame as planned; returns the files written."""
    written = []
    source = plan.written
    if plan.original:
        Path(plan.original).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(plan.written, plan.original)
        source = plan.original
    if plan.denoise:
        run_file("denoise", [source], plan.output, plan.denoise, layer=plan.layer)
        source = plan.output
    if plan.upres:
        run_file("upres", [source], plan.output, plan.upres, layer=plan.layer, scale=plan.upres_scale)
        source = plan.output
    if plan.denoise or plan.upres:
        written.append(plan.output)
    for previous, t, dst in plan.inbetweens:
        run_file("inbetween", [previous, source], dst, plan.inbetween, layer=plan.layer, inputs={"t": t},
                 key_steps=plan.key_steps)
        written.append(dst)
    return written


def frame_output(written: str, replace: bool) -> tuple[str, str | None]:
    """(where the processed frame goes, where the untouched render is kept or None)."""
    folder, name = os.path.split(written)
    if replace:
        return written, os.path.join(folder, ORIGINALS_FOLDER, name)
    return os.path.join(folder, RESULTS_FOLDER, name), None


# ----------------------------------------------------------------------------------------------------------
# Image sequences
# ----------------------------------------------------------------------------------------------------------
def sequence_of(path: str) -> FramePattern:
    """The sequence a frame file belongs to; the frame number is the last run of digits in its name (Blender's
    rule for image sequences)."""
    folder, name = os.path.split(path)
    stem, dot, suffix = name.rpartition(".")
    found = list(re.finditer(r"\d+", stem if dot else name))
    if not found:
        raise ImageError(path, "has no frame number in its name, so it is not part of an image sequence")
    digits = found[-1]
    stem = stem if dot else name
    return FramePattern(Path(folder), stem[:digits.start()], stem[digits.end():] + dot + suffix,
                        len(digits.group()))


def retime_sequence(pattern: FramePattern, output: FramePattern, factor: int, options: RunOptions, *,
                    layer: str, progress: Callable[[float, str], None] | None = None) -> list[str]:
    """Write ``output``: the frames of ``pattern`` on disk with ``factor - 1`` inbetweens after each one
    (frame i of n becomes output frame first + i * factor). Rendered frames are copied unchanged.

    ``progress(fraction, status)`` follows every tile; raising in it stops the work."""
    frames = pattern.frames_on_disk()
    if len(frames) < 2:
        raise ImageError(str(pattern), f"needs at least two frames on disk to inbetween; found {len(frames)}")
    first, written = frames[0], []
    total = (len(frames) - 1) * factor + 1

    def frame_progress(done: int, tiles: int) -> None:
        if progress:
            progress((len(written) + done / tiles) / total, f"frame {len(written) + 1} of {total}")

    for i, frame in enumerate(frames):
        out = output.path(first + i * factor)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(pattern.path(frame), out)
        written.append(str(out))
        frame_progress(0, 1)
        if i + 1 == len(frames):
            break
        for k in range(1, factor):
            dst = str(output.path(first + i * factor + k))
            run_file("inbetween", [str(pattern.path(frame)), str(pattern.path(frames[i + 1]))], dst, options,
                     layer=layer, inputs={"t": k / factor}, progress=frame_progress,
                     key_steps=frames[i + 1] - frame)
            written.append(dst)
    return written
