"""What the add-on's jobs really are, without ``bpy``: runtime calls on arrays and files, for any registered
task (``addon.runtime.tasks``).

Operators and render handlers gather plain data on Blender's side (pixels, file paths, options from the
preferences) and hand it to these functions, which run in the worker thread or the render thread and never
touch ``bpy``. Every inference records the provider that really ran, for the preferences to show. Nothing
here knows a task by name: a task's operator options reach the runtime through :func:`option_inputs`, its
result's name comes from :func:`result_name`.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from . import runtime
from .runtime import tasks
from .runtime.exr import ImageError
from .runtime.sequence import FramePattern

#: Beside a frame written by the render: the untouched render (replace mode) or the result (sibling mode).
ORIGINALS_FOLDER = "original"
RESULTS_FOLDER = "postpass"

Progress = Callable[[int, int], None]

#: The latest inference: model, provider that ran, why it fell back to the CPU (None: it did not), why the model
#: was chosen (``choice``, one line), the passes the input lacked that a better-guided model reads
#: (``better_with``, Blender pass names) and the result's notes (``notes``: e.g. a render Blender had denoised).
LAST_RUN: dict = {}


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
    LAST_RUN.update(model=result.model, provider=result.provider, fallback=result.fallback, choice=result.choice,
                    better_with=tuple(result.better_with), notes=tuple(result.notes))
    return result.image


def run_arrays(task: str, inputs: dict, options: RunOptions, progress: Progress | None = None,
               **run_keywords) -> np.ndarray:
    """``task`` on arrays named by the model contract (color, image, gray, hints, frame0, ...);
    ``run_keywords``: more keywords of the runtime call (``scale``).

    ``progress(done, total)`` is called after each tile; raising in it (a cancelled job) stops the run."""
    return _record(runtime.run(task, inputs, progress=progress, **run_keywords, **options.kwargs()))


def run_file(task: str, sources: list[str | None], dst: str, options: RunOptions, *, layer: str,
             inputs: dict | None = None, progress: Progress | None = None, **run_keywords) -> np.ndarray:
    """``task`` on render files (passes of view layer ``layer`` found by name), writing ``dst``; returns the
    result as an array too. ``run_keywords``: more keywords of the runtime call (``scale``, ``key_steps``)."""
    return _record(runtime.run_files(task, sources, dst, inputs=inputs, layer=layer, progress=progress,
                                     **run_keywords, **options.kwargs()))


# ----------------------------------------------------------------------------------------------------------
# A task's operator options (its registry ``ui_options``) on their way to the runtime
# ----------------------------------------------------------------------------------------------------------
#: Keywords both runtime calls take besides the inputs: an option by one of these names (``scale``) is one.
RUN_KEYWORDS = frozenset(inspect.signature(runtime.run).parameters) \
    & frozenset(inspect.signature(runtime.run_files).parameters) - {"task", "inputs"}


def option_inputs(task: str, values: dict) -> tuple[dict, dict]:
    """(model inputs, runtime keywords) from a task's option values (name -> value; an image option's value
    is its pixels or None): a keyword of the runtime call goes there, the rest through the task's
    ``ui_inputs`` hook, or, without one, each as the model input of its name (empty images left out)."""
    spec = tasks.get(task)
    keywords = {k: v for k, v in values.items() if k in RUN_KEYWORDS}
    rest = {k: v for k, v in values.items() if k not in RUN_KEYWORDS}
    inputs = spec.ui_inputs(rest) if spec.ui_inputs else {k: v for k, v in rest.items() if v is not None}
    return inputs, keywords


def result_name(task: str, values: dict) -> str:
    """What a result of ``task`` with these option values is called after its source ("denoised", "x2")."""
    spec = tasks.get(task)
    return (spec.result or spec.name).format(**values)


def activity(task: str, values: dict) -> str:
    """The status text while ``task`` runs with these option values ("Denoising", "Up-res x2")."""
    spec = tasks.get(task)
    return (spec.activity or spec.label).format(**values)


# ----------------------------------------------------------------------------------------------------------
# Frames written by a render
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One task's part in processing a rendered frame: the task, its runtime options and its option values
    (upres on render: ``{"scale": 2}``). ``between``: for a task that makes the frames a frame step skipped
    (``on_render="skipped_frames"``), those frames, as (previous rendered frame's output, t, where to write);
    empty for a task that processes the frame itself (``on_render="frame"``). ``window``: see below."""

    task: str
    options: RunOptions
    values: dict = field(default_factory=dict)
    between: tuple[tuple[str, float, str], ...] = ()
    #: r > 0: the task reads a window of frames f - r .. f + r (temporal denoising): the renders of
    #: ``FramePlan.before`` and ``after`` beside the frame's own. Only the first step (which reads the render).
    window: int = 0


