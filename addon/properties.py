"""Per-scene Postpass settings (``scene.postpass``), saved with the .blend file like other render settings,
generated from the task registry (``addon.runtime.tasks``) when the add-on registers.

Every task has ``<task>_model``. A task with an on-render role has ``<task>_on_render``: a switch ("Denoise on
Render", "Inbetween Skipped Frames"), or, for a task with a ``render_scale`` option, a choice of Off ("1") or one
of that option's choices ("Up-res on Render": "1", "2", "4"). A task that runs on windows of frames when asked (its
run layout for the plan option ``temporal``: denoise's temporal models) also has ``<task>_temporal`` ("Temporal
(animations)", on by default): an animation's frames are processed with their neighbours (see ``handlers``). The
Image Editor keeps each task's ui options that are not one button per choice (``int`` and ``image`` options) as
``<setting>`` (``hint_image``, ``hint_mask``, ``inbetween_factor``). ``finetune_minutes`` is the budget of
Fine-tune on this Shot. A task that makes skipped frames also has ``<task>_guides`` ("Guide Passes for Skipped
Frames": on by default when a guided model is installed, until set) and ``<task>_guide_samples``.

The render options change the scene where Blender must do something differently: turning an on-render task on (or
changing its model, or its temporal switch) enables the passes its models read (a temporal model's Vector pass
without touching motion blur: the panel says when motion blur keeps Cycles from writing it); a ``render_scale``
setting lowers the render resolution percentage by the factor (and gives it back when turned off), so frames render
at 1/2 or 1/4 and come out at full size. "Render every Nth frame" is Blender's own frame step, so there is one
setting for it, not two.
"""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from . import jobs, model_picker, preferences
from .guide_render import DEFAULT_SAMPLES as GUIDE_SAMPLES
from .runtime import ModelError, tasks, trainer
from .runtime.contract import BLENDER_DENOISED_PASS
from .runtime.registry import reads_frame

#: View layer switches that make Cycles write a pass, by the pass name a model contract asks for.
PASS_SWITCHES = {
    "Denoising Albedo": ("cycles", "denoising_store_passes"),
    "Denoising Normal": ("cycles", "denoising_store_passes"),
    "Denoising Depth": ("cycles", "denoising_store_passes"),
    "Depth": (None, "use_pass_z"),
    "Vector": (None, "use_pass_vector"),
    "Normal": (None, "use_pass_normal"),
    # Blender's denoised render beside the raw one: Cycles' Denoise (a scene setting, BLENDER_DENOISE below) with
    # Denoising Data, which keeps the raw render as "Noisy Image"
    BLENDER_DENOISED_PASS: ("cycles", "denoising_store_passes"),
}
#: Cycles' Denoise as a model that corrects Blender's denoised render was trained with (``export.finetune``
#: renders the shot's views so): OpenImageDenoise, colour + albedo + normal, Accurate prefilter, High quality
BLENDER_DENOISE = {"use_denoising": True, "denoiser": "OPENIMAGEDENOISE", "denoising_input_passes": "RGB_ALBEDO_NORMAL",
                   "denoising_prefilter": "ACCURATE", "denoising_quality": "HIGH"}
PRECISIONS = [("fp32", "Full", "Full-precision models (fp32): the reference quality"),
              ("fp16", "Half", "Half-precision models (fp16) where published: faster on CUDA, slightly less exact")]
#: The on-render choice of a ``render_scale`` task that does nothing: scale 1.
RENDER_SCALE_OFF = "1"
_FRACTIONS = {2: "half the", 3: "a third of the", 4: "a quarter of the"}

_built: dict[str, tuple] = {"specs": (), "classes": ()}


# ----------------------------------------------------------------------------------------------------------
# Names: what the registry's tasks and options are called in scene.postpass
# ----------------------------------------------------------------------------------------------------------
def specs() -> tuple[tasks.TaskSpec, ...]:
    """The tasks the settings (and the operators and panels) were generated for, in registry order."""
    return _built["specs"]


