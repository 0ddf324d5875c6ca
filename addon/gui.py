"""Where the buttons live: Properties > Render > Postpass, and Image Editor > Sidebar (N) > Postpass tab.

Both panels draw one section per task the add-on's settings were generated for (``properties.specs()``, in
registry order): the Render panel one per task with an on-render role, the Image Editor panel a box per task.
The Inbetween section shows "Guide Passes for Skipped Frames", what it will do, and, while a render's guide
render runs, its progress and Cancel. The Render panel's sub-panel "Fine-tune on this Shot" runs and follows a
fine-tune of the denoiser on the open .blend; the Render panel says when the file has its own models
(``//postpass_models``) and what they gained.
"""
from __future__ import annotations

import itertools
import os

import bpy

from . import images, jobs, model_picker, operators, preferences, properties
from .runtime import ModelError, trainer


def _draw_render_task(layout, scene, settings, spec) -> None:
    """A task's on-render section: its switch (or, for a ``render_scale`` task, its choice) and model."""
    setting, model = properties.render_setting(spec), properties.model_setting(spec)
    values = properties.render_values(settings, spec)
    if spec.render_scale:
        column = layout.column()
        column.prop(settings, setting, expand=True)
        if values is not None:
            render, scale = scene.render, values[spec.render_scale]
            width = render.resolution_x * render.resolution_percentage // 100
            height = render.resolution_y * render.resolution_percentage // 100
            column.label(text=f"Renders {width} x {height}, writes {width * scale} x {height * scale}", icon="INFO")
            column.prop(settings, model)
    else:
        column = layout.column(heading=spec.label)
        skipped = spec.on_render == "skipped_frames"
        if skipped:
            column.prop(scene, "frame_step", text="Render Every Nth Frame")
        column.prop(settings, setting, text="Skipped Frames" if skipped else "On Render")
        sub = column.column()
        sub.active = values is not None
        sub.prop(settings, model)
        if skipped and values is not None and scene.frame_step == 1:
            sub.label(text="Set a frame step above 1 to skip frames", icon="INFO")
        if skipped and values is not None and scene.frame_step > 1:
            _draw_guides(sub, scene, settings, spec)
        if values is not None and properties.temporal_layout(spec) is not None:
            _draw_temporal(column, scene, settings, spec)
    if values is not None and scene.render.image_settings.media_type != "MULTI_LAYER_IMAGE":
        try:
            passes = properties.passes_needed(spec.name, getattr(settings, model),
                                              preferences.get(bpy.context).folders())
        except ModelError:
            passes = set()
        if passes:
            box = layout.box()
            box.label(text=f"{spec.label}: its models' passes are written only to OpenEXR MultiLayer", icon="ERROR")
            box.operator("postpass.setup_render_output")


def temporal_status(scene, settings, spec) -> tuple[str, str, str | None]:
    """What the "Temporal (animations)" switch of an on-render task will do in the next render: (level, one
    line, the passes a button should turn on or None). Level INFO: it runs (or is off); WARNING: it is on but an
    animation's frames will be processed alone (the render says so too), or it is off and each frame's model
    would replace the result of Cycles' Denoise (on in the scene) with one that does not read it."""
    layout = properties.temporal_values(settings, spec)
    chosen = getattr(settings, properties.model_setting(spec))
    prefs = preferences.get(bpy.context)
    if layout is None:
        if _replaces_blender_denoise(scene, spec, chosen, prefs.folders()):
            return "WARNING", BELOW_BLENDER_DENOISE, None
        return "INFO", "Frames are denoised one by one", None
    try:
        model = properties.run_model(spec.name, chosen, prefs.folders(), layout.frame_source)
    except ModelError as exc:  # a model name no folder has
        return "WARNING", str(exc).splitlines()[0], None
    if model is None:
        return "WARNING", f"{chosen} reads one frame: choose AUTO or a temporal model", None
    try:
        prefs.run_options(spec.name, model, settings.precision, layout.frame_source)
        passes = properties.passes_needed(spec.name, model, prefs.folders(), layout.frame_source)
    except ModelError:
        return "WARNING", "No temporal model installed: frames are denoised one by one", None
    if scene.frame_step != 1:
        return "WARNING", "Needs Frame Step 1: frames are denoised one by one", None
    if scene.render.use_motion_blur:
        return "WARNING", "Motion blur is on: Cycles writes no Vector pass", "Vector"
    missing = [p for p in sorted(passes) if not _pass_enabled(scene, p)]
    if missing:
        return "WARNING", f"Needs {operators.pass_settings(missing)}", ", ".join(missing)
    behind = "one frame" if layout.window == 1 else f"{layout.window} frames"
    return "INFO", f"Animations: each frame with its neighbours, written {behind} later; stills alone", None


#: The per-frame status line when the frames' own models would replace Cycles' Denoise result with one that does
#: not read it: on scenes unlike its training data such a model scores below Blender's result (docs/benchmarks.md)
BELOW_BLENDER_DENOISE = "Frames one by one, from the raw render: usually below Cycles' own Denoise"