@dataclass(frozen=True)
class FramePlan:
    """What to do with one frame the render wrote.

    ``output`` receives the processed frame: the written file itself (replace mode: the render is first
    copied to ``original``) or a file in the ``postpass`` folder beside it (sibling mode). ``steps``: the
    on-render tasks, in registry order; the ones that process the frame run first, each on the previous
    one's output, then the ones that make skipped frames, from the processed frames.
    """

    written: str
    output: str
    original: str | None
    layer: str = "ViewLayer"
    steps: tuple[Step, ...] = ()
    key_steps: int = 2  # frame steps between the previous rendered frame and this one
    #: For a step with a ``window`` r: the untouched renders of the r frames before this one and the r after it,
    #: nearest last / first (None: not rendered in this job, an absent neighbour).
    before: tuple[str | None, ...] = ()
    after: tuple[str | None, ...] = ()
    frame: int | None = None  # the frame number (for messages)

    def render(self, processed: bool) -> str:
        """Where the untouched render is: once the frame is ``processed`` in replace mode, the copy in
        ``original`` (when it was made), else the written file (an ``original`` from an earlier render of the
        shot is not this render's)."""
        return self.original if processed and self.original and os.path.isfile(self.original) else self.written


def process_frame(plan: FramePlan) -> list[str]:
    """Run one rendered frame's steps as planned; returns the files written."""
    written = []
    source = plan.written
    if plan.original:
        Path(plan.original).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(plan.written, plan.original)
        source = plan.original
    frame_steps = [step for step in plan.steps if not step.between]
    for step in frame_steps:
        inputs, keywords = option_inputs(step.task, step.values)
        sources = [source]
        if step.window:  # frames f - r .. f + r, frame f the middle one
            r = step.window
            before = ((None,) * r + tuple(plan.before))[-r:]
            after = (tuple(plan.after) + (None,) * r)[:r]
            sources, keywords = [*before, source, *after], {**keywords, "frame_source": r}
        run_file(step.task, sources, plan.output, step.options, layer=plan.layer, inputs=inputs, **keywords)
        source = plan.output
    if frame_steps:
        written.append(plan.output)
    for step in plan.steps:
        inputs, keywords = option_inputs(step.task, step.values)
        for previous, t, dst in step.between:
            run_file(step.task, [previous, source], dst, step.options, layer=plan.layer, inputs={**inputs, "t": t},
                     key_steps=plan.key_steps, **keywords)
            written.append(dst)
    return written