def on_render_specs(role: str | None = None) -> tuple[tasks.TaskSpec, ...]:
    """The generated tasks with an on-render role (only those with ``role``, "frame" or "skipped_frames")."""
    return tuple(s for s in specs() if s.on_render and (role is None or s.on_render == role))


def model_setting(spec: tasks.TaskSpec) -> str:
    return f"{spec.name}_model"


def render_setting(spec: tasks.TaskSpec) -> str:
    return f"{spec.name}_on_render"


def temporal_setting(spec: tasks.TaskSpec) -> str:
    return f"{spec.name}_temporal"


def guide_setting(spec: tasks.TaskSpec) -> str:
    """A skipped-frames task's "Guide passes for skipped frames" switch (:func:`guides_values`)."""
    return f"{spec.name}_guides"


def guide_samples_setting(spec: tasks.TaskSpec) -> str:
    return f"{spec.name}_guide_samples"


#: The plan option that asks a task for its run on windows of frames (``TaskSpec.layout_of``: denoise).
TEMPORAL_OPTION = "temporal"


def temporal_layout(spec: tasks.TaskSpec) -> tasks.Layout | None:
    """The window of frames an on-render task that processes frames reads when asked for a temporal run
    (denoise: frames f - 2 .. f + 2, a neighbour not rendered absent); None for a task without one."""
    if spec.on_render != "frame" or spec.render_scale or spec.layout_of is None:
        return None
    layout = spec.run_layout({TEMPORAL_OPTION: True})
    return layout if layout.name == "window" and layout.ends == "absent" else None


def option_setting(spec: tasks.TaskSpec, option: tasks.UiOption) -> str:
    """The scene setting the Image Editor panel keeps an ``int`` or ``image`` ui option in."""
    return option.setting or f"{spec.name}_{option.name}"


def panel_options(spec: tasks.TaskSpec) -> tuple[tasks.UiOption, ...]:
    """The ui options the scene keeps (a ``choice`` option is a button per choice instead)."""
    return tuple(o for o in spec.ui_options if o.kind != "choice")


def render_values(settings, spec: tasks.TaskSpec) -> dict | None:
    """What an on-render task does with the scene's settings: None (off), or the option values each frame is
    processed with (``{}`` for a switch; ``{"scale": 2}`` for upres at x2)."""
    value = getattr(settings, render_setting(spec))
    if spec.render_scale:
        return None if value == RENDER_SCALE_OFF else {spec.render_scale: int(value)}
    return {} if value else None


def temporal_values(settings, spec: tasks.TaskSpec) -> tasks.Layout | None:
    """The window of frames an animation's frames are processed with: the task's temporal layout when it is on
    for the render and its temporal switch is on; else None (each frame alone)."""
    layout = temporal_layout(spec)
    if layout is None or render_values(settings, spec) is None or not getattr(settings, temporal_setting(spec)):
        return None
    return layout


def guides_values(settings, spec: tasks.TaskSpec) -> int | None:
    """The samples of the guide renders a skipped-frames task's frames are made with: the task on for the render
    and its "Guide passes for skipped frames" switch on; else None (skipped frames from their key frames alone).
    Whether a guided model runs is decided at the render (:func:`guided_model`)."""
    if spec.on_render != "skipped_frames" or render_values(settings, spec) is None \
            or not getattr(settings, guide_setting(spec)):
        return None
    return int(getattr(settings, guide_samples_setting(spec)))


def guided_model(task: str, model: str, folders):
    """The model a skipped frame is made with when its guide render is there (a model that reads it,
    ``jobs.reads_guides``), for the Model field's choice ``model``: for AUTO the first such model of the folder
    AUTO runs from; a named model when it reads guides; else None. Raises ModelError (no model of the task, a
    name no folder has)."""
    choice = model_picker.choose(task, model, folders)
    entries = [e for e in model_picker.models_of(task, [choice.models_dir])
               if (choice.model is None or e.name == choice.model) and jobs.reads_guides(e.contract)]
    return entries[0] if entries else None


