"""``bpy.ops.postpass.*``: the Image Editor tools, usable from buttons and from scripts alike.

Scripting (every property below can be passed; ``image`` defaults to the Image Editor's image)::

    bpy.ops.postpass.denoise(image="Render Result")             # -> new image "Render Result denoised"
    bpy.ops.postpass.upres(image="wall.png", scale=4, in_place=True)
    bpy.ops.postpass.colorize(image="old photo", hints="old photo hints")
    bpy.ops.postpass.inbetween(image="shot.0001.exr", factor=2)  # writes shot_x2/ beside the sequence

Called from a script (or ``blender -b``) an operator runs to completion and returns; an error is raised as
RuntimeError carrying the report. Clicked in the UI it runs in the worker thread: the UI stays live, the
window manager shows progress, the status bar says what runs, and Esc cancels. In both cases the inputs are
read from Blender on the main thread, the network runs without touching ``bpy``, and the result becomes an
image datablock on the main thread.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from . import images, model_picker, preferences, properties, tasks
from .runtime import ImageError
from .runtime.sequence import FramePattern
from .worker import EXPECTED_ERRORS, Job, Worker

WORKER = Worker()
#: Contract input each Image Editor task feeds the image into.
MAIN_INPUT = {"denoise": "color", "upres": "image", "colorize": "gray"}
_TIMER_SECONDS = 0.1

#: What runs on the main thread once a job is done: (context, job result) -> the report text.
Apply = Callable[[bpy.types.Context, object], str]


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
        self.report({"INFO"}, message)
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


def _image_result(source_name: str, suffix: str, in_place: bool) -> Apply:
    """Put the result array into a new image ``"<source> <suffix>"`` or back into the source image."""
    def apply(context, result) -> str:
        source = bpy.data.images.get(source_name)
        if in_place:
            if source is None:
                raise ImageError(source_name, "was removed while it was being processed")
            images.replace_pixels(source, result)
            return f"{source_name}: replaced ({tasks.LAST_RUN.get('provider')})"
        image = images.new_image(f"{source_name} {suffix}", result)
        _show(context, source_name, image)
        return f"{image.name}: new image ({tasks.LAST_RUN.get('provider')})"
    return apply


def _single_image_job(context, op, task: str, title: str, suffix: str, *, scale: int | None = None,
                      extra: dict | None = None) -> tuple[Job, Apply]:
    """A job running ``task`` on ``op.image``: on its file (Render Result, multilayer EXR: every pass is used)
    or on its pixels."""
    image = images.find_image(op.image, context)
    if op.in_place and image.type in (images.RENDER_RESULT, images.MULTILAYER):
        raise ImageError(image.name, "has no editable pixels: a Render Result or multilayer EXR gives a new image")
    options = preferences.get(context).run_options(task, op.model, op.precision)
    folder = tempfile.mkdtemp(prefix="postpass-")
    try:
        source = images.image_source(image, context.scene, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    layer, image_name = images.render_layer(context.scene), image.name
    extra = extra or {}

    def work(job: Job):
        def progress(done: int, total: int) -> None:
            job.step(done / total, f"{title} {image_name}: tile {done} of {total}")

        if isinstance(source, str):
            return tasks.run_file(task, [source], os.path.join(folder, "result.exr"), options, layer=layer,
                                  inputs=extra, scale=scale, progress=progress)
        return tasks.run_arrays(task, {MAIN_INPUT[task]: source, **extra}, options, scale=scale, progress=progress)

    def cleanup():
        shutil.rmtree(folder, ignore_errors=True)

    return Job(f"{title} {image_name}", work, cleanup), _image_result(image_name, suffix, op.in_place)


class POSTPASS_OT_denoise(JobOperator, bpy.types.Operator):
    """Denoise the image with a Postpass network (a render's albedo and normal passes are used when present)"""

    bl_idname = "postpass.denoise"
    bl_label = "Denoise"

    image: _image_property()
    model: _model_property()
    precision: _precision_property()
    in_place: _in_place_property()

    def prepare(self, context):
        return _single_image_job(context, self, "denoise", "Denoising", "denoised")


class POSTPASS_OT_upres(JobOperator, bpy.types.Operator):
    """Up-res the image x2 or x4 with a Postpass network"""

    bl_idname = "postpass.upres"
    bl_label = "Up-res"

    image: _image_property()
    scale: IntProperty(name="Scale", default=2, min=2, max=4, description="Output size / input size (2 or 4)")
    model: _model_property()
    precision: _precision_property()
    in_place: _in_place_property()

    def prepare(self, context):
        return _single_image_job(context, self, "upres", f"Up-res x{self.scale}", f"x{self.scale}",
                                 scale=self.scale)


class POSTPASS_OT_colorize(JobOperator, bpy.types.Operator):
    """Colorize the image from its luminance, guided by colour hints painted on a hint image"""

    bl_idname = "postpass.colorize"
    bl_label = "Colorize"

    image: _image_property()
    hints: StringProperty(name="Hints", description="Image with painted colour hints (transparent elsewhere), "
                                                    "the size of the image; empty: no hints")
    mask: StringProperty(name="Mask", description="Optional image, white where the hint image holds a hint "
                                                  "(default: the hint image's alpha)")
    model: _model_property()
    precision: _precision_property()
    in_place: _in_place_property()

    def prepare(self, context):
        hints = images.read_pixels(images.find_image(self.hints, context)) if self.hints else None
        mask = images.read_pixels(images.find_image(self.mask, context)) if self.mask else None
        return _single_image_job(context, self, "colorize", "Colorizing", "colorized",
                                 extra=tasks.hint_inputs(hints, mask))


class POSTPASS_OT_inbetween(JobOperator, bpy.types.Operator):
    """Make an image sequence's in-between frames: write the sequence with factor-1 new frames after each frame
    into a folder beside it, and load that as a new image sequence"""

    bl_idname = "postpass.inbetween"
    bl_label = "Inbetween Sequence"

    image: _image_property()
    factor: IntProperty(name="Factor", default=2, min=2, max=8,
                        description="Output frames per input frame: 2 doubles the frame rate")
    directory: StringProperty(name="Output Folder", subtype="DIR_PATH",
                              description="Where the new sequence goes (default: <name>_x<factor> beside the "
                                          "sequence)")
    model: _model_property()
    precision: _precision_property()

    def prepare(self, context):
        image = images.find_image(self.image, context)
        if image.source not in ("SEQUENCE", "FILE") or not image.filepath:
            raise ImageError(image.name, "is not an image sequence on disk")
        pattern = tasks.sequence_of(bpy.path.abspath(image.filepath, library=image.library))
        name = pattern.prefix.rstrip("._-") or "frames"
        folder = bpy.path.abspath(self.directory) if self.directory else \
            os.path.join(pattern.folder, f"{name}_x{self.factor}")
        output = FramePattern(Path(folder), pattern.prefix, pattern.suffix, pattern.padding)
        options = preferences.get(context).run_options("inbetween", self.model, self.precision)
        layer, factor, image_name = images.render_layer(context.scene), self.factor, image.name

        def work(job: Job):
            return tasks.retime_sequence(pattern, output, factor, options, layer=layer, progress=job.step)

        def apply(context, written) -> str:
            sequence = bpy.data.images.load(written[0], check_existing=False)
            sequence.source = "SEQUENCE"
            sequence.name = f"{image_name} x{factor}"
            _show(context, image_name, sequence)
            return f"{len(written)} frames in {folder} ({tasks.LAST_RUN.get('provider')})"

        return Job(f"Inbetween x{factor} {image_name}", work), apply


class POSTPASS_OT_new_hint_image(bpy.types.Operator):
    """Make a transparent image the size of this one to paint colour hints on, and open it for painting"""

    bl_idname = "postpass.new_hint_image"
    bl_label = "New Hint Image"
    bl_options = {"REGISTER", "UNDO"}

    image: _image_property()

    def execute(self, context):
        try:
            image = images.find_image(self.image, context)
            width, height = image.size
            if width == 0 or height == 0:
                raise ImageError(image.name, "has no pixels to match")
        except EXPECTED_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        hints = bpy.data.images.new(f"{image.name} hints", width, height, alpha=True)
        hints.generated_color = (0.0, 0.0, 0.0, 0.0)
        context.scene.postpass.hint_image = hints
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


classes = (POSTPASS_OT_denoise, POSTPASS_OT_upres, POSTPASS_OT_colorize, POSTPASS_OT_inbetween,
           POSTPASS_OT_new_hint_image, POSTPASS_OT_setup_render_output, POSTPASS_OT_show_report)


def unregister():
    WORKER.stop()
