"""One task over many frames, as render farms run it: plan one job per output frame, run the jobs in this
process or on a Dask cluster, and sum up what was done, skipped and failed.

Farm rules every job follows (see ``docs/farm.md``):

* a frame is written atomically (temporary file in the same folder, flushed to the disk, then a rename), so a
  killed process or a power cut never leaves a partial frame under its final name, and a rerun with
  ``skip_existing`` resumes where it stopped; it skips only outputs that are complete images
  (``imageio.file_problem``) and redoes the others;
* inputs are never overwritten: a plan whose output names an input is refused before anything runs;
* one job per output frame, and no two jobs write one file;
* a frame that fails (corrupt, missing pass, wrong size) yields a failed :class:`FrameResult` naming the file
  and the reason; the other frames still run;
* tasks that read neighbour frames (inbetween's key frames, a window's frames) read them wherever they lie,
  also outside the chunk, so chunks are independent; a window run (denoise ``--temporal``) and a key-pair run
  (inbetween, with or without ``--guides``) check every file they read for the passes their model needs
  before any frame runs; a window run in one process decodes each file once;
* unless a model is named, the first frame that runs picks it by its passes and every later frame uses that
  same model, so a frame missing a pass fails instead of silently going through another network.

Nothing here depends on which task runs: a task's entry in the registry (``addon.runtime.tasks``) names its
layout, planned by the layout's planner here (:data:`LAYOUT_PLANNERS`: which files each frame reads), and
gives hooks for what only it does (colorize's hints).

Jobs and options are plain data, so they pickle to Dask workers; each worker process keeps its onnxruntime
session between frames (``engine.load_model`` caches it per process).
"""
from __future__ import annotations

import bisect
import dataclasses
import functools
import os
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from . import tasks
from .api import (check_source_passes, check_window_passes, check_windows_alike, forget_frames,
                  prepared_pass_names, run_files, source_models, window_models)
from .contract import ModelError
from .engine import DEFAULT_TILE
from .exr import ImageError, read_exr_headers
from .imageio import check_output, file_problem, pass_names
from .interrupts import interrupted
from .registry import Registry
from .registry import models_dir as resolve_models_dir
from .sequence import FramePattern, SequenceError, format_frames, frame_number, parse_pattern

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class BatchError(ValueError):
    """A batch that cannot start (bad pattern, output equal to an input, no frames); one line."""


@dataclass(frozen=True)
class FrameJob:
    """One output frame: which files to read and where to write. Paths are absolute, so any worker can run it.

    What a job holds besides its files comes from its task's layout and hooks (``addon.runtime.tasks``):
    ``inputs`` are scalar model inputs (the key-pair layout's ``t``), ``side`` the task's own extras for its
    ``side_inputs`` hook (colorize's hint files or points). Both are tuples of (name, value) pairs, so a job
    stays hashable and pickles to Dask workers.
    """

    frame: int | None  # None: an explicit file whose name holds no frame number
    sources: tuple[str | None, ...]  # run_files' sources, as the task's layout finds them
    output: str
    inputs: tuple[tuple[str, float], ...] = ()
    #: (name, value): a file path (a str; never written over, like the sources) or data read while planning
    side: tuple[tuple[str, Any], ...] = ()
    key_steps: int | None = None  # frame steps between the frames whose Vector passes are read (key pairs)
    problem: str | None = None  # known while planning (no key frame after it): the frame fails with this
    #: which of ``sources`` is this output frame's own file in a window of frames (r; None where a source may
    #: be missing from it: see ``run_files``' ``frame_source``); 0 for a frame's file alone
    frame_source: int | None = None
    #: key pairs: the run reads sources 0 .. n - 1 and only models that read exactly those run (2: the key
    #: frames; 3: and the made frame's guide render, ``--guides``); None: no such rule
    source_count: int | None = None
    #: key pairs with guides: per side ("prev", "next"), the guide renders of the frames between the made frame
    #: and that key, nearest first, whose Vector passes the key is warped along (``run_files``' ``key_chains``)
    chains: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: one-line notices known while planning, reported with the frame's result
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``frame N``, or for a file whose name holds no number that file's name (its own, not a window's
        neighbour's: ``sources[frame_source]``; the first source where frame_source is None, e.g. with a guide)."""
        return f"frame {self.frame}" if self.frame is not None else Path(self.sources[self.frame_source or 0]).name

    @property
    def files_read(self) -> tuple[str, ...]:
        return (tuple(p for p in self.sources if p) + tuple(v for _, v in self.side if isinstance(v, str))
                + tuple(p for _, paths in self.chains for p in paths))


