"""Checkpoints as plain data: a state_dict and a JSON config in one ``.pt`` file, loaded with ``weights_only``.

The config says how to rebuild the model (architecture + parameters), what to call it when shipped (name,
version) and where it came from (training command, seed, dataset fingerprint, metrics); export copies the
latter into the ONNX metadata. No pickled objects: ``torch.load(..., weights_only=True)`` reads it.
"""
from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import torch

from addon.runtime.files import atomic_output

from . import paths
from .models import PostpassModel, build

CHECKPOINT_FORMAT = 1
TRAINING_KEYS = ("command", "seed", "dataset_fingerprint", "metrics")
#: recorded when known: ``config``, the training config file relative to the repository root
OPTIONAL_TRAINING_KEYS = ("config",)


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read; ``str()`` is one line naming the file."""


def save_checkpoint(path: str | os.PathLike, model: PostpassModel, *, name: str, version: str,
                    training: dict) -> Path:
    """Write ``model`` with its config; ``training`` holds command, seed, dataset_fingerprint and metrics, and
    (optional) config."""
    path = Path(path)
    missing = [k for k in TRAINING_KEYS if k not in training]
    if missing:
        raise CheckpointError(f"{path}: training record lacks {', '.join(missing)}")
    config = {"format": CHECKPOINT_FORMAT, "architecture": model.architecture, "params": model.params,
              "name": name, "version": version,
              "training": {k: training[k] for k in TRAINING_KEYS + OPTIONAL_TRAINING_KEYS if k in training}}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        torch.save({"config": json.dumps(config), "state_dict": state}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[PostpassModel, dict]:
    """(model in eval mode, config) from a checkpoint file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        config = json.loads(data["config"])
        state = data["state_dict"]
    except Exception as exc:  # unpickling errors come in many types; all mean "not our checkpoint"
        problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise CheckpointError(f"{path}: not a Postpass checkpoint ({problem})") from None
    if config.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {config.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    try:
        model = build(config["architecture"], **config["params"])
        model.load_state_dict(state)
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model ({exc})".splitlines()[0]) from None
    return model.eval(), config


def training_config(training: dict) -> str:
    """The config file a checkpoint was trained from, relative to the repository root ("" when unknown).

    The run's recorded ``config``, or for checkpoints older than that record the training command's ``--config``.
    A path that no longer exists (configs moved into task folders) becomes the one config of that file name under
    ``ml_core/configs`` when there is exactly one."""
    recorded = training.get("config") or _command_config(str(training.get("command", "")))
    if not recorded:
        return ""
    path = Path(recorded)
    full = path if path.is_absolute() else paths.REPO_ROOT / path
    if not full.is_file():
        moved = sorted(paths.CONFIGS_DIR.rglob(path.name))
        if len(moved) == 1:
            return paths.repo_relative(moved[0])
    return paths.repo_relative(full) if path.is_absolute() or full.is_file() else path.as_posix()


def _command_config(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        return ""
    for i, word in enumerate(words):
        if word == "--config" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--config="):
            return word.split("=", 1)[1]
    return ""