def _replaces_blender_denoise(scene, spec, chosen: str, folders) -> bool:
    """Whether a frame's own run would replace Cycles' Denoise result (on in the scene) with a model that does not
    read it, where the task has models that do (a temporal one; a shot fine-tune's correction)."""
    if scene.render.engine != "CYCLES" or not scene.cycles.use_denoising:
        return False
    try:
        per_frame = properties.passes_needed(spec.name, chosen, folders)
        readers = [e for e in model_picker.models_of(spec.name, folders)
                   if any(i.pass_name == properties.BLENDER_DENOISED_PASS for i in e.contract.image_inputs)]
    except ModelError:
        return False  # the model line shows the problem
    return bool(readers) and properties.BLENDER_DENOISED_PASS not in per_frame


def guides_status(scene, settings, spec) -> tuple[str, str, str | None]:
    """What "Guide passes for skipped frames" will do in the next render: (level, one line, the passes a button
    should turn on or None). INFO: it runs (or is off); WARNING: it is on, but skipped frames will be made from
    their key frames alone (the render says so too)."""
    samples = properties.guides_values(settings, spec)
    if samples is None:
        return "INFO", "Skipped frames are made from their key frames alone", None
    chosen = getattr(settings, properties.model_setting(spec))
    try:
        entry = properties.guided_model(spec.name, chosen, preferences.get(bpy.context).folders())
    except ModelError as exc:
        return "WARNING", str(exc).splitlines()[0], None
    if entry is None:
        return "WARNING", ("No guided model installed: skipped frames from their keys alone" if chosen == "AUTO" else
                           f"{chosen} reads no guide passes: choose AUTO or a guided model"), None
    if scene.render.engine != "CYCLES":
        return "WARNING", "Guide renders need Cycles: skipped frames from their keys alone", None
    resizing = properties.resizing_task(settings)
    if resizing is not None:
        return "WARNING", f"Not with {resizing.label} on Render: skipped frames from their keys alone", None
    keys, _ = jobs.guide_passes(entry.contract)
    missing = [p for p in sorted(keys) if not _pass_enabled(scene, p)]
    if missing:
        return "WARNING", f"The key frames need {operators.pass_settings(missing)}", ", ".join(missing)
    return "INFO", (f"After the render: guide renders ({samples} spp) in '{jobs.GUIDES_FOLDER}/', then "
                    f"{entry.name}"), None


def _draw_guides(layout, scene, settings, spec) -> None:
    """The guide switch of a skipped-frames task, what it will do (with a button that turns on the key frames'
    passes it lacks), and, while a render's guided inbetweening runs, its progress and Cancel."""
    layout.prop(settings, properties.guide_setting(spec), text="Guide Passes for Skipped Frames")
    run = operators.GUIDED["run"]
    if run is not None and not run.done:
        layout.progress(factor=run.fraction, type="BAR", text=run.status())
        row = layout.row()
        row.enabled = not run.cancelled
        row.operator("postpass.guides_cancel", text="Cancel", icon="CANCEL")
    if properties.guides_values(settings, spec) is not None:
        layout.prop(settings, properties.guide_samples_setting(spec))
    _draw_status(layout, *guides_status(scene, settings, spec))


def _pass_enabled(scene, name: str) -> bool:
    """Whether every rendered view layer writes pass ``name`` (a pass without a known switch counts as on)."""
    if name not in properties.PASS_SWITCHES:
        return True
    owner, switch = properties.PASS_SWITCHES[name]
    return all(getattr(getattr(layer, owner) if owner else layer, switch) for layer in scene.view_layers if layer.use)


def _draw_temporal(layout, scene, settings, spec) -> None:
    """The temporal switch of a task that processes frames, and what it will do (with a button to turn on what
    it lacks: the passes, or motion blur off)."""
    layout.prop(settings, properties.temporal_setting(spec), text="Temporal (animations)")
    level, line, passes = temporal_status(scene, settings, spec)
    _draw_status(layout, level, line, passes, "Turn Off Motion Blur" if line.startswith("Motion blur") else None)


def _draw_status(layout, level: str, line: str, passes: str | None, button: str | None = None) -> None:
    """A switch's status line: INFO as a label, else in a box with the button that turns on ``passes`` (its
    text ``button``, default "Enable <their settings>")."""
    if level == "INFO":
        layout.label(text=line, icon="INFO")
        return
    box = layout.box()
    box.label(text=line, icon="ERROR")
    if passes:
        text = button or f"Enable {operators.pass_settings(passes.split(', '))}"
        box.operator("postpass.enable_passes", text=text, icon="RENDERLAYERS").passes = passes


class RENDER_PT_postpass(bpy.types.Panel):
    bl_label = "Postpass"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        scene = context.scene
        settings = scene.postpass
        line = shot_model_line()
        if line:
            layout.label(text=line, icon="CHECKMARK")

        for spec in properties.on_render_specs():
            _draw_render_task(layout, scene, settings, spec)

        column = layout.column()
        column.prop(settings, "precision")
        column.prop(settings, "output_mode")
        column.label(text=f"Originals kept in '{jobs.ORIGINALS_FOLDER}/'" if settings.output_mode == "REPLACE"
                     else f"Results in '{jobs.RESULTS_FOLDER}/'", icon="FILE_FOLDER")


