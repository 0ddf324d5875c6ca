"""The task registry: everything the runtime, the batch planner, the ``postpass`` command and the Blender layer
know about a task (denoise, upres, ...), declared once per task in a module of this package.

A task is one :class:`TaskSpec`, registered by its module at import (``register(TaskSpec(...))``). This
package imports every module in it whose name does not start with ``_``, so adding a task means adding a file
here: no list to edit. Code elsewhere (a studio's plug-in, a test) registers a task the same way, at run time;
:func:`registered` registers one for a ``with`` block only. Bpy-free and torch-free, like the whole runtime.

What is generic lives outside: the frame layouts in ``addon.runtime.batch`` (keyed by :data:`LAYOUTS`), the
``postpass`` subcommands in ``addon.cli`` (built from each spec), the API's :func:`addon.runtime.api.run` and
:func:`addon.runtime.api.run_files`. Where a task really differs, its module gives a hook (see
:class:`TaskSpec`), so no code outside a task's module branches on a task's name.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..sequence import SequenceError, parse_frames

#: Frame layouts: how a batch finds the source files of each output frame (planned in ``addon.runtime.batch``),
#: and, for ``--frames`` help, which frames a batch writes when none are named.
LAYOUTS = {
    "frame": "all on disk",
    "frame+guides": "all on disk",
    "key_pair": "all on disk, between the first and last key",
    "window": "all on disk",
}
#: What the "window" layout reads for a neighbour beyond the sequence (see :class:`Layout`).
WINDOW_ENDS = ("repeat", "absent")
ON_RENDER = (None, "frame", "skipped_frames")
ACTS_ON = ("image", "sequence")
UI_KINDS = ("int", "choice", "image")
#: Where a parsed command-line option goes (see :class:`CliOption`).
CLI_TARGETS = ("plan", "run")


class TaskError(ValueError):
    """An unknown task, or a spec that cannot be registered; ``str()`` is one line."""


def frame_range(text: str) -> list[int]:
    """``argparse`` type of frame range options (``--frames``, ``--keys``): 1001-1100x2 -> frames."""
    try:
        return parse_frames(text)
    except SequenceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class CliOption:
    """One option of the task's ``postpass`` subcommand, declared as ``argparse`` takes it.

    ``flags`` and ``kwargs`` go to ``add_argument`` unchanged. ``to`` says where the parsed value goes:
    ``"plan"``, a keyword of :func:`addon.runtime.batch.plan` (files per frame, key frames: what each frame
    reads), or ``"run"``, a field of :class:`addon.runtime.batch.BatchOptions` (how every frame runs: scale).
    """

    flags: tuple[str, ...]
    kwargs: dict = field(default_factory=dict, hash=False)
    to: str = "plan"

    @property
    def dest(self) -> str:
        """The parsed value's name, as ``argparse`` derives it: ``--hint-points`` -> ``hint_points``."""
        if "dest" in self.kwargs:
            return self.kwargs["dest"]
        flag = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return flag.lstrip("-").replace("-", "_")


def layout_problems(name: str, window: int) -> list[str]:
    """What is wrong with a layout ``name`` and its ``window`` (a :class:`Layout`'s, a :class:`TaskSpec`'s)."""
    problems = []
    if name not in LAYOUTS:
        problems.append(f"layout {name!r} is not one of {', '.join(LAYOUTS)}")
    if (name == "window") != (window > 0):
        problems.append("a window (frames on each side, >= 1) goes with the 'window' layout, and only with it")
    return problems


@dataclass(frozen=True)
class Layout:
    """How one run finds each output frame's source files: ``name``, one of :data:`LAYOUTS` (see
    :class:`TaskSpec`), and for ``"window"`` its ``window`` (r, the frames read on each side: the sources are
    frames f - r .. f + r, frame f itself source r) and ``ends``, what stands for a neighbour that is not there:

    * ``"repeat"``: beyond the sequence's first or last frame on disk, that end frame (every frame gets a full
      window; a model made for whole windows);
    * ``"absent"``: None wherever that frame's file is not there (the ends of the sequence, a gap, a still), for
      models whose neighbour inputs are optional: the same samples twice would count as two frames' worth. With
      this, the inputs may also be listed files (neighbours: the listed files numbered f - 1, f + 1, ...).

    A task's runs use ``Layout(spec.layout, spec.window)`` unless its ``layout_of`` hook picks another from the
    run's options (denoise ``--temporal``).
    """

    name: str
    window: int = 0
    ends: str = "repeat"

    def __post_init__(self):
        problems = layout_problems(self.name, self.window)
        if self.ends not in WINDOW_ENDS:
            problems.append(f"ends {self.ends!r} is not one of {', '.join(WINDOW_ENDS)}")
        if problems:
            raise TaskError("; ".join(problems))

    @property
    def frame_source(self) -> int | None:
        """Which of a job's sources is the output frame's own file: r for a window, else None (the layout's
        jobs say: 0 for one frame's file)."""
        return self.window if self.name == "window" else None


