"""Torch datasets over the render cache, one per task, by name: ``make_dataset("denoise", root, "train")``.

Every dataset reads scene folders written by ``ml_core.data build`` (see ``ml_core.render`` for the files),
takes random crops and one of the 8 square symmetries (normals and vectors transformed with the pixels), and
returns a dict of CHW float32 tensors. Randomness comes from (seed, epoch, index), so an epoch is reproducible
and ``set_epoch`` gives the next one new crops.
"""
from __future__ import annotations

from .base import MixedDataset, SceneDataset
from .colorize import ColorizeDataset
from .denoise import DenoiseDataset
from .inbetween import InbetweenDataset
from .upres import UpresDataset

DATASETS: dict[str, type[SceneDataset]] = {
    "denoise": DenoiseDataset,
    "upres": UpresDataset,
    "colorize": ColorizeDataset,
    "inbetween": InbetweenDataset,
}


def make_dataset(task: str, root, split: str, **options) -> SceneDataset:
    try:
        cls = DATASETS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(DATASETS)}") from None
    return cls(root, split, **options)


__all__ = ["DATASETS", "make_dataset", "MixedDataset", "SceneDataset", "DenoiseDataset", "UpresDataset", "ColorizeDataset",
           "InbetweenDataset"]
