"""Per-scene Postpass settings (``scene.postpass``), saved with the .blend file like other render settings.

The render options change the scene where Blender must do something differently: turning on "Denoise on
render" enables the passes the models read; "Up-res on render" lowers the render resolution percentage by
the factor (and gives it back when turned off), so frames render at 1/2 or 1/4 and come out at full size.
"Render every Nth frame" is Blender's own frame step, so there is one setting for it, not two.
"""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

from . import model_picker, preferences, tasks
from .runtime import ModelError

#: View layer switches that make Cycles write a pass, by the pass name a model contract asks for.
PASS_SWITCHES = {
    "Denoising Albedo": ("cycles", "denoising_store_passes"),
    "Denoising Normal": ("cycles", "denoising_store_passes"),
    "Denoising Depth": ("cycles", "denoising_store_passes"),
    "Depth": (None, "use_pass_z"),
    "Vector": (None, "use_pass_vector"),
    "Normal": (None, "use_pass_normal"),
}
PRECISIONS = [("fp32", "Full", "Full-precision models (fp32): the reference quality"),
              ("fp16", "Half", "Half-precision models (fp16) where published: faster on CUDA, slightly less exact")]
UPRES_CHOICES = [("1", "Off", "Render at the output resolution"),
                 ("2", "x2", "Render at half the resolution and up-res the frames x2"),
                 ("4", "x4", "Render at a quarter of the resolution and up-res the frames x4")]


def passes_needed(task: str, model: str, folders) -> set[str]:
    """Blender passes the chosen model reads (for Auto: any model of the task), besides Combined."""
    if model == model_picker.AUTO:
        entries = model_picker.models_of(task, folders)
    else:
        choice = model_picker.choose(task, model, folders)
        entries = [e for e in model_picker.models_of(task, [choice.models_dir]) if e.name == model]
    # Only passes of the frame being rendered: up-res guides live at the output resolution, which a frame
    # rendered at 1/2 or 1/4 cannot provide.
    return {i.pass_name for e in entries for i in e.contract.image_inputs
            if i.pass_name and i.pass_name != "Combined" and i.grid == "input"}


def enable_passes(scene: bpy.types.Scene, passes: set[str]) -> list[str]:
    """Turn on the switches of ``passes`` in every rendered view layer; returns passes Blender cannot make."""
    unknown = sorted(p for p in passes if p not in PASS_SWITCHES)
    for layer in scene.view_layers:
        if not layer.use:
            continue
        for name in passes - set(unknown):
            owner, switch = PASS_SWITCHES[name]
            setattr(getattr(layer, owner) if owner else layer, switch, True)
    if "Vector" in passes:
        scene.render.use_motion_blur = False  # Cycles writes no Vector pass with motion blur on
    return unknown


def _update_passes(self, context):
    prefs = preferences.get(context)
    needed = set()
    try:
        if self.denoise_on_render:
            needed |= passes_needed("denoise", self.denoise_model, prefs.folders())
        if self.inbetween_on_render:
            needed |= passes_needed("inbetween", self.inbetween_model, prefs.folders())
    except ModelError:
        return  # the panel shows the problem; the render reports it too
    enable_passes(self.id_data, needed)


def _update_upres(self, context):
    """Render at 1/scale of the user's resolution: undo the previous factor, apply the new one."""
    render = self.id_data.render
    new = int(self.upres_on_render)
    render.resolution_percentage = max(1, round(render.resolution_percentage * self.upres_applied / new))
    self.upres_applied = new


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


class PostpassSettings(bpy.types.PropertyGroup):
    # Render properties
    denoise_on_render: BoolProperty(name="Denoise on Render", update=_update_passes,
                                    description="Denoise every frame the render writes, and turn on the passes the "
                                                "model reads")
    upres_on_render: EnumProperty(name="Up-res on Render", items=UPRES_CHOICES, default="1", update=_update_upres,
                                  description="Render at a fraction of the resolution and up-res each written frame")
    upres_applied: IntProperty(default=1, options={"HIDDEN"},
                               description="The factor the resolution percentage is currently divided by")
    inbetween_on_render: BoolProperty(name="Inbetween Skipped Frames", update=_update_passes,
                                      description="With a frame step above 1, make the skipped frames from the "
                                                  "rendered ones")
    output_mode: EnumProperty(
        name="Result", default="REPLACE",
        items=[("REPLACE", "Replace Frame", "The processed frame takes the frame's file name; the render as it came "
                                            f"out is kept in the '{tasks.ORIGINALS_FOLDER}' folder beside it"),
               ("SIBLING", "Beside Frame", "The render stays; processed frames go to the "
                                           f"'{tasks.RESULTS_FOLDER}' folder beside it")])

    # Models (render and Image Editor alike)
    denoise_model: _model_property("denoise", _update_passes)
    upres_model: _model_property("upres")
    colorize_model: _model_property("colorize")
    inbetween_model: _model_property("inbetween", _update_passes)
    precision: EnumProperty(name="Quality", items=PRECISIONS, default="fp32")

    # Image Editor
    in_place: BoolProperty(name="Replace in Place",
                           description="Write results into the image itself instead of a new image (not undoable)")
    hint_image: PointerProperty(name="Hints", type=bpy.types.Image,
                                description="Colour hints painted on a transparent image (alpha > 0 marks a hint)")
    hint_mask: PointerProperty(name="Mask", type=bpy.types.Image,
                               description="Optional: white where the hint image holds a hint (else its alpha says)")
    inbetween_factor: IntProperty(name="Factor", default=2, min=2, max=8,
                                  description="Frames per original frame: 2 doubles the frame rate")


classes = (PostpassSettings,)


def register():
    bpy.types.Scene.postpass = PointerProperty(type=PostpassSettings)


def unregister():
    del bpy.types.Scene.postpass