@dataclass(frozen=True)
class UiOption:
    """One setting of the task's Blender operator and panel, beside the model, precision and image every
    operator has.

    ``name`` is the operator property and the keyword it feeds: of the task's array API function for an
    ``acts_on="image"`` task (upres's ``scale``, colorize's ``hints`` and ``mask``), of the sequence work for a
    ``"sequence"`` task (inbetween's ``factor``: output frames per input frame). ``kind``: ``"int"`` (a whole
    number from ``min`` to ``max``), ``"choice"`` (one of ``choices``, whole numbers) or ``"image"`` (a
    Blender image whose pixels are passed; empty means none: image options are optional).

    In the Image Editor panel a ``"choice"`` option is one button per choice; the others are kept in the scene,
    as ``scene.postpass.<setting>`` (default ``setting``: ``<task>_<name>``, e.g. ``inbetween_factor``).
    ``paint``: an image option the panel offers a **+** for: a new transparent image the size of the shown
    one, named ``"<image> <name>"``, set as this option and opened for painting (colorize's hints).
    """

    name: str
    kind: str
    label: str
    description: str
    default: int | None = None
    choices: tuple[int, ...] = ()
    min: int | None = None
    max: int | None = None
    setting: str = ""
    paint: bool = False


@dataclass(frozen=True)
class TaskSpec:
    """What one task is, for every layer that runs it.

    Identity and text:

    * ``name``: the task's name in model contracts (``ModelContract.task``), in the API (``run(name, ...)``)
      and as the ``postpass`` subcommand.
    * ``summary``: one line for ``postpass --help`` and the subcommand's description.
    * ``examples``: the subcommand's examples (the ``--help`` epilog after the common text), starting with a
      newline and ``examples:``.
    * ``label``, ``icon``: the Blender UI's name for it ("Up-res") and its Blender icon (``FULLSCREEN_ENTER``).
    * ``order``: where it stands among the tasks in ``postpass --help`` and in Blender's panels (lower first,
      ties by name).

    Inputs:

    * ``main_input``: the model contract input an image given alone feeds (denoise ``color``, upres
      ``image``, colorize ``gray``, inbetween ``frame0``): the Blender operators pass an image's pixels as it.
    * ``layout``: how a batch finds a frame's source files, the ``sources`` of
      :func:`addon.runtime.api.run_files` (a model input's ``source`` index picks one of them):

      - ``"frame"``: the frame's file alone;
      - ``"frame+guides"``: the frame's file, then the ``guide`` plan option's file for that frame (a pattern,
        or one file for every frame; upres's full-resolution albedo and normal);
      - ``"key_pair"``: the key frames before and after a frame that was not rendered (the ``keys`` plan
        option, default the frames on disk), read also outside the chunk; each job's inputs hold ``t``, where
        the frame lies between them (0..1), and ``key_steps`` their distance in frames. With the ``guides``
        plan option (a pattern, or one file when one frame is made) the frame's own guide render is a third
        source (inbetween ``--guides``: its cheap Denoising Data and Vector passes), which must exist for every
        frame made. A key-pair run gets only models that read exactly its sources (``FrameJob.source_count``:
        with guides one that reads them, without guides never one), and every file it reads is checked for
        the passes such a model needs of it before any frame runs;
      - ``"window"``: the files of frames f - r .. f + r in order (r = ``window``), read also outside the
        chunk; at the ends of the sequence (its first and last frame on disk when planned) a neighbour is
        clamped to the end frame, so the end frames repeat and every frame has a full window (a run's
        :class:`Layout` may say ``ends="absent"`` instead: None for a neighbour not on disk).
    * ``window``: r, the frames read on each side, for the ``"window"`` layout (0 for the others).
    * ``layout_of(options) -> Layout | None``: a hook that picks one run's :class:`Layout` from the task's plan
      options (None: ``Layout(layout, window)``), so one task runs per frame or on windows of frames by an
      option. It only reads the options; ``plan_jobs`` gets them too. Denoise: ``--temporal``, windows of
      frames f - 2 .. f + 2 with absent ends, for its temporal models.
    * ``window_runs``: the :class:`Layout` of the task's runs on windows of frames where ``layout_of`` picks
      one (denoise's ``--temporal``). A window model of fewer frames on each side reads the middle of such a
      window: the registry moves its sources there (``registry.into_window``: a model of frames f - 1 .. f + 1
      reads sources 1 .. 3 of a window of 5), so models of narrower windows keep running.

    ``source_names``: what each of a job's sources is, one noun per source index, for messages and the model
    choice's reason (inbetween: ``("key frame", "key frame", "guide")``: "model 'inbetween_vectors' reads key
    frames alone, not key frames and guides", "guide passes given"); empty: ``source #N``.

    Command line: ``cli_options``, the subcommand's own options (:class:`CliOption`), shown after the frame
    options and before the run options.

    Hooks (plain functions of the task's module; None: the task needs none):

    * ``plan_jobs(jobs, options) -> jobs``: complete the layout's :class:`~addon.runtime.batch.FrameJob` s
      with the task's plan options the layout did not use (``options``: name -> value, None when not given),
      usually into ``FrameJob.side``; refuse a usage error (``BatchError``, ``ImageError``) before anything
      runs. Colorize: hint files per frame, hint points read and checked against the first frame.
    * ``side_inputs(job, layer) -> (inputs, labels)``: the model inputs the task adds for a job at run time,
      from its ``side`` (colorize: hint and mask arrays), and a label per input for error messages.
    * ``prepare_source(image) -> None``: change a source file's decoded passes (an
      :class:`~addon.runtime.exr.ExrImage` just read, before any model choice or check sees them) in place.
      Denoise: a render Blender denoised already gives its raw render as Combined.
    * ``source_pass_names(names) -> names``: the pass names ``prepare_source`` leaves of a file whose header
      holds ``names`` (the checks that read headers only, before any file is decoded). Denoise: "Noisy Image"
      gone, Blender's result as "Denoised Image".
    * ``finish(model, result, inputs) -> None``: change the :class:`~addon.runtime.engine.InferenceResult`
      of ``model`` (the :class:`~addon.runtime.engine.Model` that ran) in place before
      :func:`addon.runtime.api.run` returns it or :func:`addon.runtime.api.run_files` writes it (``inputs``:
      the model inputs given, name -> array or number), and add one-line notices about it to
      ``result.notes`` (the batch summary counts the frames of each). Colorize: automatic colour, when no hint
      is given.

    Python API: ``api``, the task's functions (``denoise``, ``denoise_file``); ``addon.runtime`` and
    ``addon.runtime.api`` export every registered task's functions by their names.

    Blender: ``on_render`` says what the task does while a render writes frames: None (nothing),
    ``"frame"`` (each written frame, in ``order``: denoise, then upres) or ``"skipped_frames"`` (makes the
    frames a frame step above 1 skipped, from the rendered ones: inbetween). ``acts_on``: what its Image
    Editor operator processes: ``"image"`` (the shown image: its file or its pixels) or ``"sequence"`` (the
    shown image's sequence on disk, written as a new sequence). ``ui_options``: the operator's own settings
    (:class:`UiOption`). The add-on generates the task's operator (``bpy.ops.postpass.<name>``), its scene
    settings and its panel boxes from these and the fields below, so a task needs no Blender code:

    * ``description``: the operator's tooltip (default: ``summary``); ``operator_label``: the operator's name
      where it is not ``label`` (inbetween's "Inbetween Sequence").
    * ``result``: what a result is called, after the source image's name (``"denoised"``: new image
      "photo denoised"; ``"x{scale}"``: "photo x2"): a ``str.format`` text of the ui options' values. A
      ``"sequence"`` task's new sequence goes to the folder ``<prefix>_<result>`` beside the source one.
      ``activity``: the status bar's text while it runs ("Denoising", "Up-res x{scale}"; default ``label``).
    * ``render_scale``: the name of a ``"choice"`` ui option by which an on-render task makes frames bigger
      (upres's ``scale``). Its on-render setting is then a choice of Off or one of the option's choices, not a
      switch: the render's resolution percentage is divided by it (frames render smaller) and each frame is
      processed with that value.
    * ``ui_inputs(options) -> inputs``: turn the operator's option values into model inputs (colorize: a
      painted RGBA hint image and an optional mask into the ``hints`` and ``mask`` arrays). ``options``: name
      -> value, an image option's value being its pixels (H x W x C float32, linear, top-down) or None. An
      option that is a keyword of :func:`addon.runtime.api.run` (``scale``) goes there and never here.
      Without the hook each option is the model input of its name (images left out when empty).
    """

    name: str
    summary: str
    label: str
    icon: str
    main_input: str
    layout: str
    examples: str = ""
    order: int = 100
    window: int = 0
    window_runs: Layout | None = None
    source_names: tuple[str, ...] = ()
    cli_options: tuple[CliOption, ...] = ()
    layout_of: Callable | None = None
    plan_jobs: Callable | None = None
    side_inputs: Callable | None = None
    prepare_source: Callable | None = None
    source_pass_names: Callable | None = None
    finish: Callable | None = None
    api: tuple[Callable, ...] = ()
    on_render: str | None = None
    acts_on: str = "image"
    ui_options: tuple[UiOption, ...] = ()
    description: str = ""
    operator_label: str = ""
    result: str = ""
    activity: str = ""
    render_scale: str | None = None
    ui_inputs: Callable | None = None

    def ui_option(self, name: str) -> UiOption:
        """The ui option ``name`` (KeyError: the task has none)."""
        for option in self.ui_options:
            if option.name == name:
                return option
        raise KeyError(name)

    def run_layout(self, options: dict | None = None) -> Layout:
        """The layout of a run with these plan options (name -> value): the ``layout_of`` hook's, else the
        task's own."""
        chosen = self.layout_of(options or {}) if self.layout_of is not None else None
        return chosen if chosen is not None else Layout(self.layout, self.window)

    def cli_options_to(self, target: str) -> tuple[CliOption, ...]:
        """The command-line options whose values go to ``target`` ("plan" or "run")."""
        return tuple(o for o in self.cli_options if o.to == target)