def resizing_task(settings) -> tasks.TaskSpec | None:
    """The first task on for the render that writes frames at another size than rendered (up-res on render), or
    None: its results hold only the colour, so skipped frames cannot be made with guides from them."""
    return next((spec for spec in on_render_specs("frame")
                 if spec.render_scale and render_values(settings, spec) is not None), None)


def _guided_installed(task: str) -> bool:
    try:
        return guided_model(task, model_picker.AUTO, preferences.get(bpy.context).folders()) is not None
    except (ModelError, AttributeError, KeyError):
        return False


# ----------------------------------------------------------------------------------------------------------
# Passes and resolution
# ----------------------------------------------------------------------------------------------------------
def run_model(task: str, model: str, folders, frame_source: int = 0) -> str | None:
    """The Model field's choice ``model`` (AUTO or a name) for runs whose frame is source ``frame_source`` (0: a
    frame alone; r: windows of frames): a named model of that kind itself; a named temporal model leaves the
    runs of a frame alone (stills) to AUTO; a named per-frame model means no temporal runs (None). Raises
    ModelError for a name no folder has."""
    if model == model_picker.AUTO:
        return model
    choice = model_picker.choose(task, model, folders)
    entry = next(e for e in model_picker.models_of(task, [choice.models_dir]) if e.name == model)
    if reads_frame(entry.contract, frame_source):
        return model
    return model_picker.AUTO if frame_source == 0 else None


def passes_needed(task: str, model: str, folders, frame_source: int = 0) -> set[str]:
    """Blender passes the chosen model reads (for Auto: any model of the task that reads its frame from
    ``frame_source``: 0, a frame alone; r, the middle of a window of frames f - r .. f + r), besides Combined.
    A named model of the other kind of run is not the one these runs use (:func:`run_model`)."""
    model = run_model(task, model, folders, frame_source)
    if model is None:
        return set()
    if model == model_picker.AUTO:
        entries = [e for e in model_picker.models_of(task, folders) if reads_frame(e.contract, frame_source)]
    else:
        choice = model_picker.choose(task, model, folders)
        entries = [e for e in model_picker.models_of(task, [choice.models_dir]) if e.name == model]
    # Only passes of the frame being rendered: up-res guides live at the output resolution, which a frame
    # rendered at 1/2 or 1/4 cannot provide.
    return {i.pass_name for e in entries for i in e.contract.image_inputs
            if i.pass_name and i.pass_name != "Combined" and i.grid == "input"}


def enable_passes(scene: bpy.types.Scene, passes: set[str], motion_blur_off: bool = True) -> list[str]:
    """Turn on the switches of ``passes`` in every rendered view layer; returns passes Blender cannot make.
    Cycles writes no Vector pass with motion blur on (the pass is there, all zeros), so with ``Vector`` motion
    blur goes off, unless ``motion_blur_off`` is False (the panel then says so)."""
    unknown = sorted(p for p in passes if p not in PASS_SWITCHES)
    for layer in scene.view_layers:
        if not layer.use:
            continue
        for name in passes - set(unknown):
            owner, switch = PASS_SWITCHES[name]
            setattr(getattr(layer, owner) if owner else layer, switch, True)
    if "Vector" in passes and motion_blur_off:
        scene.render.use_motion_blur = False  # Cycles writes no Vector pass with motion blur on
    if BLENDER_DENOISED_PASS in passes:
        for name, value in BLENDER_DENOISE.items():
            setattr(scene.cycles, name, value)
    return unknown


