"""Checkpoints as plain data: a state_dict and a JSON config in one ``.pt`` file, loaded with ``weights_only``.

The config says how to rebuild the model (architecture + parameters), what to call it when shipped (name,
version) and where it came from (training command, seed, dataset fingerprint, metrics); export copies the
latter into the ONNX metadata. No pickled objects: ``torch.load(..., weights_only=True)`` reads it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from addon.runtime.files import atomic_output

from .models import PostpassModel, build

CHECKPOINT_FORMAT = 1
TRAINING_KEYS = ("command", "seed", "dataset_fingerprint", "metrics")


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read; ``str()`` is one line naming the file."""


def save_checkpoint(path: str | os.PathLike, model: PostpassModel, *, name: str, version: str,
                    training: dict) -> Path:
    """Write ``model`` with its config; ``training`` holds command, seed, dataset_fingerprint and metrics."""
    path = Path(path)
    missing = [k for k in TRAINING_KEYS if k not in training]
    if missing:
        raise CheckpointError(f"{path}: training record lacks {', '.join(missing)}")
    config = {"format": CHECKPOINT_FORMAT, "architecture": model.architecture, "params": model.params,
              "name": name, "version": version, "training": {k: training[k] for k in TRAINING_KEYS}}
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
