"""Preferences > Add-ons > Postpass: where inference runs, how big its tiles are, which models exist, and which
Python trains when fine-tuning on a shot."""
from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import jobs, model_picker
from .runtime import DEFAULT_TILE, ModelError, trainer
from .runtime.registry import frames_read, reads_frame, window_text

#: The extension's module (``bl_ext.<repo>.postpass``): this package's parent, the repository root.
ADDON_ID = __package__.rpartition(".")[0]
DEVICES = [
    ("AUTO", "Auto", "CUDA when onnxruntime-gpu and a working GPU are present, else the CPU"),
    ("CPU", "CPU", "Always the CPU"),
    ("CUDA", "CUDA", "The GPU through onnxruntime-gpu; falls back to the CPU (and says so) when CUDA cannot start"),
]


def user_models_default() -> str:
    """A ``models`` folder in the extension's own user directory (kept across upgrades)."""
    return bpy.utils.extension_path_user(ADDON_ID, path="models")


class PostpassPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    device: EnumProperty(name="Execution Provider", items=DEVICES, default="AUTO",
                         description="Where the networks run")
    tile_size: IntProperty(name="Tile Size", default=DEFAULT_TILE, min=0, soft_min=64, soft_max=4096,
                           subtype="PIXEL",
                           description="Input pixels per tile: smaller tiles use less memory; 0 runs the whole "
                                       "image at once")
    threads: IntProperty(name="Threads", default=0, min=0, soft_max=64,
                         description="CPU threads per inference; 0 uses every core this process may run on")
    models_folder: StringProperty(name="User Models", subtype="DIR_PATH", default=user_models_default(),
                                  description="Folder with your own exported models (its registry.json lists "
                                              "them); searched before the models shipped with Postpass")
    training_python: StringProperty(name="Training Python", subtype="FILE_PATH", default="",
                                    description="The python of Postpass's training environment (torch and ml_core: "
                                                "a clone's .venv), which Fine-tune on this Shot runs. Empty: "
                                                f"${trainer.TRAINING_PYTHON_ENV}, else found automatically")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        column = layout.column()
        column.prop(self, "device")
        column.label(text=provider_in_use(), icon="INFO")
        column.prop(self, "tile_size")
        column.prop(self, "threads")
        column.prop(self, "models_folder")
        column.prop(self, "training_python")
        column.label(text=training_python_in_use(self), icon="INFO")
        draw_models(layout.box(), self.folders())

    def folders(self) -> list[Path]:
        """The models folders, first first: the open .blend's ``//postpass_models`` (when it has a registry), the
        User Models folder, the shipped models."""
        return model_picker.model_folders(bpy.path.abspath(self.models_folder) if self.models_folder else None,
                                          shot_folder())

    def training(self) -> trainer.TrainingPython:
        """The Python that fine-tunes (raises TrainerError when there is none)."""
        return trainer.find_training_python(bpy.path.abspath(self.training_python) if self.training_python else None)

    def run_options(self, task: str, model: str, precision: str = "fp32",
                    frame_source: int = 0) -> jobs.RunOptions:
        """Runtime options for ``task`` with the menu choice ``model`` (AUTO or a name); raises ModelError.

        ``frame_source`` r > 0: for runs on windows of frames f - r .. f + r (temporal denoising), whose models
        only some folders have: AUTO is the first folder with such a model of ``task`` in ``precision`` (where
        the runtime picks among them); a name must be such a model."""
        folders = self.folders()
        if frame_source and model == model_picker.AUTO:
            found = next((r for r in model_picker.registries(folders)
                          if any(e.contract.task == task and e.precision == precision
                                 and reads_frame(e.contract, frame_source) for e in r.entries.values())), None)
            if found is None:
                raise ModelError(f"no {task} model that reads {window_text(frame_source)} ({precision}) installed "
                                 f"(looked in {', '.join(str(f) for f in folders)})")
            choice = model_picker.ModelChoice(None, found.folder)
        else:
            choice = model_picker.choose(task, model, folders)
            if frame_source:
                entry = model_picker.registries([choice.models_dir])[0].get(model)
                if not reads_frame(entry.contract, frame_source):
                    raise ModelError(f"model {model!r} reads {frames_read(entry.contract)}, not "
                                     f"{window_text(frame_source)}: choose AUTO or a temporal model")
        return jobs.RunOptions(choice.model, choice.models_dir, self.device.lower(), self.threads or None,
                               self.tile_size or None, precision)


def get(context) -> PostpassPreferences:
    return context.preferences.addons[ADDON_ID].preferences


def shot_folder() -> Path | None:
    """``//postpass_models`` of the open .blend when a fine-tune wrote one there (its registry.json), else None."""
    return trainer.shot_models_dir(bpy.data.filepath)


def training_python_in_use(prefs) -> str:
    try:
        training = prefs.training()
    except trainer.TrainerError:
        return "No training Python found: Fine-tune on this Shot needs one (torch and ml_core)"
    return f"Fine-tunes with {training.python} ({training.source})"


def provider_in_use() -> str:
    """The provider the latest inference really ran on, or what this onnxruntime offers before any has run."""
    run = jobs.LAST_RUN
    if run:
        text = f"In use: {run['provider']} (model {run['model']})"
        return text + (f"; not CUDA: {run['fallback']}" if run["fallback"] else "")
    try:
        import onnxruntime
    except ImportError as exc:  # the platform's wheel was not installed: nothing can run
        return f"onnxruntime cannot load: {exc}"
    return f"Nothing run yet; onnxruntime {onnxruntime.__version__} offers {', '.join(onnxruntime.get_available_providers())}"


def draw_models(layout, folders: list[Path]) -> None:
    """Every model of every folder: name, task, version, precision and its evaluation figures."""
    layout.label(text="Models", icon="NODETREE")
    for folder in folders:
        column = layout.column(align=True)
        column.label(text=str(folder), icon="FILE_FOLDER")
        try:
            entries = [e for registry in model_picker.registries([folder]) for e in registry.entries.values()]
        except ModelError as exc:
            column.label(text=str(exc), icon="ERROR")
            continue
        if not entries:
            column.label(text="No models here yet", icon="BLANK1")
        for entry in entries:
            row = column.row()
            scale = f" x{entry.contract.scale}" if entry.contract.scale > 1 else ""
            row.label(text=f"{entry.name}  v{entry.version}", icon="DOT")
            row.label(text=f"{entry.contract.task}{scale}, {entry.precision}")
            metrics = entry.summary.get("metrics") or {}
            row.label(text=", ".join(f"{k} {_number(v)}" for k, v in metrics.items()) or "no metrics recorded")


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


classes = (PostpassPreferences,)