def _update_passes(self, context):
    prefs = preferences.get(context)
    needed, temporal = set(), set()
    try:
        for spec in on_render_specs():
            if render_values(self, spec) is not None:
                needed |= passes_needed(spec.name, getattr(self, model_setting(spec)), prefs.folders())
            layout = temporal_values(self, spec)
            if layout is not None:  # a temporal model's passes: the look (motion blur) is the artist's to change
                temporal |= passes_needed(spec.name, getattr(self, model_setting(spec)), prefs.folders(),
                                          layout.frame_source)
    except ModelError:
        return  # the panel shows the problem; the render reports it too
    enable_passes(self.id_data, needed)
    enable_passes(self.id_data, temporal - needed, motion_blur_off=False)


def _update_render_scale(spec: tasks.TaskSpec):
    applied = f"{spec.name}_applied"

    def update(self, context):
        """Render at 1/scale of the user's resolution: undo the previous factor, apply the new one."""
        render = self.id_data.render
        new = int(getattr(self, render_setting(spec)))
        render.resolution_percentage = max(1, round(render.resolution_percentage * getattr(self, applied) / new))
        setattr(self, applied, new)
        _update_passes(self, context)
    return update


# ----------------------------------------------------------------------------------------------------------
# Generated properties
# ----------------------------------------------------------------------------------------------------------
def _model_search(task: str):
    def search(self, context, edit_text):
        try:
            entries = model_picker.models_of(task, preferences.get(context).folders())
        except ModelError:
            entries = []
        return [(model_picker.AUTO, "the model that fits the inputs")] + [
            (e.name, f"v{e.version} {e.precision}" + (f" x{e.contract.scale}" if e.contract.scale > 1 else ""))
            for e in entries]
    return search


def _model_property(task: str, update=None):
    return StringProperty(name="Model", default=model_picker.AUTO, search=_model_search(task), update=update,
                          description=f"The {task} model: a name from the models folders, or AUTO")


def _render_properties(spec: tasks.TaskSpec) -> dict:
    """``<task>_on_render`` (and, for a ``render_scale`` task, the factor it currently applies)."""
    verb = spec.label.lower()
    if spec.render_scale:
        choices = spec.ui_option(spec.render_scale).choices
        items = [(RENDER_SCALE_OFF, "Off", "Render at the output resolution")] + [
            (str(c), f"x{c}", f"Render at {_FRACTIONS.get(c, f'1/{c} of the')} resolution and {verb} the frames x{c}")
            for c in choices]
        return {
            render_setting(spec): EnumProperty(
                name=f"{spec.label} on Render", items=items, default=RENDER_SCALE_OFF,
                update=_update_render_scale(spec),
                description=f"Render at a fraction of the resolution and {verb} each written frame"),
            f"{spec.name}_applied": IntProperty(
                default=1, options={"HIDDEN"}, description="The factor the resolution percentage is currently "
                                                           "divided by")}
    if spec.on_render == "skipped_frames":
        return {render_setting(spec): BoolProperty(
            name=f"{spec.label} Skipped Frames", update=_update_passes,
            description="With a frame step above 1, make the skipped frames from the rendered ones"),
            **_guide_properties(spec)}
    settings = {render_setting(spec): BoolProperty(
        name=f"{spec.label} on Render", update=_update_passes,
        description=f"{spec.label} every frame the render writes, and turn on the passes the model reads")}
    layout = temporal_layout(spec)
    if layout is not None:
        frames = "frame" if layout.window == 1 else f"{layout.window} frames"
        settings[temporal_setting(spec)] = BoolProperty(
            name="Temporal (animations)", default=False, update=_update_passes,
            description=f"Animations: {verb} each frame with the {frames} before and after it (less flicker), "
                        f"one frame behind the render. Needs a temporal model, the Vector pass and Denoising "
                        f"Data, motion blur off and frame step 1 (turning this on turns the passes on); "
                        f"otherwise, and for stills, each frame alone. Off by default: it gains at few samples "
                        f"and moderate motion, and loses detail at 16+ samples and on fast motion")
    return settings


