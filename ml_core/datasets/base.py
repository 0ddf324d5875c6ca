"""What every task's dataset shares: scene discovery, pass reading, seeded per-item randomness."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch.utils.data

from addon.runtime.exr import read_exr

from .. import data, splits, transforms
from ..registry import Registry

#: task name -> its :class:`SceneDataset` subclass (each task's module registers its class)
DATASETS: Registry[type[SceneDataset]] = Registry("task")


@lru_cache(maxsize=8192)
def _read_passes(path: str) -> dict[str, np.ndarray]:
    # Scene files are small (128 px, ~1 MB decoded): caching every file of ~1300 scenes (6 files each for the
    # denoiser's spp ladder; at most ~8.6 GB) keeps epochs from re-decoding ZIP EXRs under random access: at 2048
    # entries a 500-scene run missed a third of its reads (~5 ms each), about a fifth of a denoiser epoch.
    return read_exr(path).passes


class SceneDataset(torch.utils.data.Dataset):
    """Base class: ``crops_per_scene`` items per complete scene of ``split`` under ``root``."""

    #: pass kinds for augmentation (see ``ml_core.transforms``), by sample key
    kinds: dict[str, str] = {}

    def __init__(self, root, split: str, crop: int = 64, crops_per_scene: int = 4, augment: bool = True,
                 seed: int = 0, scenes: int | list | None = None):
        """``scenes`` pins which scenes a run reads, so it stays reproducible while the split grows: N (the first
        N complete ones in seed order) or a list of inclusive seed ranges ``[[first, last], ...]``, each of whose
        seeds must be complete (a folder rendered by jobs on separate seed ranges fills its gaps later, which
        changes what "the first N" means)."""
        splits.split_range(split)  # unknown split -> clear error
        self.root, self.split = Path(root).expanduser(), split
        self.scenes = data.complete_scenes(self.root, split)
        count = scenes if isinstance(scenes, int) else "N"
        build = f"`python -m ml_core.data build --split {split} --count {count}`"
        if not self.scenes:
            raise ValueError(f"{self.root}: no complete scenes in split {split!r} (build them with {build})")
        if isinstance(scenes, int):
            if len(self.scenes) < scenes:
                raise ValueError(f"{self.root}: split {split!r} has {len(self.scenes)} complete scenes, "
                                 f"{scenes} asked (build them with {build})")
            self.scenes = self.scenes[:scenes]
        elif scenes is not None:
            self.scenes = self._seed_ranges(scenes)
        self.crop, self.crops_per_scene, self.augment, self.seed = crop, crops_per_scene, augment, seed
        self.epoch = 0

    def _seed_ranges(self, ranges: list) -> list[Path]:
        if not (isinstance(ranges, list) and ranges and all(
                isinstance(r, list) and len(r) == 2 and all(isinstance(v, int) for v in r) and r[0] <= r[1]
                for r in ranges)):
            raise ValueError(f"scenes: expected N or a list of [first, last] seed ranges, got {ranges!r}")
        by_seed = {int(scene.name): scene for scene in self.scenes}
        wanted = [seed for first, last in ranges for seed in range(first, last + 1)]
        missing = [seed for seed in wanted if seed not in by_seed]
        if missing:
            raise ValueError(f"{self.root}: split {self.split!r} lacks {len(missing)} of the {len(wanted)} scenes "
                             f"asked (first missing seed {missing[0]}; build them with `python -m ml_core.data build "
                             f"--split {self.split} --start {missing[0]} --count N`)")
        return sorted({by_seed[seed] for seed in wanted})

    def fingerprint(self) -> str:
        return data.scenes_fingerprint(self.scenes)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.scenes) * self.crops_per_scene

    def passes(self, scene: Path, name: str) -> dict[str, np.ndarray]:
        return _read_passes(str(scene / name))

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, index: int) -> dict:
        rng = self.rng(index)
        sample, extras = self.load(self.scenes[index // self.crops_per_scene], rng)
        sample = transforms.random_crop(sample, self.crop, rng)
        if self.augment:
            sample = transforms.dihedral(sample, int(rng.integers(8)), self.kinds)
        return transforms.to_tensors({**self.finish(sample, rng), **extras})

    # -- per task ------------------------------------------------------------------------------------------
    def load(self, scene: Path, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
        """Full-frame arrays to crop (dict of HWC) and per-sample scalars that are not cropped."""
        raise NotImplementedError

    def finish(self, sample: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Work on the cropped, augmented arrays (e.g. derive an input from the target)."""
        return sample


class MixedDataset(torch.utils.data.ConcatDataset):
    """Several scene datasets of one task as one (e.g. 3-frame and 5-frame renders from two dataset folders):
    items in order of the parts, ``set_epoch`` passed on, one fingerprint over every part's scenes."""

    def __init__(self, parts: list[SceneDataset]):
        super().__init__(parts)
        self.scenes = [scene for part in parts for scene in part.scenes]

    def fingerprint(self) -> str:
        return data.scenes_fingerprint(self.scenes)

    def set_epoch(self, epoch: int) -> None:
        for part in self.datasets:
            part.set_epoch(epoch)