@dataclass(frozen=True)
class BatchOptions:
    """How every frame of a batch runs (the options of :func:`addon.runtime.api.run_files`)."""

    task: str
    model: str | None = None
    scale: int | None = None
    models_dir: str | None = None
    device: str = "auto"
    threads: int | None = None
    tile_size: int | None = DEFAULT_TILE
    layer: str = "ViewLayer"
    bit_depth: int | None = None
    skip_existing: bool = False


@dataclass(frozen=True)
class FrameResult:
    frame: int | None
    label: str
    output: str
    status: str  # done | skipped | failed
    reason: str = ""  # one line: why it failed or was skipped
    seconds: float = 0.0
    model: str = ""
    provider: str = ""
    nonfinite: int = 0  # NaN/Inf input values replaced with 0
    worker: str = ""  # host:pid that ran it
    redone: str = ""  # skip_existing found this output, but damaged (why): it was made again
    choice: str = ""  # the model and why it was chosen (``InferenceResult.choice``): "denoise: denoise_kpn (...)"
    notes: tuple[str, ...] = ()  # one-line notices about the result (``InferenceResult.notes``)


@dataclass
class Summary:
    """What happened to every planned frame; ``exit_code`` is 0 only if each one was done or skipped."""

    task: str
    jobs: list[FrameJob]
    results: list[FrameResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def _with(self, status: str) -> list[FrameResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> list[FrameResult]:
        return self._with("done")

    @property
    def skipped(self) -> list[FrameResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[FrameResult]:
        return self._with("failed")

    @property
    def redone(self) -> list[FrameResult]:
        """Frames whose existing output was damaged (``skip_existing``) and made again (done or failed)."""
        return [r for r in self.results if r.redone]

    @property
    def not_run(self) -> list[FrameJob]:
        finished = {r.output for r in self.results}
        return [j for j in self.jobs if j.output not in finished]

    @property
    def choice(self) -> str:
        """Why the batch's model was chosen: the first frame done says (unless ``--model`` names one, the first
        frame chooses it by its passes and the later frames use it, "chosen by name")."""
        return next((r.choice for r in self.results if r.choice), "")

    @property
    def notes(self) -> dict[str, list[FrameResult]]:
        """Each notice of the frames done (``FrameResult.notes``), with the frames it concerns, in first-seen order."""
        found: dict[str, list[FrameResult]] = {}
        for r in self.done:
            for note in r.notes:
                found.setdefault(note, []).append(r)
        return found

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.failed or self.not_run else EXIT_OK

    @property
    def frames_per_second(self) -> float:
        return len(self.done) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        def ids(items) -> list:  # frames in order (Dask finishes them in any order); files by path
            return sorted((x.frame if x.frame is not None else x.output for x in items),
                          key=lambda i: (isinstance(i, str), i))

        return {
            "task": self.task, "frames": len(self.jobs), "done": ids(self.done), "skipped": ids(self.skipped),
            "failed": [{"frame": r.frame, "output": r.output, "reason": r.reason} for r in self.failed],
            "not_run": ids(self.not_run),
            "redone": [{"frame": r.frame, "output": r.output, "reason": r.redone} for r in self.redone],
            "models": sorted({r.model for r in self.done}),
            "choice": self.choice,
            "notes": [{"note": note, "frames": ids(items)} for note, items in self.notes.items()],
            "seconds": round(self.seconds, 3), "frames_per_second": round(self.frames_per_second, 3),
            "interrupted": self.interrupted, "exit_code": self.exit_code,
        }


# ----------------------------------------------------------------------------------------------------------
# Planning: inputs, output and frames -> one job per output frame
# ----------------------------------------------------------------------------------------------------------
def plan(task: str, inputs: list[str], output: str, frames: list[int] | None = None, *,
         bit_depth: int | None = None, **task_options) -> list[FrameJob]:
    """The jobs of a batch, checked: no output names an input, no two jobs write one file, every output has a
    type this runtime writes, with ``bit_depth`` (the batch's ``--bit-depth``) when given.

    ``inputs``: one pattern (its ``frames``, default every frame on disk) or explicit files. ``output``: a
    pattern, a folder (same file names) or, for one frame, a file. ``task_options``: the task's plan options
    (its command-line options with ``to="plan"``; None: not given), e.g. upres ``guide``, colorize ``hints``,
    ``mask`` (a pattern, per frame, or one file for all frames) and ``hint_points`` (a JSON file, read and
    checked against the first frame's size here), inbetween ``keys`` (the rendered frames, default those on
    disk; its ``frames`` are the ones to write, default every missing frame between the first and last key).
    """
    try:
        spec = tasks.get(task)
    except tasks.TaskError as exc:
        raise BatchError(str(exc)) from None
    options = {o.dest: task_options.get(o.dest) for o in spec.cli_options_to("plan")}
    unknown = sorted(set(task_options) - set(options))
    if unknown:
        raise BatchError(f"{task} takes no option {', '.join(unknown)} (its options: {', '.join(options) or 'none'})")
    try:
        layout = spec.run_layout(dict(options))
        jobs = LAYOUT_PLANNERS[layout.name](spec, layout, inputs, output, frames, options)
        if spec.plan_jobs is not None:
            jobs = spec.plan_jobs(jobs, options)
        elif spec.layout_of is None and any(value is not None for value in options.values()):
            # a spec whose option nothing reads
            raise BatchError(f"{task}: no planner reads its option(s) {', '.join(options)} (it has no plan_jobs)")
    except SequenceError as exc:
        raise BatchError(str(exc)) from None
    _check_outputs(jobs, inputs, output)
    _check_output_types(jobs, output, bit_depth)
    return jobs


def _plan_frames(spec: tasks.TaskSpec, layout: tasks.Layout, inputs: list[str], output: str,
                 frames: list[int] | None, options: dict) -> list[FrameJob]:
    """Layout "frame": each frame from its own file."""
    sources = _sources(inputs, frames)
    several = len(sources) > 1
    return [FrameJob(frame, (_abs(source),), _output_path(output, frame, source, several), frame_source=0)
            for frame, source in sources]


def _plan_frames_with_guides(spec: tasks.TaskSpec, layout: tasks.Layout, inputs: list[str], output: str,
                             frames: list[int] | None, options: dict) -> list[FrameJob]:
    """Layout "frame+guides": each frame's file, then its guide file (option ``guide``) when given."""
    guide = options.pop("guide")
    jobs = _plan_frames(spec, layout, inputs, output, frames, options)
    if not guide:
        return jobs
    return [dataclasses.replace(job, sources=job.sources + (frame_file(guide, job.frame),), frame_source=None)
            for job in jobs]


def _plan_key_pairs(spec: tasks.TaskSpec, layout: tasks.Layout, inputs: list[str], output: str,
                    frames: list[int] | None, options: dict) -> list[FrameJob]:
    """Layout "key_pair": each frame not rendered from the key frames (option ``keys``, default those on disk)
    on either side of it, wherever they lie; ``t`` (its place between them) and ``key_steps`` (their
    distance) go with it. Without ``frames``: every frame between the first and last key that is not one.
    With option ``guides`` (a pattern, or one file when one frame is made) the frame's guide render is a third
    source; a frame made without its guide file on disk is refused here (BatchError naming the file)."""
    pattern = _sequence_pattern(spec, inputs)
    keys = options.pop("keys")
    guides = options.pop("guides", None)
    keys = sorted(set(pattern.frames_on_disk() if keys is None else keys))
    if len(keys) < 2:
        raise BatchError(f"{pattern}: {spec.name} needs at least two key frames, found "
                         f"{f'only frame {keys[0]}' if keys else 'none'}")
    key_set = set(keys)
    if frames is None:
        frames = [f for f in range(keys[0], keys[-1] + 1) if f not in key_set]
    jobs = []
    several = len(set(frames) - key_set) > 1  # one frame made may be written to a file
    for frame in frames:
        if frame in key_set:  # rendered: nothing to make
            continue
        at = bisect.bisect(keys, frame)
        out = _output_path(output, frame, str(pattern.path(frame)), several)
        if at == 0 or at == len(keys):
            side = "before" if at == 0 else "after"
            jobs.append(FrameJob(frame, (None, None), out,
                                 problem=f"{pattern}: no key frame {side} frame {frame} (keys {format_frames(keys)})"))
            continue
        before, after = keys[at - 1], keys[at]
        sources = (_abs(pattern.path(before)), _abs(pattern.path(after)))
        chains, notes = (), ()
        if guides:
            sources += (frame_file(guides, frame),)
            chains, notes = _guide_chains(guides, frame, before, after)
        jobs.append(FrameJob(frame, sources, out, inputs=(("t", (frame - before) / (after - before)),),
                             key_steps=after - before, source_count=len(sources), chains=chains, notes=notes))
    if guides:
        _check_guides(guides, [j for j in jobs if not j.problem])
    return jobs


#: the notice of a frame whose key is warped without the guides of the frames between (some are not on disk)
UNCHAINED = ("a guide render between this frame and a key is missing: that key is moved along this frame's vectors "
             "scaled to its distance (straight, even motion), not along each frame's own; render the guides of "
             "every skipped frame")


def _guide_chains(guides: str, frame: int, before: int, after: int) -> tuple[tuple, tuple[str, ...]]:
    """The guide files of the frames between ``frame`` and each key, nearest first (``FrameJob.chains``), for
    the sides whose every such file is on disk; a side with a gap is left out (its key is warped by the
    scaled vectors) and :data:`UNCHAINED` is the frame's note. Keys next to the frame need no chain."""
    if parse_pattern(guides) is None:  # one guide file: one frame made, nothing between to read
        return (), ()
    sides = {"prev": range(frame - 1, before, -1), "next": range(frame + 1, after)}
    chains, gap = [], False
    for side, between in sides.items():
        paths = tuple(frame_file(guides, f) for f in between)
        if not all(os.path.isfile(p) for p in paths):
            gap = True
        elif paths:
            chains.append((side, paths))
    return tuple(chains), ((UNCHAINED,) if gap else ())


def _check_guides(guides: str, jobs: list[FrameJob]) -> None:
    """Every frame made has its own guide file on disk (one file serves one frame only)."""
    if parse_pattern(guides) is None and len(jobs) > 1:
        raise BatchError(f"{guides}: one guide file for {len(jobs)} frames ({format_frames([j.frame for j in jobs])}); "
                         "each frame needs its own guide render: give a pattern (guides.####.exr)")
    for job in jobs:
        if not os.path.isfile(job.sources[-1]):
            raise BatchError(f"{job.sources[-1]}: file does not exist (the guide render of frame {job.frame}, which "
                             "this run makes; render the guides of every frame it makes)")


def _plan_windows(spec: tasks.TaskSpec, layout: tasks.Layout, inputs: list[str], output: str,
                  frames: list[int] | None, options: dict) -> list[FrameJob]:
    """Layout "window": each frame from the files of frames f - r .. f + r (r = ``layout.window``), in order,
    wherever they lie, also outside ``frames`` (a chunk reads the frames beside it). A neighbour that is not on
    disk is, by ``layout.ends``: "repeat", beyond the sequence's first or last frame on disk, that end frame
    (every frame gets a full window); "absent", None (an end, a gap; with listed files, a frame not listed).
    The frame itself is never replaced (missing, it fails naming its file)."""
    r = layout.window
    if layout.ends == "absent" and not (len(inputs) == 1 and parse_pattern(inputs[0]) is not None):
        listed = _sources(inputs, frames)  # listed files: each one's neighbours are the listed frames beside it
        by_frame = {frame: _abs(path) for frame, path in listed if frame is not None}
        return [FrameJob(frame, tuple(_abs(path) if k == 0 else by_frame.get(frame + k) if frame is not None else None
                                      for k in range(-r, r + 1)),
                         _output_path(output, frame, path, len(listed) > 1), frame_source=layout.frame_source)
                for frame, path in listed]
    pattern = _sequence_pattern(spec, inputs)
    on_disk = pattern.frames_on_disk()
    frames = on_disk if frames is None else frames
    if not frames:
        raise BatchError(f"{pattern}: no frames on disk match this pattern")
    first, last = (on_disk[0], on_disk[-1]) if on_disk else (None, None)
    present = set(on_disk)

    def neighbour(frame: int, offset: int) -> str | None:
        at = frame + offset
        if offset and layout.ends == "absent":
            return _abs(pattern.path(at)) if at in present else None
        if offset and first is not None:
            at = min(max(at, first), last)
        return _abs(pattern.path(at))

    return [FrameJob(frame, tuple(neighbour(frame, k) for k in range(-r, r + 1)),
                     _output_path(output, frame, str(pattern.path(frame)), True), frame_source=layout.frame_source)
            for frame in frames]


#: Layout name (``Layout.name``) -> its planner: (spec, layout, inputs, output, frames, options) -> jobs. A
#: planner pops the plan options it uses; the rest go to the task's ``plan_jobs`` hook.
LAYOUT_PLANNERS = {
    "frame": _plan_frames,
    "frame+guides": _plan_frames_with_guides,
    "key_pair": _plan_key_pairs,
    "window": _plan_windows,
}


#: --frames may ask for frames not (yet) on disk, each then a failure of its own (a render still running, a
#: frame lost); more missing frames than this, and over 100 per frame found, is a mistyped range, refused
MISSING_FRAMES_LIMIT = 10000


def _sources(inputs: list[str], frames: list[int] | None) -> list[tuple[int | None, str]]:
    patterns = [parse_pattern(i) for i in inputs]
    if len(inputs) == 1 and patterns[0] is not None:
        pattern = patterns[0]
        on_disk = pattern.frames_on_disk()
        if not on_disk:
            raise BatchError(f"{pattern}: no frames on disk match this pattern")
        if frames is not None and frames and set(on_disk).isdisjoint(frames):
            # a range that misses the sequence (--frames 1-100 for 1001-1100) would otherwise fail once per frame
            raise BatchError(f"{pattern}: none of the {len(frames)} frames asked ({format_frames(frames)}) is on disk "
                             f"(frames on disk: {format_frames(on_disk)})")
        if frames is not None:
            found = len(set(on_disk).intersection(frames))
            if len(frames) - found > max(MISSING_FRAMES_LIMIT, 100 * found):
                # a typo (--frames 1-3000000 for 1001-1100): millions of jobs, each failing once, minutes of planning
                raise BatchError(f"{pattern}: {len(frames) - found} of the {len(frames)} frames asked "
                                 f"({format_frames(frames)}) are not on disk, {found} are (frames on disk: "
                                 f"{format_frames(on_disk)}): check --frames")
        return [(f, str(pattern.path(f))) for f in (on_disk if frames is None else frames)]
    if any(patterns):
        raise BatchError("give one input pattern or a list of files, not both")
    if frames is not None:
        raise BatchError("--frames selects frames of an input pattern; with explicit files, list the files")
    return [(frame_number(i), i) for i in inputs]


def _sequence_pattern(spec: tasks.TaskSpec, inputs: list[str]) -> FramePattern:
    pattern = parse_pattern(inputs[0]) if len(inputs) == 1 else None
    if pattern is None:
        raise BatchError(f"{spec.name} reads a sequence: give one input pattern (beauty.####.exr), not files")
    return pattern


def _output_path(output: str, frame: int | None, source: str, several: bool) -> str:
    pattern = parse_pattern(output)
    if pattern is not None:
        if frame is None:
            raise BatchError(f"{source}: no frame number in its name to fill the output pattern {output}")
        return _abs(pattern.path(frame))
    if _is_folder(output):
        return _abs(Path(output) / Path(source).name)
    if several:
        raise BatchError(f"{output}: several frames need an output pattern (####) or a folder")
    return _abs(output)


def _is_folder(output: str) -> bool:
    """Whether ``output`` (not a pattern) names a folder, whose files take the inputs' names."""
    return output.endswith(("/", os.sep)) or os.path.isdir(output)


def frame_file(text: str | None, frame: int | None) -> str | None:
    """A file option given for every frame: a pattern (this frame's file) or one file for all frames."""
    if text is None:
        return None
    pattern = parse_pattern(text)
    if pattern is None:
        return _abs(text)
    if frame is None:
        raise BatchError(f"{text}: a pattern needs frame numbers, and the input file names hold none")
    return _abs(pattern.path(frame))


def _check_outputs(jobs: list[FrameJob], inputs: list[str], output: str) -> None:
    out_pattern, in_pattern = parse_pattern(output), parse_pattern(inputs[0])
    if out_pattern and in_pattern and out_pattern.same_files_as(in_pattern):
        raise BatchError(f"{output}: the output pattern is the input pattern; refusing to write over inputs")
    # A folder takes the inputs' names: the input pattern's own folder would write over its frames, also those
    # this run does not read (inbetween makes frames between its keys, which may be rendered frames on disk)
    if out_pattern is None and in_pattern and _is_folder(output) \
            and dataclasses.replace(in_pattern, folder=Path(output)).same_files_as(in_pattern):
        raise BatchError(f"{output}: the output folder is the input pattern's folder ({in_pattern}); refusing to "
                         "write over inputs (choose another folder)")
    read = {os.path.realpath(p) for j in jobs for p in j.files_read}
    written: dict[str, FrameJob] = {}
    for job in jobs:
        real = os.path.realpath(job.output)
        if real in read:
            raise BatchError(f"{job.output}: is also an input; refusing to overwrite inputs (choose another output)")
        if real in written:
            raise BatchError(f"{job.output}: both {written[real].label} and {job.label} would write it")
        written[real] = job


def _check_output_types(jobs: list[FrameJob], output: str, bit_depth: int | None) -> None:
    """Refuse outputs no frame could be written to (no or an unsupported suffix, a bit depth the format lacks)
    now, in one line naming the output, instead of failing every frame after its inference."""
    pattern = parse_pattern(output) is not None
    seen = set()
    for job in jobs:
        suffix = Path(job.output).suffix.lower()
        if suffix in seen:
            continue
        seen.add(suffix)
        try:
            check_output(job.output, bit_depth)
        except ImageError as exc:
            named = output if pattern or len(jobs) == 1 else job.output  # a folder: the file of the frame
            raise BatchError(f"{named}: {exc.problem}") from None


def _abs(path: str | os.PathLike) -> str:
    return os.path.abspath(path)


# ----------------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------------
def run_frame(job: FrameJob, options: BatchOptions) -> FrameResult:
    """Run one job; never raises for a problem of the frame (it comes back as a failed result)."""
    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"

    redone = ""

    def finish(status: str, reason: str = "", **more) -> FrameResult:
        return FrameResult(job.frame, job.label, job.output, status, reason, time.perf_counter() - start,
                           worker=worker, redone=redone, **more)

    if options.skip_existing and os.path.lexists(job.output):
        problem = file_problem(job.output)  # a zero-length or cut-off file (a power cut, a full disk) is redone
        if problem is None:
            return finish("skipped", "output exists")
        redone = f"existing output unusable ({problem})"
    if job.problem:
        return finish("failed", job.problem)
    try:
        spec = tasks.get(options.task)
        inputs, labels = dict(job.inputs), {}
        if spec.side_inputs is not None:
            side, labels = spec.side_inputs(job, options.layer)
            inputs.update(side)
        window = {"frame_source": job.frame_source} if job.frame_source else {}  # frame 0: run_files' default
        result = run_files(options.task, list(job.sources), job.output, inputs=inputs, labels=labels,
                           layer=options.layer, bit_depth=options.bit_depth, model=options.model,
                           scale=options.scale, models_dir=options.models_dir, device=options.device,
                           threads=options.threads, tile_size=options.tile_size, key_steps=job.key_steps,
                           source_count=job.source_count, key_chains=dict(job.chains) or None,
                           **window)
    except Exception as exc:  # any problem of this frame fails only this frame; the batch goes on
        if interrupted(exc):  # a stop that landed inside a module's init: the batch stops, resumable
            raise KeyboardInterrupt from exc
        return finish("failed", _reason(exc, job))
    return finish("done", model=result.model, provider=result.provider, nonfinite=sum(result.nonfinite.values()),
                  choice=result.choice, notes=tuple(result.notes) + job.notes)


def _reason(exc: Exception, job: FrameJob) -> str:
    if isinstance(exc, (ImageError, ModelError)):  # these already name the file or model
        text = str(exc)
    elif isinstance(exc, OSError):
        text = f"{exc.filename or job.output}: {exc.strerror or exc}"
    else:
        text = f"{job.sources[0] or job.output}: {type(exc).__name__}: {exc}"
    return text.splitlines()[0] if text else type(exc).__name__


def run_batch(jobs: list[FrameJob], options: BatchOptions, *, scheduler: str | None = None,
              fail_fast: bool = False) -> Iterator[FrameResult]:
    """Each job's result as it finishes: in this process, or on the Dask cluster at ``scheduler``.

    Raises at once when no model could run the batch (:func:`check_models`). With ``fail_fast`` the results
    stop after the first failed frame (jobs not yet finished are not run).
    """
    options = dataclasses.replace(options, models_dir=str(resolve_models_dir(options.models_dir).resolve()))
    check_layer(jobs, options.layer)
    check_models(options, jobs)
    return _results(jobs, options, scheduler, fail_fast)


def check_layer(jobs: list[FrameJob], layer: str | None) -> None:
    """Refuse a batch whose first frame's file is an EXR without view layer ``layer`` (a mistyped ``--layer``:
    an ImageError naming the file and the layers it has; headers only), rather than fail every frame on it. A
    file that is missing or damaged is left to its frame, which fails naming it."""
    first = next((job.sources[job.frame_source or 0] for job in jobs
                  if not job.problem and job.sources[job.frame_source or 0]), None)
    if first is None or Path(first).suffix.lower() != ".exr":
        return
    try:
        read_exr_headers(first)
    except ImageError:
        return
    pass_names(first, layer)


def _results(jobs: list[FrameJob], options: BatchOptions, scheduler: str | None,
             fail_fast: bool) -> Iterator[FrameResult]:
    with (_on_dask(scheduler) if scheduler else _in_process()) as run_many:
        pending = list(jobs)
        # Until a frame has run, the model is not known: run one at a time, then pin the model it chose.
        while options.model is None and pending:
            [result] = run_many([pending.pop(0)], options)
            yield result
            if result.status == "failed" and fail_fast:
                return
            if result.status == "done":
                options = dataclasses.replace(options, model=result.model)
        for result in run_many(pending, options):
            yield result
            if result.status == "failed" and fail_fast:
                return


def check_models(options: BatchOptions, jobs: list[FrameJob] = ()) -> None:
    """Refuse a batch no frame could run: no registry, no model of its task (and scale) in it, none that reads
    the jobs' frames (a window of frames, or a frame alone: ``FrameJob.frame_source``) or exactly their sources
    (key pairs, with or without guides: ``FrameJob.source_count``), or a file read that lacks a pass such a
    model needs of it (windows: of a frame; key pairs: of its source, a key frame or a guide render;
    ImageError naming it; headers only)."""
    registry = Registry(options.models_dir)
    frame_sources = sorted({j.frame_source for j in jobs if j.frame_source is not None and not j.problem})
    if options.model is not None:
        entry = registry.get(options.model)
        if entry.contract.task != options.task:
            raise ModelError(f"model {options.model!r} is a {entry.contract.task} model, not {options.task}")
        for frame_source in frame_sources:
            registry.named(options.model, frame_source=frame_source)
    else:
        scale = f" x{options.scale}" if options.scale else ""
        if not any(e.contract.task == options.task and options.scale in (None, e.contract.scale)
                   for e in registry.entries.values()):
            known = ", ".join(registry.entries) or "none"
            raise ModelError(f"no {options.task}{scale} model in {registry.path} (models there: {known})")
        for frame_source in frame_sources:
            registry.check_frames(options.task, frame_source)
    windows = [j for j in jobs if j.frame_source and not j.problem]
    if windows:
        models = window_models(registry, options.task, windows[0].frame_source, options.model, options.scale)
        read = {}
        for path in dict.fromkeys(p for j in windows for p in j.sources if p):
            try:
                read[path] = prepared_pass_names(options.task, path, options.layer)
            except ImageError:  # missing or damaged: that frame fails on its own, naming the file
                continue
            check_window_passes(models, path, read[path], options.layer)
        if options.model is None:  # the first window picks the model every frame runs with
            check_windows_alike(models, read, [p for p in windows[0].sources if p], options.layer)
    keyed = [j for j in jobs if j.source_count is not None and not j.problem]
    for source_count in sorted({j.source_count for j in keyed}):
        models = source_models(registry, options.task, source_count, options.model, options.scale)
        for path, source in dict.fromkeys((p, i) for j in keyed if j.source_count == source_count
                                          for i, p in enumerate(j.sources) if p):
            try:
                passes = prepared_pass_names(options.task, path, options.layer)
            except ImageError:  # missing or damaged: that frame fails on its own, naming the file
                continue
            check_source_passes(models, path, passes, options.layer, source)


@contextmanager
def _in_process():
    try:
        yield lambda jobs, options: (run_frame(job, options) for job in jobs)
    finally:
        forget_frames()  # the frames a window run kept decoded


@contextmanager
def _on_dask(scheduler: str):
    """Jobs on a Dask distributed cluster, one task per frame, results in the order they finish.

    A worker lost mid-frame leaves only a hidden temporary file; the scheduler reruns its task on another
    worker (up to ``distributed.scheduler.allowed-failures`` times, then the frame fails with KilledWorker).
    """
    try:
        from dask.distributed import Client
    except ImportError:
        raise BatchError("--scheduler needs Dask distributed: pip install 'postpass[farm]'") from None
    try:
        client = Client(scheduler, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise BatchError(f"cannot reach the Dask scheduler at {scheduler} ({exc})".splitlines()[0]) from None
    try:
        yield functools.partial(_dask_results, client)
    finally:
        client.close()


def _dask_results(client, jobs: list[FrameJob], options: BatchOptions) -> Iterator[FrameResult]:
    from dask.distributed import as_completed

    run_id = uuid.uuid4().hex[:8]
    futures = {client.submit(run_frame, job, options, pure=False,
                             key=f"postpass-{options.task}-{job.frame if job.frame is not None else i}-{run_id}"): job
               for i, job in enumerate(jobs)}
    try:
        for future in as_completed(futures, loop=client.loop):
            job = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the task itself died: its workers were lost too often
                detail = str(exc).splitlines()[0] if str(exc) else ""
                reason = f"{job.sources[0] or job.output}: lost on the cluster ({type(exc).__name__}: {detail})"
                result = FrameResult(job.frame, job.label, job.output, "failed", reason)
            yield result
    finally:  # stopped early (fail-fast, interrupt): take the rest back from the cluster
        client.cancel([f for f in futures if not f.done()])