def _guide_properties(spec: tasks.TaskSpec) -> dict:
    """"Guide passes for skipped frames" of a skipped-frames task: on by default when a guided model is installed
    (the switch reads so until it is set: ``<task>_guides_choice`` -1), and the guide renders' samples."""
    choice = f"{spec.name}_guides_choice"

    def get(self) -> bool:
        value = self.get(choice, -1)
        return _guided_installed(spec.name) if value < 0 else bool(value)

    def set_(self, value: bool) -> None:
        self[choice] = int(bool(value))

    return {
        guide_setting(spec): BoolProperty(
            name="Guide Passes for Skipped Frames", get=get, set=set_, update=_update_passes,
            description="When the key frames are rendered, render each skipped frame's guide passes (Denoising "
                        "Data and Vector at a few samples, in the background, into guides/ beside the frames) and "
                        "make it with the guided model from its two key frames and its guide: far better than from "
                        "the key frames alone. Needs a guided model (on by default when one is installed), Cycles "
                        "and Denoising Data in the key frames"),
        choice: IntProperty(default=-1, min=-1, max=1, options={"HIDDEN"},
                            description="The guide switch as set (-1: not set, it follows the installed models)"),
        guide_samples_setting(spec): IntProperty(
            name="Guide Samples", default=GUIDE_SAMPLES, min=1, soft_max=16,
            description="Samples per pixel of the guide renders (the guided model was trained on 1 to 4)"),
    }


def option_property(option: tasks.UiOption, *, in_scene: bool):
    """A ui option as a property: of an operator (an image is named) or of the scene (an image is pointed to)."""
    if option.kind == "image":
        if in_scene:
            return PointerProperty(name=option.label, type=bpy.types.Image, description=option.description)
        return StringProperty(name=option.label, description=option.description)
    low = option.min if option.kind == "int" else min(option.choices)
    high = option.max if option.kind == "int" else max(option.choices)
    limits = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
    return IntProperty(name=option.label, default=option.default if option.default is not None else low or 0,
                       description=option.description, **limits)


def _annotations(all_specs: tuple[tasks.TaskSpec, ...]) -> dict:
    annotations = {}
    # Render properties
    for spec in all_specs:
        if spec.on_render:
            annotations.update(_render_properties(spec))
    annotations["output_mode"] = EnumProperty(
        name="Result", default="REPLACE",
        items=[("REPLACE", "Replace Frame", "The processed frame takes the frame's file name; the render as it came "
                                            f"out is kept in the '{jobs.ORIGINALS_FOLDER}' folder beside it"),
               ("SIBLING", "Beside Frame", "The render stays; processed frames go to the "
                                           f"'{jobs.RESULTS_FOLDER}' folder beside it")])
    # Models (render and Image Editor alike)
    for spec in all_specs:
        annotations[model_setting(spec)] = _model_property(spec.name, _update_passes if spec.on_render else None)
    annotations["precision"] = EnumProperty(name="Quality", items=PRECISIONS, default="fp32")
    # Fine-tune on this shot (Render panel)
    annotations["finetune_minutes"] = FloatProperty(
        name="Minutes", default=trainer.DEFAULT_MINUTES, min=0.1, soft_min=1.0, soft_max=120.0, step=100,
        precision=1, description="Time budget of the fine-tune, rendering the shot's training frames included")
    # Image Editor
    annotations["in_place"] = BoolProperty(
        name="Replace in Place",
        description="Write results into the image itself instead of a new image (not undoable)")
    for spec in all_specs:
        for option in panel_options(spec):
            annotations[option_setting(spec, option)] = option_property(option, in_scene=True)
    return annotations


def build() -> tuple[type, ...]:
    """The settings class for the tasks registered now (called when the add-on registers)."""
    all_specs = tasks.specs()
    settings = type("PostpassSettings", (bpy.types.PropertyGroup,),
                    {"__annotations__": _annotations(all_specs), "__module__": __name__})
    _built.update(specs=all_specs, classes=(settings,))
    return _built["classes"]


def register():
    bpy.types.Scene.postpass = PointerProperty(type=_built["classes"][0])


def unregister():
    del bpy.types.Scene.postpass
