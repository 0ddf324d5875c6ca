"""Scene-seed ranges for the train / validation / test splits. They never overlap, so no scene leaks across."""
from __future__ import annotations

SPLITS: dict[str, range] = {
    "train": range(0, 1_000_000),
    "val": range(1_000_000, 1_100_000),
    "test": range(2_000_000, 2_100_000),
    # Longer animations for inbetweening at t other than 1/2 (presets anim4 / anim5): scenes of their own.
    "anim_train": range(3_000_000, 3_100_000),
    "anim_val": range(3_100_000, 3_200_000),
    "anim_test": range(3_200_000, 3_300_000),
    # Natural-palette stills for the colorizer (preset palette): scenes of their own.
    "palette_train": range(4_000_000, 4_100_000),
    "palette_val": range(4_100_000, 4_200_000),
    "palette_test": range(4_200_000, 4_300_000),
}


class SplitError(ValueError):
    pass


def split_range(split: str) -> range:
    try:
        return SPLITS[split]
    except KeyError:
        raise SplitError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}") from None


def split_seeds(split: str, count: int, start: int = 0) -> list[int]:
    """The first ``count`` scene seeds of ``split`` from offset ``start`` (the same list on every machine)."""
    if count < 0:
        raise SplitError(f"count must be >= 0, got {count}")
    if start < 0:
        raise SplitError(f"start must be >= 0, got {start}")
    seeds = split_range(split)
    if start + count > len(seeds):
        raise SplitError(f"split {split!r} holds {len(seeds)} seeds; asked for {start}..{start + count}")
    return list(seeds[start:start + count])


def split_of(seed: int) -> str:
    for name, seeds in SPLITS.items():
        if seed in seeds:
            return name
    raise SplitError(f"seed {seed} lies in no split")
