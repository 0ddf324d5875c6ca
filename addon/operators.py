"""``bpy.ops.postpass.*``: the Image Editor tools, usable from buttons and from scripts alike.

One operator per registered task, generated from its registry spec (``addon.runtime.tasks``) when the add-on
registers: ``bpy.ops.postpass.<task>``, named and described by the spec, with the spec's ui options as
properties besides ``image``, ``model`` and ``precision``. What it does follows the spec's ``acts_on``
(:class:`ImageJobOperator`, :class:`SequenceJobOperator`); how it runs is :class:`JobOperator`'s.

Scripting (every property below can be passed; ``image`` defaults to the Image Editor's image)::

    bpy.ops.postpass.denoise(image="Render Result")             # -> new image "Render Result denoised"
    bpy.ops.postpass.upres(image="wall.png", scale=4, in_place=True)
    bpy.ops.postpass.colorize(image="old photo", hints="old photo hints")
    bpy.ops.postpass.inbetween(image="shot.0001.exr", factor=2)  # writes shot_x2/ beside the sequence
    bpy.ops.postpass.finetune(minutes=15)  # fine-tunes the denoiser on the saved .blend -> //postpass_models/
    bpy.ops.postpass.guides_cancel()       # stops the guide render of the latest render's skipped frames

Called from a script (or ``blender -b``) an operator runs to completion and returns; an error is raised as
RuntimeError carrying the report. Clicked in the UI it runs in the worker thread: the UI stays live, the
window manager shows progress, the status bar says what runs, and Esc cancels. In both cases the inputs are
read from Blender on the main thread, the network runs without touching ``bpy``, and the result becomes an
image datablock on the main thread.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty

from . import images, jobs, model_picker, preferences, properties
from .cli import render_guides
from .guide_render import guide_path, is_guide_file
from .runtime import ImageError, tasks, trainer
from .runtime.registry import PASS_SETTINGS
from .runtime.sequence import FramePattern
from .worker import EXPECTED_ERRORS, Job, Worker

WORKER = Worker()
_TIMER_SECONDS = 0.1

#: What runs on the main thread once a job is done: (context, job result) -> the report text, or a list of
#: (level, text) reports.
Apply = Callable[[bpy.types.Context, object], "str | list[tuple[str, str]]"]

#: A render processed without passes that a better-guided model reads (a render without Denoising Data: the
#: colour-only denoiser ran): image name (the render and its result) -> (the runtime's choice line, the passes).
#: The Image Editor panel shows it with a button that turns those passes on (:class:`POSTPASS_OT_enable_passes`).
ADVICE: dict[str, tuple[str, tuple[str, ...]]] = {}
#: Images whose report already said so this session: the advice is reported once per image.
_ADVISED: set[str] = set()
#: (image name, note) pairs already reported this session: a result's notes are reported once per image.
_NOTED: set[tuple[str, str]] = set()


def _image_property():
    return StringProperty(name="Image", description="Name of the image to process (default: the Image Editor's)")


def _model_property():
    return StringProperty(name="Model", default=model_picker.AUTO,
                          description="Model name from the models folders, or AUTO to pick the model that fits")


def _precision_property():
    return EnumProperty(name="Quality", items=properties.PRECISIONS, default="fp32",
                        description="Full (fp32) or half (fp16) precision models, where published")


def _in_place_property():
    return BoolProperty(name="Replace in Place", default=False,
                        description="Write into the image itself (not undoable) instead of a new image")


class JobOperator:
    """An operator whose work runs as a :class:`Job`: inline from scripts, in the worker thread from the UI."""

    # Undoable, but not REGISTER: the Adjust Last Operation panel would rerun the network in the UI thread.
    bl_options = {"UNDO"}

    def prepare(self, context) -> tuple[Job, Apply]:
        raise NotImplementedError

    def execute(self, context):
        try:
            job, apply = self.prepare(context)
        except EXPECTED_ERRORS as exc:
            return self._fail(exc)
        job.run()
        return self._finish(context, job, apply)

    def invoke(self, context, event):
        if context.window is None:  # no event loop to poll from (background, some script contexts)
            return self.execute(context)
        try:
            self._job, self._apply = self.prepare(context)
        except EXPECTED_ERRORS as exc:
            return self._fail(exc)
        WORKER.submit(self._job)
        wm = context.window_manager
        self._timer = wm.event_timer_add(_TIMER_SECONDS, window=context.window)
        wm.progress_begin(0, 100)
        context.workspace.status_text_set(f"Postpass: {self._job.title} (Esc to cancel)")
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()  # the worker stops at the next tile
            self._end(context)
            self.report({"INFO"}, f"{job.title}: cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER" or event.timer is not self._timer:
            return {"PASS_THROUGH"}
        if not job.done:
            context.window_manager.progress_update(int(job.progress * 100))
            context.workspace.status_text_set(f"Postpass: {job.status} (Esc to cancel)")
            return {"PASS_THROUGH"}
        self._end(context)
        return self._finish(context, job, self._apply)

    def _end(self, context) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)

    def _finish(self, context, job: Job, apply: Apply):
        if job.cancelled:
            self.report({"INFO"}, f"{job.title}: cancelled")
            return {"CANCELLED"}
        if job.error:
            self.report({"ERROR"}, job.error)
            return {"CANCELLED"}
        try:
            message = apply(context, job.result)
        except EXPECTED_ERRORS as exc:
            return self._fail(exc)
        for level, text in ([("INFO", message)] if isinstance(message, str) else message):
            self.report({level}, text)
        return {"FINISHED"}

    def _fail(self, exc: Exception):
        self.report({"ERROR"}, str(exc).splitlines()[0])
        return {"CANCELLED"}


def _show(context, source_name: str, image: bpy.types.Image) -> None:
    """Show ``image`` in the Image Editors that show the source image (the one the button was pressed in)."""
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            space = area.spaces.active
            if area.type == "IMAGE_EDITOR" and space.image is not None and space.image.name == source_name:
                space.image = image


def pass_settings(passes) -> str:
    """The Blender settings that write ``passes``: "Denoising Data" (pass names without one stay as named)."""
    return " and ".join(dict.fromkeys(PASS_SETTINGS.get(p, p) for p in passes))


def advise(names: list[str], render: bool) -> list[tuple[str, str]]:
    """After a run: when a render lacked passes a better-guided model of the task reads (the latest run's
    ``better_with``), keep the advice for ``names`` (the render, its result) for the panel's button, and
    report it once per image and session as a WARNING with the choice line; nothing for other images (an
    8-bit photo has no passes to render). (On render, turning a task on turns its passes on already.)"""
    better = tuple(jobs.LAST_RUN.get("better_with") or ())
    if not render or not better:
        for name in names:
            ADVICE.pop(name, None)
        return []
    line = jobs.LAST_RUN.get("choice") or ""
    for name in names:
        ADVICE[name] = (line, better)
    if names[0] in _ADVISED:
        return []
    _ADVISED.add(names[0])
    return [("WARNING", f"Postpass {line}. Enable {pass_settings(better)} (Image Editor > Postpass) turns them on "
                        "for the next render")]


def noted(name: str) -> list[tuple[str, str]]:
    """The latest run's notes (a render that Blender had denoised: the result is usually below Blender's own) as
    WARNING reports, each once per image and session."""
    fresh = [n for n in jobs.LAST_RUN.get("notes") or () if (name, n) not in _NOTED]
    _NOTED.update((name, n) for n in fresh)
    return [("WARNING", f"Postpass: {name}: {n}") for n in fresh]


def _image_result(source_name: str, suffix: str, in_place: bool, render: bool = False) -> Apply:
    """Put the result array into a new image ``"<source> <suffix>"`` or back into the source image."""
    def apply(context, result) -> list[tuple[str, str]]:
        source = bpy.data.images.get(source_name)
        if in_place:
            if source is None:
                raise ImageError(source_name, "was removed while it was being processed")
            images.replace_pixels(source, result)
            return [("INFO", f"{source_name}: replaced ({jobs.LAST_RUN.get('provider')})")] + \
                advise([source_name], render) + noted(source_name)
        image = images.new_image(f"{source_name} {suffix}", result)
        _show(context, source_name, image)
        return [("INFO", f"{image.name}: new image ({jobs.LAST_RUN.get('provider')})")] + \
            advise([source_name, image.name], render) + noted(source_name)
    return apply


def _option_values(op, spec, context, *, pixels: bool) -> dict:
    """The operator's ui option values; with ``pixels``, an image option's value is its pixels (None: empty)."""
    values = {}
    for option in spec.ui_options:
        value = getattr(op, option.name)
        if option.kind == "image" and pixels:
            value = images.read_pixels(images.find_image(value, context)) if value else None
        values[option.name] = value
    return values


class ImageJobOperator(JobOperator):
    """The operator of an ``acts_on="image"`` task: the task on the image, on its file (Render Result,
    multilayer EXR: every pass is used) or on its pixels, giving a new image or replacing its pixels."""

    spec = None  # the task's tasks.TaskSpec, set on each generated class

    def prepare(self, context) -> tuple[Job, Apply]:
        spec = self.spec
        image = images.find_image(self.image, context)
        if self.in_place and image.type in (images.RENDER_RESULT, images.MULTILAYER):
            raise ImageError(image.name, "has no editable pixels: a Render Result or multilayer EXR gives a new image")
        names = _option_values(self, spec, context, pixels=False)
        title, suffix = jobs.activity(spec.name, names), jobs.result_name(spec.name, names)
        extra, keywords = jobs.option_inputs(spec.name, _option_values(self, spec, context, pixels=True))
        options = preferences.get(context).run_options(spec.name, self.model, self.precision)
        folder = tempfile.mkdtemp(prefix="postpass-")
        try:
            source = images.image_source(image, context.scene, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        layer, image_name, task, main_input = images.render_layer(context.scene), image.name, spec.name, spec.main_input
        render, source_range = images.is_render(image), images.source_range(image)

        def work(job: Job):
            def progress(done: int, total: int) -> None:
                job.step(done / total, f"{title} {image_name}: tile {done} of {total}")

            if isinstance(source, str):
                return jobs.run_file(task, [source], os.path.join(folder, "result.exr"), options, layer=layer,
                                     inputs=extra, progress=progress, **keywords)
            # an 8-bit image is display-referred: the runtime prefers an sRGB model and clips to [0, 1]
            return jobs.run_arrays(task, {main_input: source, **extra}, options, progress=progress,
                                   source_range=source_range, **keywords)

        def cleanup():
            shutil.rmtree(folder, ignore_errors=True)

        return Job(f"{title} {image_name}", work, cleanup), _image_result(image_name, suffix, self.in_place, render)


class SequenceJobOperator(JobOperator):
    """The operator of an ``acts_on="sequence"`` task: the image's sequence on disk, written with factor - 1
    frames made by the task after each frame into a folder beside it, loaded as a new image sequence."""

    spec = None  # the task's tasks.TaskSpec, set on each generated class

    def prepare(self, context) -> tuple[Job, Apply]:
        spec = self.spec
        image = images.find_image(self.image, context)
        if image.source not in ("SEQUENCE", "FILE") or not image.filepath:
            raise ImageError(image.name, "is not an image sequence on disk")
        pattern = jobs.sequence_of(bpy.path.abspath(image.filepath, library=image.library))
        values = _option_values(self, spec, context, pixels=True)
        names = _option_values(self, spec, context, pixels=False)
        suffix, title = jobs.result_name(spec.name, names), jobs.activity(spec.name, names)
        name = pattern.prefix.rstrip("._-") or "frames"
        folder = bpy.path.abspath(self.directory) if self.directory else \
            os.path.join(pattern.folder, f"{name}_{suffix.replace(' ', '_')}")
        output = FramePattern(Path(folder), pattern.prefix, pattern.suffix, pattern.padding)
        options = preferences.get(context).run_options(spec.name, self.model, self.precision)
        layer, image_name, task = images.render_layer(context.scene), image.name, spec.name

        def work(job: Job):
            return jobs.retime_sequence(task, pattern, output, options, layer=layer, progress=job.step, **values)

        def apply(context, written) -> str:
            sequence = bpy.data.images.load(written[0], check_existing=False)
            sequence.source = "SEQUENCE"
            sequence.name = f"{image_name} {suffix}"
            _show(context, image_name, sequence)
            return f"{len(written)} frames in {folder} ({jobs.LAST_RUN.get('provider')})"

        return Job(f"{title} {image_name}", work), apply


#: The generated operator's base, by the task's ``acts_on``.
JOB_OPERATORS = {"image": ImageJobOperator, "sequence": SequenceJobOperator}


def task_operator(spec: tasks.TaskSpec) -> type:
    """``bpy.ops.postpass.<task>``: the operator generated for a registered task.

    Properties: ``image``, the task's ui options (an image option is an image's name, a choice one a whole
    number), then ``directory`` for a sequence task, ``model``, ``precision`` and, for an image task,
    ``in_place``."""
    annotations = {"image": _image_property()}
    annotations.update({o.name: properties.option_property(o, in_scene=False) for o in spec.ui_options})
    if spec.acts_on == "sequence":
        default = (spec.result or spec.name).replace("{", "<").replace("}", ">")
        annotations["directory"] = StringProperty(
            name="Output Folder", subtype="DIR_PATH",
            description=f"Where the new sequence goes (default: <name>_{default} beside the sequence)")
    annotations["model"] = _model_property()
    annotations["precision"] = _precision_property()
    if spec.acts_on == "image":
        annotations["in_place"] = _in_place_property()
    description = spec.description or spec.summary
    return type(f"POSTPASS_OT_{spec.name}", (JOB_OPERATORS[spec.acts_on], bpy.types.Operator), {
        "__doc__": description, "__module__": __name__, "__annotations__": annotations,
        "bl_idname": f"postpass.{spec.name}", "bl_label": spec.operator_label or spec.label,
        "bl_description": description, "spec": spec})


def paint_options() -> dict[str, tasks.UiOption]:
    """The image options one can paint a new image for (``UiOption.paint``), by their scene setting."""
    return {properties.option_setting(spec, o): o for spec in properties.specs() for o in spec.ui_options
            if o.kind == "image" and o.paint}


class POSTPASS_OT_new_hint_image(bpy.types.Operator):
    """Make a transparent image the size of this one to paint colour hints on, and open it for painting"""

    bl_idname = "postpass.new_hint_image"
    bl_label = "New Hint Image"
    bl_options = {"REGISTER", "UNDO"}

    image: _image_property()
    setting: StringProperty(name="Setting", options={"HIDDEN"},
                            description="The scene setting of the image option the new image is for (default: "
                                        "the first one painted on: colorize's hints)")

    def execute(self, context):
        try:
            image = images.find_image(self.image, context)
            width, height = image.size
            if width == 0 or height == 0:
                raise ImageError(image.name, "has no pixels to match")
            options = paint_options()
            setting = self.setting or next(iter(options), "")
            if setting not in options:
                raise ImageError(setting or "setting", f"is not an image option to paint; choose one of "
                                                       f"{', '.join(options) or 'none'}")
        except EXPECTED_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        hints = bpy.data.images.new(f"{image.name} {options[setting].name}", width, height, alpha=True)
        hints.generated_color = (0.0, 0.0, 0.0, 0.0)
        setattr(context.scene.postpass, setting, hints)
        space = context.space_data
        if space is not None and space.type == "IMAGE_EDITOR":
            space.image = hints
            space.ui_mode = "PAINT"
        return {"FINISHED"}


class POSTPASS_OT_setup_render_output(bpy.types.Operator):
    """Write frames as 32-bit OpenEXR MultiLayer, the format that carries the passes a model reads"""

    bl_idname = "postpass.setup_render_output"
    bl_label = "Use OpenEXR MultiLayer"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        fmt = context.scene.render.image_settings
        fmt.media_type = "MULTI_LAYER_IMAGE"
        fmt.color_depth = "32"
        return {"FINISHED"}


class POSTPASS_OT_enable_passes(bpy.types.Operator):
    """Turn on the passes a better-guided model reads (Denoising Data: albedo and normal) in every rendered view
    layer, for the next render"""

    bl_idname = "postpass.enable_passes"
    bl_label = "Enable Passes"
    bl_options = {"REGISTER", "UNDO"}

    passes: StringProperty(name="Passes", description="Blender pass names, comma-separated (default: the ones the "
                                                      "latest run lacked, e.g. Denoising Albedo, Denoising Normal)")

    def execute(self, context):
        passes = [p.strip() for p in self.passes.split(",") if p.strip()] or \
            list(jobs.LAST_RUN.get("better_with") or ())
        if not passes:
            self.report({"ERROR"}, "no passes to turn on: the latest run lacked none")
            return {"CANCELLED"}
        unknown = properties.enable_passes(context.scene, set(passes))
        if unknown:
            self.report({"ERROR"}, f"Blender has no switch for the pass(es) {', '.join(unknown)}")
            return {"CANCELLED"}
        for name in [n for n, (_, lacked) in ADVICE.items() if set(lacked) <= set(passes)]:
            del ADVICE[name]
        layers = ", ".join(layer.name for layer in context.scene.view_layers if layer.use)
        self.report({"INFO"}, f"{pass_settings(passes)} on for {layers}: the next render writes {', '.join(passes)}")
        return {"FINISHED"}


class POSTPASS_OT_show_report(bpy.types.Operator):
    """Show a message from the render handlers as a Blender report"""

    bl_idname = "postpass.show_report"
    bl_label = "Postpass Report"
    bl_options = {"INTERNAL"}

    level: EnumProperty(items=[(k, k, "") for k in ("INFO", "WARNING", "ERROR")])
    message: StringProperty()

    def execute(self, context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


# ----------------------------------------------------------------------------------------------------------
# Fine-tune on this shot: a child process in the training Python, polled by a timer
# ----------------------------------------------------------------------------------------------------------
#: The fine-tune running in this Blender session (one at a time): ``run``, a trainer.FinetuneRun or None.
FINETUNE: dict = {"run": None}
#: The latest finished fine-tune of each shot this session: .blend path -> (report level, one line).
FINETUNE_OUTCOME: dict[str, tuple[str, str]] = {}
_FINETUNE_POLL_SECONDS = 0.5


def finetune_run() -> trainer.FinetuneRun | None:
    """The fine-tune of this session that has not been collected yet (running, or just ended), or None."""
    return FINETUNE["run"]


def start_finetune(context, minutes: float | None = None, **options) -> trainer.FinetuneRun:
    """Start fine-tuning on the open .blend as saved: ``export.finetune SHOT -o //postpass_models --json`` in
    the training Python (the preference, else found). ``minutes``: None for the scene's setting; ``options``:
    more of its options (``work``, ``general``, ``seed``, ``threads``). Raises TrainerError (one line) for an
    unsaved file, one with unsaved changes (in the UI; background Blender cannot tell), a fine-tune already
    running, no training Python; nothing starts then."""
    running = FINETUNE["run"]
    if running is not None and not running.done:
        raise trainer.TrainerError(f"a fine-tune of {running.shot} is already running; cancel it first")
    shot = bpy.data.filepath
    if not shot:
        raise trainer.TrainerError("Save the .blend first (File > Save): the fine-tune renders the shot from the "
                                   "saved file")
    if bpy.data.is_dirty and not bpy.app.background:  # (background Blender counts every file as modified)
        raise trainer.TrainerError(f"{os.path.basename(shot)} has unsaved changes: save it first (File > Save), the "
                                   "fine-tune renders the shot from the saved file")
    models_dir = trainer.shot_models_path(shot)
    trainer.check_shot(shot)
    trainer.check_models_dir(models_dir)
    training = preferences.get(context).training()
    trainer.check_training_python(training)
    minutes = context.scene.postpass.finetune_minutes if minutes is None else minutes
    command = trainer.finetune_command(training.python, shot, models_dir, minutes=float(minutes), as_json=True,
                                       **options)
    print(f"Postpass: fine-tuning on {shot} for {minutes:g} min with {training.python} ({training.source})",
          flush=True)
    run = trainer.FinetuneRun(command, training.env(), shot=shot, models_dir=str(models_dir))
    FINETUNE["run"] = run
    return run


def finish_finetune(run: trainer.FinetuneRun) -> tuple[str, str]:
    """Collect an ended fine-tune: its (report level, line), kept per shot for the panel and printed."""
    level, line = trainer.outcome(run)
    FINETUNE_OUTCOME[run.shot] = (level, line)
    if FINETUNE["run"] is run:
        FINETUNE["run"] = None
    print(f"Postpass: {run.shot}: {line}", file=sys.stderr if level == "ERROR" else sys.stdout, flush=True)
    return level, line


def _redraw_properties() -> None:
    for window in getattr(bpy.context.window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "PROPERTIES":
                area.tag_redraw()


def _poll_finetune() -> float | None:
    """Main-thread timer while a fine-tune runs: redraw its progress; once it ends, report how."""
    run = FINETUNE["run"]
    if run is None:
        return None
    if not run.done:
        _redraw_properties()
        return _FINETUNE_POLL_SECONDS
    level, line = finish_finetune(run)
    _redraw_properties()
    window = next(iter(bpy.context.window_manager.windows), None)
    if window is not None:
        with bpy.context.temp_override(window=window):
            bpy.ops.postpass.show_report(level=level, message=line)
    return None


@atexit.register
def _stop_finetune(timeout: float = 15.0) -> None:
    """Blender quits (or the add-on goes): the child stops cleanly (within ``timeout`` seconds, still read, so
    its last lines have somewhere to go), and the same button resumes it next time."""
    run = FINETUNE["run"]
    if run is not None and not run.done:
        run.cancel()
        run.wait(timeout)


class POSTPASS_OT_finetune(bpy.types.Operator):
    """Fine-tune the denoiser on this shot: render training frames from the saved .blend, train for the set
    minutes in Postpass's training Python, and keep the result in //postpass_models/ when it does better on
    held-out frames; denoising in this file then uses it"""

    bl_idname = "postpass.finetune"
    bl_label = "Fine-tune on this Shot"

    minutes: FloatProperty(name="Minutes", default=0.0, min=0.0,
                           description="Time budget; 0 uses the scene's setting (Render > Postpass)")

    def _start(self, context):
        try:
            return start_finetune(context, self.minutes or None)
        except (trainer.TrainerError, OSError) as exc:
            self.report({"ERROR"}, str(exc).splitlines()[0])
            return None

    def execute(self, context):
        """From a script or ``blender -b``: run to the end, printing progress now and then."""
        run = self._start(context)
        if run is None:
            return {"CANCELLED"}
        shown = None
        try:
            while not run.wait(1.0):
                step = run.progress and (run.progress.get("stage"), int(run.fraction * 10))
                if step and step != shown:  # a new stage, or 10% more
                    print(f"Postpass: fine-tune: {run.status()}", flush=True)
                    shown = step
        except KeyboardInterrupt:
            run.cancel()
            run.wait()
        level, line = finish_finetune(run)
        self.report({level}, line)
        return {"CANCELLED"} if level == "ERROR" else {"FINISHED"}

    def invoke(self, context, event):
        """The button: start the child and return; a timer shows its progress in the panel."""
        if context.window is None or bpy.app.background:  # no event loop to run the timer: run to the end
            return self.execute(context)
        run = self._start(context)
        if run is None:
            return {"CANCELLED"}
        if not bpy.app.timers.is_registered(_poll_finetune):
            bpy.app.timers.register(_poll_finetune, first_interval=_FINETUNE_POLL_SECONDS, persistent=True)
        self.report({"INFO"}, f"Fine-tuning on {os.path.basename(run.shot)} in the background; progress in Render "
                              "> Postpass")
        return {"FINISHED"}


class POSTPASS_OT_finetune_cancel(bpy.types.Operator):
    """Stop the running fine-tune: what it rendered and trained is kept, and Fine-tune on this Shot resumes it"""

    bl_idname = "postpass.finetune_cancel"
    bl_label = "Cancel Fine-tune"

    def execute(self, context):
        run = FINETUNE["run"]
        if run is None or run.done:
            self.report({"ERROR"}, "no fine-tune is running")
            return {"CANCELLED"}
        run.cancel()
        self.report({"INFO"}, "Stopping the fine-tune; Fine-tune on this Shot resumes it")
        return {"FINISHED"}


# ----------------------------------------------------------------------------------------------------------
# Guide passes for skipped frames (issue 28): a guide render child process, then the guided model
# ----------------------------------------------------------------------------------------------------------
#: The guided inbetweening of this session's latest render (one at a time): ``run``, a GuidedRun or None.
GUIDED: dict = {"run": None}
_GUIDED_POLL_SECONDS = 0.5
#: Say = (level, one line) -> None: the render handlers' messages (console, and reports in the UI).
Say = Callable[[str, str], None]


def _say_made(made: list[tuple], say: Say) -> None:
    """A message per skipped frame made (:func:`jobs.make_skipped`'s result); one warning when guides given could
    not be used (the first reason)."""
    unused = [why for *_, why in made if why]
    if unused:
        say("WARNING", f"{len(unused)} skipped frame(s) made from their key frames alone: {unused[0]}")
    for frame, dst, guide, model, _ in made:
        how = f"guided by {jobs.GUIDES_FOLDER}/{os.path.basename(guide)}" if guide else "from its key frames"
        say("INFO", f"frame {frame}: wrote {os.path.basename(dst)} ({how}; {model}; "
                    f"{jobs.LAST_RUN.get('provider', '')})")


def make_skipped_now(batches: list[jobs.SkippedFrames], guides: dict[int, str], say: Say) -> None:
    """Make skipped frames here and now (guide files where ``guides`` has them), a message per frame."""
    try:
        _say_made(jobs.make_skipped(batches, guides), say)
    except EXPECTED_ERRORS as exc:
        say("ERROR", f"skipped frames: {str(exc).splitlines()[0]}")


class GuidedRun:
    """The skipped frames of a render made with their guide renders: first the guide render, a background
    Blender (``postpass render-guides``' child) rendering the frames' guide passes from a copy of the shot as
    rendered into ``guides/`` beside the frames (frames already there are reused); then, in the worker thread,
    each frame from its two key frames and its guide by the guided model. A guide render that fails leaves the
    frames without a guide to be made from their key frames alone, with one warning. :meth:`poll` (main thread)
    moves it on; :meth:`cancel` stops it (the guide files rendered are kept; frames not made yet stay missing).
    In background Blender :meth:`wait` runs it to the end."""

    def __init__(self, batches: list[jobs.SkippedFrames], pattern: str, copy: str | None, samples: int,
                 say: Say, command: tuple[list[str], dict] | None = None, error: str | None = None):
        self.batches, self.pattern, self.copy, self.samples, self.say = batches, pattern, copy, samples, say
        self.frames = [f for batch in batches for f in batch.frames]
        self.guide_run: render_guides.GuideRun | None = None
        self.job: Job | None = None
        self.phase = "guides"
        self.cancelled = False
        self.made = 0
        self.error = error
        if command is not None and error is None:
            try:
                self.guide_run = render_guides.GuideRun(*command, echo=False)
            except OSError as exc:
                self.error = f"{command[0][0]}: cannot run it ({exc.strerror or exc})"
        if self.guide_run is None:
            self._guides_ended()

    # the guide render ------------------------------------------------------------------------------------
    def _guides_ended(self) -> None:
        run = self.guide_run
        self._remove_copy()
        if run is not None and run.returncode != render_guides.EXIT_DONE and not self.error:
            self.error = run.error or f"exit code {run.returncode}"
        if self.cancelled:
            self.phase = "done"
            self.say("INFO", f"guided inbetweening cancelled: guide files kept in {os.path.dirname(self.pattern)} "
                             "(the next render reuses them); the skipped frames were not made")
            return
        guides = {f: str(guide_path(self.pattern, f)) for f in self.frames}
        guides = {f: p for f, p in guides.items() if is_guide_file(p)}
        if self.error:
            self.say("WARNING", f"guide render failed: {self.error}; "
                                f"{len(self.frames) - len(guides)} skipped frame(s) are made from their key frames "
                                "alone")
        elif run is not None and run.result is not None:
            rendered, skipped = len(run.result.get("rendered") or ()), len(run.result.get("skipped") or ())
            per_frame = run.result.get("seconds_per_frame") or 0.0
            self.say("INFO", f"guide render: {rendered} frame(s) at {self.samples} spp, {per_frame:.2f} s per frame"
                             + (f", {skipped} reused from {jobs.GUIDES_FOLDER}/" if skipped else ""))
        self.phase = "frames"
        self.job = Job("Guided inbetween", lambda job: self._make(job, guides))
        if bpy.app.background:
            self.job.run()
        else:
            WORKER.submit(self.job)

    def _remove_copy(self) -> None:
        if self.copy:
            with contextlib.suppress(OSError):
                os.unlink(self.copy)
            self.copy = None

    # the frames ------------------------------------------------------------------------------------------
    def _make(self, job: Job, guides: dict[int, str]) -> list:
        def progress(frame: int, done: int, total: int) -> None:
            self.made = done
            job.step(done / total if total else 1.0, f"Inbetween frame {frame} ({done + 1} of {total})")

        return jobs.make_skipped(self.batches, guides, progress)

    def _frames_ended(self) -> None:
        job, self.phase = self.job, "done"
        if job.cancelled:
            self.say("INFO", f"guided inbetweening cancelled after {self.made} of {len(self.frames)} skipped frames")
        elif job.error:
            self.say("ERROR", f"skipped frames: {job.error}")
        else:
            _say_made(job.result, self.say)

    # state -----------------------------------------------------------------------------------------------
    def poll(self) -> bool:
        """Move on (main thread); whether everything has ended."""
        if self.phase == "guides" and self.guide_run is not None and self.guide_run.done:
            self._guides_ended()
        if self.phase == "frames" and self.job is not None and self.job.done:
            self._frames_ended()
        return self.phase == "done"

    def wait(self) -> "GuidedRun":
        """Run to the end here (background Blender), printing the guide render's progress."""
        shown = 0
        while not self.poll():
            if self.guide_run is not None:
                self.guide_run.wait(0.2)
                for event in [e for e in self.guide_run.events if e.get("event") == "frame"][shown:]:
                    shown += 1
                    print(f"Postpass: guide frame {event['frame']} ({event['done']} of {event['total']}) "
                          f"in {event.get('seconds') or 0:.2f} s", flush=True)
            if self.job is not None:
                self.job.wait(0.2)
        return self

    def cancel(self) -> None:
        self.cancelled = True
        if self.phase == "guides" and self.guide_run is not None:
            self.guide_run.cancel()
        elif self.job is not None:
            self.job.cancel()

    @property
    def done(self) -> bool:
        return self.phase == "done"

    @property
    def fraction(self) -> float:
        if self.phase == "guides":
            return 0.5 * (self.guide_run.fraction if self.guide_run is not None else 0.0)
        return 0.5 + 0.5 * (self.job.progress if self.job is not None else 1.0)

    def status(self) -> str:
        if self.phase == "guides":
            return self.guide_run.status() if self.guide_run is not None else "Guide render"
        if self.phase == "frames":
            return self.job.status if self.job is not None else "Inbetween"
        return "Done"


def guided_inbetween(scene: bpy.types.Scene, samples: int, batches: list[jobs.SkippedFrames], say: Say) -> GuidedRun:
    """Start making a render's skipped frames with their guide renders (main thread, after the render): save a
    copy of the current file beside the guides (so they match the key frames as rendered, unsaved changes
    included), start the guide render of the frames whose guide file is not there yet, and in the UI poll it
    with a timer (the panel shows the progress and Cancel). A guided inbetweening still running is cancelled."""
    running = GUIDED["run"]
    if running is not None and not running.done:
        running.cancel()
    frames = [f for batch in batches for f in batch.frames]
    pattern = jobs.guide_pattern(scene.render.frame_path(frame=frames[0]))
    folder = os.path.dirname(pattern)
    copy, command, error = None, None, None
    try:
        todo = [f for f in frames if not is_guide_file(guide_path(pattern, f))]
        if todo:
            os.makedirs(folder, exist_ok=True)
            copy = os.path.join(folder, f".postpass-shot-{os.getpid()}.blend")
            bpy.ops.wm.save_as_mainfile(filepath=copy, copy=True, check_existing=False)
            command = render_guides.child_command(copy, pattern, todo, samples=samples, scene=scene.name)
        say("INFO", f"guide render of {len(todo)} skipped frame(s) at {samples} spp into {folder}"
                    + (f" ({len(frames) - len(todo)} already there)" if len(todo) < len(frames) else ""))
    except (OSError, RuntimeError, render_guides.GuideRenderError) as exc:
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if copy and os.path.exists(copy):
            os.unlink(copy)
        copy = None
    run = GuidedRun(batches, pattern, copy, samples, say, command, error)
    GUIDED["run"] = run
    if not bpy.app.background and not bpy.app.timers.is_registered(_poll_guided):
        bpy.app.timers.register(_poll_guided, first_interval=_GUIDED_POLL_SECONDS, persistent=True)
    return run


def _poll_guided() -> float | None:
    """Main-thread timer while a guided inbetweening runs: move it on and redraw its progress."""
    run = GUIDED["run"]
    if run is None:
        return None
    ended = run.poll()
    _redraw_properties()
    return None if ended else _GUIDED_POLL_SECONDS


@atexit.register
def _stop_guided(timeout: float = 10.0) -> None:
    """Blender quits (or the add-on goes): the guide render stops (its finished files are kept)."""
    run = GUIDED["run"]
    if run is not None and not run.done:
        run.cancel()
        if run.guide_run is not None and not run.guide_run.wait(timeout):
            run.guide_run.kill()
        run._remove_copy()


class POSTPASS_OT_guides_cancel(bpy.types.Operator):
    """Stop making the skipped frames with guide passes: the guide files rendered so far are kept (the next render
    reuses them); skipped frames not made yet stay missing"""

    bl_idname = "postpass.guides_cancel"
    bl_label = "Cancel Guided Inbetween"

    def execute(self, context):
        run = GUIDED["run"]
        if run is None or run.done:
            self.report({"ERROR"}, "no guided inbetweening is running")
            return {"CANCELLED"}
        run.cancel()
        self.report({"INFO"}, "Stopping the guide render and the guided inbetweening")
        return {"FINISHED"}


classes = (POSTPASS_OT_new_hint_image, POSTPASS_OT_setup_render_output, POSTPASS_OT_enable_passes,
           POSTPASS_OT_show_report, POSTPASS_OT_finetune, POSTPASS_OT_finetune_cancel, POSTPASS_OT_guides_cancel)


def build() -> tuple[type, ...]:
    """One operator per task the settings were generated for (``properties.build`` first), then the others."""
    return tuple(task_operator(spec) for spec in properties.specs()) + classes


def unregister():
    _stop_guided()
    WORKER.stop()
    _stop_finetune()
    for timer in (_poll_finetune, _poll_guided):
        if bpy.app.timers.is_registered(timer):
            bpy.app.timers.unregister(timer)