class FrameWindows:
    """The frames of one animation render whose processing reads their neighbours (temporal denoising):
    frame f is processed once the frames up to f + r * step are rendered, so when frame f + r * step is
    written (or the render ends or is cancelled: :meth:`flush`), with the untouched renders of frames
    f - r * step .. f + r * step that this job rendered (a frame it did not render, before the start, past the
    end, or skipped as existing, is absent).

    Frames are added in render order, each with its plan (a step with a ``window``) and its plan for a frame
    alone (``alone``), which a frame with no neighbour rendered in this job (a one-frame render) gets instead.
    The untouched renders stay where the render left them: the written file until the frame is processed,
    then ``original/`` (replace mode) or the written file itself (beside mode), never overwritten while a
    neighbour may still read it (frames are processed in order). Nothing is copied for the windows.
    """

    def __init__(self, window: int = 1, step: int = 1):
        self.window, self.step = window, step
        self.rendered: dict[int, FramePlan] = {}  # frames this job rendered (recent ones), by number
        self.pending: list[tuple[int, FramePlan, FramePlan]] = []  # rendered, not processed yet, in order
        self.processed: set[int] = set()  # frames whose plans were taken (recent ones)

    def add(self, frame: int, plan: FramePlan, alone: FramePlan) -> Iterator[FramePlan]:
        """Frame ``frame`` was written: the plans of the frames now ready, neighbours filled in, in order. Process
        each one before taking the next: a neighbour's render is looked up when its plan is taken."""
        self.rendered[frame] = plan
        self.pending.append((frame, plan, alone))
        return self._ready(lambda pending: pending + self.window * self.step <= frame)

    def flush(self) -> Iterator[FramePlan]:
        """The render ended (or was cancelled): the frames left, their neighbours not rendered absent (as
        :meth:`add`, one at a time)."""
        return self._ready(lambda pending: True)

    def _ready(self, due: Callable[[int], bool]) -> Iterator[FramePlan]:
        while self.pending and due(self.pending[0][0]):
            frame, plan, alone = self.pending.pop(0)
            ready = self._complete(frame, plan, alone)
            self.processed.add(frame)
            yield ready

    def _complete(self, frame: int, plan: FramePlan, alone: FramePlan) -> FramePlan:
        def render(at: int) -> str | None:
            neighbour = self.rendered.get(at)
            return neighbour.render(at in self.processed) if neighbour is not None else None

        offsets = range(1, self.window + 1)
        before = tuple(render(frame - k * self.step) for k in reversed(offsets))
        after = tuple(render(frame + k * self.step) for k in offsets)
        for old in [f for f in self.rendered if f < frame - self.window * self.step]:
            del self.rendered[old]  # no frame still to process reads it
            self.processed.discard(old)
        if not any(before) and not any(after):
            return dataclasses.replace(alone, frame=frame)
        return dataclasses.replace(plan, before=before, after=after, frame=frame)


# ----------------------------------------------------------------------------------------------------------
# Skipped frames made with their guide renders (issue 28)
# ----------------------------------------------------------------------------------------------------------
#: Beside the frames a render writes: the guide renders of the frames it skipped (kept: a re-run reuses them).
GUIDES_FOLDER = "guides"
#: The source a guided model reads the made frame's own guide render from (after the two key frames, 0 and 1).
GUIDE_SOURCE = 2


def reads_guides(contract) -> bool:
    """Whether a model (its contract) reads the made frame's guide render: a skipped-frames model guided by the
    Denoising Data and Vector passes of that frame, rendered at a few samples."""
    return any(spec.source == GUIDE_SOURCE for spec in contract.image_inputs)


def guide_passes(contract) -> tuple[set[str], set[str]]:
    """(the passes a guided model reads from each key frame, those it reads from the guide render)."""
    keys = {i.pass_name for i in contract.image_inputs if i.pass_name and i.source < GUIDE_SOURCE}
    guides = {i.pass_name for i in contract.image_inputs if i.pass_name and i.source == GUIDE_SOURCE}
    return keys - {"Combined"}, guides


def guide_pattern(frame_file: str) -> str:
    """Where the guide renders of a render's skipped frames go: ``guides/`` beside its frames, named like them
    (``shot/beauty.0002.exr`` -> ``shot/guides/beauty.####.exr``), always multilayer EXR."""
    pattern = sequence_of(frame_file)
    suffix = pattern.suffix.rpartition(".")[0] + ".exr" if "." in pattern.suffix else pattern.suffix + ".exr"
    return str(pattern.folder / GUIDES_FOLDER / f"{pattern.prefix}{'#' * pattern.padding}{suffix}")


@dataclass(frozen=True)
class SkippedFrames:
    """The frames a frame step skipped between two rendered (and processed) key frames, left to make once the
    render ends, when their guide renders exist: ``step`` is the skipped-frames task's step (its ``between``:
    (previous key's output, t, where to write)), ``key`` the later key's output, ``frames`` the frame numbers of
    ``step.between``, in order."""

    step: Step
    key: str
    frames: tuple[int, ...]
    layer: str = "ViewLayer"
    key_steps: int = 2


