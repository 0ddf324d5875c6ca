"""Which models the add-on offers: the open shot's own folder (``//postpass_models``, written by a fine-tune on
that shot) first, then the user's folder (models they trained), then the shipped ones.

The runtime reads one registry folder per call; the add-on knows up to three, so this module says which
folder a model name (or "Auto") resolves to and lists them for menus and the preferences. bpy-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .runtime import ModelError, Registry
from .runtime.registry import REGISTRY_FILE, RegistryEntry, models_dir

#: The menu entry that lets the runtime pick the model that fits the inputs given.
AUTO = "AUTO"


@dataclass(frozen=True)
class ModelChoice:
    """Arguments for a runtime call: ``model`` (None: the runtime picks by inputs) from ``models_dir``."""

    model: str | None
    models_dir: Path


def model_folders(user_folder: str | Path | None, shot_folder: str | Path | None = None) -> list[Path]:
    """The shot's folder and the user's (each when set, and not a folder listed before it) before the shipped
    one (``$POSTPASS_MODELS`` or addon/models). A shot's folder is complete (a fine-tune writes every model
    there), so for "Auto" it decides alone."""
    shipped = models_dir(None)
    folders, seen = [], {shipped.resolve()}
    for folder in (shot_folder, user_folder):
        if folder and Path(folder).resolve() not in seen:
            seen.add(Path(folder).resolve())
            folders.append(Path(folder))
    return folders + [shipped]


def registries(folders: list[Path]) -> list[Registry]:
    """The registries of the folders that have one (a user folder starts empty: no registry.json yet)."""
    return [Registry(folder) for folder in folders if (folder / REGISTRY_FILE).is_file()]


def models_of(task: str, folders: list[Path]) -> list[RegistryEntry]:
    """Every model of ``task``, user folder first; a name the user folder has hides the shipped one."""
    seen, entries = set(), []
    for registry in registries(folders):
        for entry in registry.entries.values():
            if entry.contract.task == task and entry.name not in seen:
                seen.add(entry.name)
                entries.append(entry)
    return entries


def choose(task: str, model: str, folders: list[Path]) -> ModelChoice:
    """Resolve a menu choice: a model name to the first folder holding it; AUTO to the first folder with any
    model of ``task``, where the runtime then picks by the inputs it is given."""
    found = registries(folders)
    for registry in found:
        entry = registry.entries.get(model)
        if model == AUTO and any(e.contract.task == task for e in registry.entries.values()):
            return ModelChoice(None, registry.folder)
        if entry is not None:
            if entry.contract.task != task:
                raise ModelError(f"model {model!r} is a {entry.contract.task} model, not {task}")
            return ModelChoice(model, registry.folder)
    where = ", ".join(str(f) for f in folders)
    if model == AUTO:
        raise ModelError(f"no {task} model installed (looked in {where}); add one to the models folder set in "
                         "Preferences > Add-ons > Postpass")
    raise ModelError(f"model {model!r} not found (looked in {where})")