def shot_model_line() -> str | None:
    """``Shot model: denoise_kpn_shot (+0.84 dB on held-out frames)`` when the open .blend has its own models
    folder (``//postpass_models``, which then runs first), from its fine-tune report; else None."""
    folder = preferences.shot_folder()
    if folder is None:
        return None
    return f"Shot model: {trainer.report_line(trainer.read_report(folder))}"


class RENDER_PT_postpass_finetune(bpy.types.Panel):
    bl_label = "Fine-tune on this Shot"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_parent_id = "RENDER_PT_postpass"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        shot, run = bpy.data.filepath, operators.finetune_run()
        if run is not None and not run.done:  # running (or stopping): its progress and Cancel
            if os.path.abspath(run.shot) != os.path.abspath(shot):
                layout.label(text=f"Fine-tuning on {os.path.basename(run.shot)}", icon="INFO")
            layout.progress(factor=run.fraction, type="BAR", text=run.status())
            row = layout.row()
            row.enabled = not run.cancelled
            row.operator("postpass.finetune_cancel", text="Cancel", icon="CANCEL")
            return
        column = layout.column()
        column.prop(context.scene.postpass, "finetune_minutes")
        column.operator("postpass.finetune", text="Fine-tune on this Shot", icon="EXPERIMENTAL")
        if not shot:
            column.label(text="Save the .blend first: the fine-tune renders the saved file", icon="ERROR")
        elif bpy.data.is_dirty and not bpy.app.background:
            column.label(text="Unsaved changes: save first, the fine-tune renders the saved file", icon="ERROR")
        level, line = operators.FINETUNE_OUTCOME.get(shot, (None, None))
        if line:
            column.label(text=line, icon={"ERROR": "ERROR", "WARNING": "INFO"}.get(level, "CHECKMARK"))
        column.label(text=f"Models go to //{trainer.SHOT_MODELS_FOLDER}/ (denoising in this file uses them)",
                     icon="FILE_FOLDER")


def _draw_image_task(layout, settings, image, spec, in_place: bool) -> None:
    """A task's box: its model, the options the scene keeps, and its button (one per choice of its choice
    options: "Up-res x2", "Up-res x4")."""
    box = layout.box()
    box.prop(settings, properties.model_setting(spec), text=spec.label)
    values = {}
    for option in properties.panel_options(spec):
        setting = properties.option_setting(spec, option)
        value = getattr(settings, setting)
        if option.kind == "image":
            value = value.name if value is not None else ""
        values[option.name] = value
        if option.paint:
            row = box.row(align=True)
            row.prop(settings, setting)
            row.operator("postpass.new_hint_image", text="", icon="ADD").setting = setting
        else:
            box.prop(settings, setting)
    where = box
    if spec.acts_on == "sequence":
        where = box.column()
        where.enabled = image.source in ("SEQUENCE", "FILE") and bool(image.filepath)
    choices = [o for o in spec.ui_options if o.kind == "choice"]
    if choices:
        where = where.row(align=True)
    for combination in itertools.product(*([(o.name, c) for c in o.choices] for o in choices)):
        chosen = {**values, **dict(combination)}
        text = f"{spec.label} {jobs.result_name(spec.name, chosen)}" if choices else spec.operator_label or spec.label
        op = where.operator(f"postpass.{spec.name}", text=text, icon=spec.icon)
        for name, value in chosen.items():
            setattr(op, name, value)
        op.model, op.precision = getattr(settings, properties.model_setting(spec)), settings.precision
        if spec.acts_on == "image":
            op.in_place = in_place


class IMAGE_PT_postpass(bpy.types.Panel):
    bl_label = "Postpass"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Postpass"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.postpass
        image = context.space_data.image
        if image is None:
            layout.label(text="Open an image or the Render Result", icon="INFO")
            return
        layout.label(text=image.name, icon="RENDER_RESULT" if image.type == images.RENDER_RESULT else "IMAGE_DATA")
        line = shot_model_line()
        if line:
            layout.label(text=line, icon="CHECKMARK")
        advice = operators.ADVICE.get(image.name)
        if advice:  # processed without passes a better-guided model reads: offer to render them next time
            line, passes = advice
            box = layout.box()
            box.label(text=f"{line.partition(' (')[0]} ran without {', '.join(passes)}", icon="INFO")
            box.operator("postpass.enable_passes", text=f"Enable {operators.pass_settings(passes)}",
                         icon="RENDERLAYERS").passes = ", ".join(passes)
        editable = image.type not in (images.RENDER_RESULT, images.MULTILAYER)
        in_place = settings.in_place and editable
        row = layout.row()
        row.enabled = editable
        row.prop(settings, "in_place")
        layout.prop(settings, "precision")

        for spec in properties.specs():
            _draw_image_task(layout, settings, image, spec, in_place)


classes = (RENDER_PT_postpass, RENDER_PT_postpass_finetune, IMAGE_PT_postpass)