def skipped_frames(plan: FramePlan) -> tuple[FramePlan, SkippedFrames | None]:
    """A frame's plan without its skipped-frames step, and that step, to run later (:func:`make_skipped`)."""
    steps = [step for step in plan.steps if step.between]
    if not steps or plan.frame is None:
        return plan, None
    step = steps[0]
    frames = tuple(plan.frame - plan.key_steps + k for k in range(1, len(step.between) + 1))
    output = plan.output if any(not s.between for s in plan.steps) else plan.written
    return (dataclasses.replace(plan, steps=tuple(s for s in plan.steps if not s.between)),
            SkippedFrames(step, output, frames, plan.layer, plan.key_steps))


def make_skipped(batches: list[SkippedFrames], guides: dict[int, str] | None = None,
                 progress: Callable[[int, int, int], None] | None = None) -> list[tuple]:
    """Make the skipped frames of ``batches``, each from its two key frames and, when ``guides`` has its guide
    render (frame -> file), that too: then the task's model that reads it runs (a guided one), as
    ``inbetween_file(previous, key, dst, t, key_steps=..., guides=guide)`` does, each key moved along the
    guides of the frames between (:func:`guide_chains`). A guided run refused before it
    runs (a key frame or guide without the passes it reads, no such model: one line) makes that frame from its
    key frames alone instead. Returns (frame, file written, the guide file used or None, the model that ran,
    why the guide was not used or None) per frame. ``progress(frame, done, total)`` before each frame; raising
    in it stops the work. A frame that fails otherwise raises (the frames before it are written)."""
    guides = guides or {}
    total, made = sum(len(b.frames) for b in batches), []
    for batch in batches:
        inputs, keywords = option_inputs(batch.step.task, batch.step.values)

        def run(sources: list[str], dst: str, t: float, chains: dict | None = None) -> None:
            run_file(batch.step.task, sources, dst, batch.step.options, layer=batch.layer,
                     inputs={**inputs, "t": t}, key_steps=batch.key_steps, source_count=len(sources),
                     key_chains=chains, **keywords)

        for i, (frame, (previous, t, dst)) in enumerate(zip(batch.frames, batch.step.between)):
            if progress:
                progress(frame, len(made), total)
            guide, why = guides.get(frame), None
            if guide:
                try:
                    run([previous, batch.key, guide], dst, t, guide_chains(batch.frames, i, guides))
                except (runtime.ModelError, ImageError) as exc:
                    guide, why = None, str(exc).splitlines()[0]
            if not guide:
                run([previous, batch.key], dst, t)
            made.append((frame, dst, guide, LAST_RUN.get("model", ""), why))
    return made


def guide_chains(frames: tuple[int, ...], i: int, guides: dict[int, str]) -> dict[str, list[str]] | None:
    """The runtime's ``key_chains`` of the ``i``-th of the skipped ``frames`` between two keys: per side, the
    guide files of the frames between it and that key, nearest first, when every one of them is in ``guides``
    (keys every 3rd frame and further apart; a side with a gap is moved along the frame's own vectors scaled)."""
    sides = {"prev": [guides.get(f) for f in reversed(frames[:i])], "next": [guides.get(f) for f in frames[i + 1:]]}
    return {side: files for side, files in sides.items() if files and all(files)} or None


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


def retime_sequence(task: str, pattern: FramePattern, output: FramePattern, options: RunOptions, *, factor: int,
                    layer: str, progress: Callable[[float, str], None] | None = None) -> list[str]:
    """The work of an ``acts_on="sequence"`` task (a ``key_pair`` task: the frame at t between two frames):
    write ``output``, the frames of ``pattern`` on disk with ``factor - 1`` frames made by ``task`` after each
    one (frame i of n becomes output frame first + i * factor). Frames on disk are copied unchanged.

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
            run_file(task, [str(pattern.path(frame)), str(pattern.path(frames[i + 1]))], dst, options,
                     layer=layer, inputs={"t": k / factor}, progress=frame_progress,
                     key_steps=frames[i + 1] - frame)
            written.append(dst)
    return written