_TASKS: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    """Add ``spec`` to the registry (re-registering a name replaces it: a reloaded module); returns it."""
    problems = layout_problems(spec.layout, spec.window)
    if spec.on_render not in ON_RENDER:
        problems.append(f"on_render {spec.on_render!r} is not one of {ON_RENDER}")
    if spec.acts_on not in ACTS_ON:
        problems.append(f"acts_on {spec.acts_on!r} is not one of {ACTS_ON}")
    problems += [f"option {o.flags}: to {o.to!r} is not one of {CLI_TARGETS}"
                 for o in spec.cli_options if o.to not in CLI_TARGETS]
    problems += [f"UI option {o.name!r}: kind {o.kind!r} is not one of {UI_KINDS}"
                 for o in spec.ui_options if o.kind not in UI_KINDS]
    if spec.render_scale is not None and (spec.on_render != "frame" or not any(
            o.name == spec.render_scale and o.kind == "choice" for o in spec.ui_options)):
        problems.append(f"render_scale {spec.render_scale!r} is not a 'choice' UI option of an on_render='frame' task")
    taken = {f.__name__: other.name for other in _TASKS.values() if other.name != spec.name for f in other.api}
    problems += [f"API function {f.__name__!r} is already {taken[f.__name__]}'s" for f in spec.api
                 if f.__name__ in taken]
    if problems:
        raise TaskError(f"task {spec.name!r}: " + "; ".join(problems))
    _TASKS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a registered task (tests; a plug-in being unloaded)."""
    get(name)
    del _TASKS[name]


@contextlib.contextmanager
def registered(spec: TaskSpec) -> Iterator[TaskSpec]:
    """``spec`` registered for the ``with`` block, then removed (or the task it replaced put back)."""
    previous = _TASKS.get(spec.name)
    register(spec)
    try:
        yield spec
    finally:
        if previous is None:
            del _TASKS[spec.name]
        else:
            _TASKS[spec.name] = previous


def get(name: str) -> TaskSpec:
    if name not in _TASKS:
        raise TaskError(f"unknown task {name!r}; choose one of {', '.join(names())}")
    return _TASKS[name]


def specs() -> tuple[TaskSpec, ...]:
    """Every registered task, in ``order``."""
    return tuple(sorted(_TASKS.values(), key=lambda s: (s.order, s.name)))


def names() -> tuple[str, ...]:
    return tuple(s.name for s in specs())


def api_functions() -> dict[str, Callable]:
    """Every registered task's API functions by name (``denoise``, ``denoise_file``, ...)."""
    return {f.__name__: f for spec in specs() for f in spec.api}


def api_function(name: str) -> Callable:
    """A registered task's API function; AttributeError otherwise (modules' ``__getattr__`` call this)."""
    try:
        return api_functions()[name]
    except KeyError:
        raise AttributeError(name) from None


def _import_task_modules() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_import_task_modules()
