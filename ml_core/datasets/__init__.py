"""Torch datasets over the render cache, one per task, by name: ``make_dataset("denoise", root, "train")``.

Every dataset reads scene folders written by ``ml_core.data build`` (see ``ml_core.render`` for the files),
takes random crops and one of the 8 square symmetries (normals and vectors transformed with the pixels), and
returns a dict of CHW float32 tensors. Randomness comes from (seed, epoch, index), so an epoch is reproducible
and ``set_epoch`` gives the next one new crops.

Each task's module registers its class in :data:`DATASETS` under the task name, and every module of this
package is imported here (``import_submodules``), so a new task is a new file.
"""
from __future__ import annotations

from ..registry import import_submodules
from .base import DATASETS, MixedDataset, SceneDataset

import_submodules(__name__)

from .colorize import ColorizeDataset  # noqa: E402  (re-exported names of the first four tasks)
from .denoise import DenoiseDataset  # noqa: E402
from .inbetween import InbetweenDataset  # noqa: E402
from .upres import UpresDataset  # noqa: E402


def make_dataset(task: str, root, split: str, **options) -> SceneDataset:
    """The ``task``'s dataset over ``root``/``split``; an unknown task raises ``UnknownName`` (a ValueError)."""
    return DATASETS.get(task)(root, split, **options)


__all__ = ["DATASETS", "make_dataset", "MixedDataset", "SceneDataset", "DenoiseDataset", "UpresDataset", "ColorizeDataset",
           "InbetweenDataset"]
