"""The benchmark skeleton, once for every benchmark.

- **Methods**: name -> callable, made only once chosen (:func:`choose`): a maker per name, so a run without
  Blender's OIDN peers never sets up Blender. :func:`models` lists the registry's fp32 models of a task.
- **Scene sets**: :class:`SceneSet`, a set of scenes scored with the same methods, each scene with its reference
  file and its family: the dataset's test split (:func:`split_set`) and the authored evaluation set, hand-built
  scenes never trained on (:func:`authored_set`, ``python -m ml_core.authored build``; :func:`authored_from`
  for the ``--authored`` option). A benchmark runs its loop once per set, with the set's name in the group, and
  reports the sets side by side (:func:`differences`: ours - a peer per set and the gap between the sets) and
  per family (:meth:`Scores.breakdown`, :func:`breakdown_table`).
- **Scores**: :class:`Scores` runs every method on one input, times it, scores it and keeps the metric dicts per
  (method, group) (a group: an spp level, a scale, a hint count, a t; with sets, (set name, level)) with
  seconds per megapixel per method.
- **1920x1080 timing**: :func:`best_of`, the best of N passes (default 3) with the methods taking turns (one
  pass of every method, then the next round), in every benchmark. One pass each right after Blender's peers
  measured pyoidn up to 1.9x slow, as the machine's clocks and caches settle. (Until the benchmarks shared this
  skeleton, the up-res and inbetween 1080p figures were one pass of each method; denoise's were best of 3.)
- **Reports**: :func:`write_reports` writes NAME.json (NaN as null), NAME.md and the crops grids (PNG) of one result;
  :func:`markdown_table` is the table every report prints.
- **Command line**: :class:`Benchmark` is one ``python -m bench NAME`` entry, registered by name in
  :data:`BENCHMARKS` by the module that defines it (``bench/*.py`` are imported, so a new module needs no list);
  :func:`add_options` adds the options benchmarks share; exit codes :data:`OK` and :data:`ERROR`.
"""
from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ml_core import data, paths
from ml_core.registry import Registry

#: ``python -m bench`` exit codes: done; bad options or inputs (argparse's own code for bad options).
OK, ERROR = 0, 2
#: The 1920x1080 timing keeps the best of this many passes unless ``--hd-repeats`` says otherwise.
HD_REPEATS = 3


# ----------------------------------------------------------------------------------------------------------
# Methods
# ----------------------------------------------------------------------------------------------------------
def choose(makers: dict[str, Callable[[], Any]], names: Iterable[str] | None = None) -> dict[str, Any]:
    """The methods ``names`` (every one without), made now, in ``makers``' order.

    ``makers``: name -> a function of no arguments that makes the method; only the chosen ones are called. An
    unknown name raises ValueError naming the choices."""
    names = None if names is None else set(names)
    check_names(makers, names)
    return {name: make() for name, make in makers.items() if names is None or name in names}


def check_names(known: Iterable[str], names: Iterable[str] | None) -> None:
    """ValueError naming the choices when ``names`` (None: all) holds a method not in ``known``."""
    unknown = set(names or ()) - set(known)
    if unknown:
        raise ValueError(f"unknown or unavailable methods {sorted(unknown)}; have {sorted(set(known))}")


def models(task: str, models_dir: Path | None = None, sort: bool = False) -> list:
    """The model registry's fp32 entries of ``task`` (``models_dir``; default the shipped models), in the
    registry's order or, with ``sort``, by name."""
    from addon.runtime.registry import Registry as ModelRegistry

    entries = [entry for entry in ModelRegistry(models_dir).entries.values()
               if entry.contract.task == task and entry.precision == "fp32"]
    return sorted(entries, key=lambda e: e.name) if sort else entries


def scenes(root: Path, split: str, count: int | None = None, exact: bool = False) -> list[Path]:
    """The first ``count`` complete scenes of ``split`` (every one without); ValueError when there are none, or
    with ``exact`` fewer than ``count``."""
    found = data.complete_scenes(Path(root).expanduser(), split)[:count]
    if exact and len(found) < (count or 0):
        raise ValueError(f"{root}: split {split!r} has {len(found)} complete scenes, {count} asked")
    if not found:
        raise ValueError(f"{root}: no complete scenes in split {split!r}")
    return found


def centre(shape: tuple[int, ...], size: int, grid: int = 1) -> tuple[int, int]:
    """Top-left (y, x) of the centre ``size`` x ``size`` crop of an image of ``shape``, on a ``grid`` px grid."""
    return (shape[0] - size) // 2 // grid * grid, (shape[1] - size) // 2 // grid * grid


# ----------------------------------------------------------------------------------------------------------
# Scene sets: the test split and the authored set, scored the same way
# ----------------------------------------------------------------------------------------------------------
#: a scene whose ``scene.json`` names no family (the procedural scenes before families)
DEFAULT_FAMILY = "classic"
#: a scene folder is complete once this file is there (the dataset's and the authored set's convention)
MANIFEST = "manifest.json"


@dataclass
class SceneSet:
    """A set of scenes every method of a benchmark is scored on the same way.

    ``name``: the set's label in tables and JSON (the split's name, "authored"); ``scenes``: the scene folders;
    ``reference``: the file name of a scene's reference (the dataset's ``target.exr``, the authored set's
    ``reference.exr``); ``families``: each scene's family, in scene order (``scene.json``'s "family",
    :data:`DEFAULT_FAMILY` without); ``named_families``: whether any scene names one (the per-family table of
    a set without is one row); ``skipped``: the complete scenes left out, with why."""
    name: str
    root: Path
    scenes: list[Path]
    reference: str = "target.exr"
    families: list[str] = field(default_factory=list)
    named_families: bool = False
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.families:
            found = [scene_family(scene) for scene in self.scenes]
            self.families = [family for family, _ in found]
            self.named_families = any(named for _, named in found)

    def reference_path(self, scene: Path) -> Path:
        return Path(scene) / self.reference

    def family_counts(self) -> dict[str, int]:
        """Scenes per family, families in first-seen order."""
        counts: dict[str, int] = {}
        for family in self.families:
            counts[family] = counts.get(family, 0) + 1
        return counts

    def describe(self) -> dict:
        """The set for a report's JSON: root, scene names, families, counts and skipped scenes."""
        return {"root": str(self.root), "scenes": len(self.scenes), "scene_names": [s.name for s in self.scenes],
                "reference": self.reference, "families": self.families, "named_families": self.named_families,
                "family_counts": self.family_counts(), "skipped": self.skipped}


def scene_family(scene: Path) -> tuple[str, bool]:
    """(family, whether ``scene.json`` names it) of a scene folder; :data:`DEFAULT_FAMILY` without one."""
    try:
        family = json.loads((Path(scene) / "scene.json").read_text()).get("family")
    except (OSError, ValueError, AttributeError):
        family = None
    return (str(family), True) if family else (DEFAULT_FAMILY, False)


def split_set(root: Path, split: str = "test", count: int | None = None) -> SceneSet:
    """The first ``count`` complete scenes of the dataset's ``split`` (:func:`scenes`) as a set named by the
    split, scored against ``target.exr``."""
    return SceneSet(split, Path(root).expanduser(), scenes(root, split, count), "target.exr")


def complete_folders(root: Path) -> list[Path]:
    """The complete scene folders under ``root`` (any depth: a folder holding :data:`MANIFEST`, not inside
    another such folder, whose own subfolders, animation frames say, are its parts), sorted by path. Hidden
    folders are skipped: a scene renders into ``.<name>.partial-<host>-<pid>`` and is renamed when complete
    (``ml_core.render.scene_folder``), so one killed between its manifest and the rename is not a scene."""
    found = sorted(p.parent for p in Path(root).rglob(MANIFEST)
                   if not any(part.startswith(".") for part in p.parent.relative_to(root).parts))
    kept: list[Path] = []
    for folder in found:  # sorted: a folder comes before the folders inside it
        if not any(folder.is_relative_to(k) for k in kept):
            kept.append(folder)
    return kept


def authored_dir() -> Path:
    """Where ``python -m ml_core.authored build`` puts the authored set by default: ``CACHE/authored``."""
    return paths.cache_dir() / "authored"


def authored_set(root: Path, need: Iterable[str] = (), reference: str = "reference.exr",
                 count: int | None = None, name: str = "authored") -> SceneSet:
    """The authored evaluation set under ``root``: its complete scenes (a :data:`MANIFEST`) that hold
    ``reference`` and every file of ``need`` (a task's still inputs, e.g. ``noisy_spp0004.exr``), the first
    ``count``; the others are listed in ``skipped`` (an animated scene without still files, say). ValueError
    when ``root`` is not a folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ValueError(f"{root}: no authored set there (build it: python -m ml_core.authored build --out {root})")
    kept, skipped = [], []
    for folder in complete_folders(root):
        missing = [f for f in (reference, *need) if not (folder / f).is_file()]
        if missing:
            skipped.append(f"{folder.relative_to(root)}: no {', '.join(missing)}")
        else:
            kept.append(folder)
    return SceneSet(name, root, kept[:count], reference, skipped=skipped)


def authored_from(option: Path | bool | None, need: Iterable[str] = (), log=print) -> tuple[SceneSet | None, str]:
    """The authored set of an ``--authored`` option and a one-line note on it: ``None`` (not given) reads
    :func:`authored_dir` when it exists and leaves the set out with a note when not; ``False``
    (``--no-authored``) leaves it out; a folder must hold a set (ValueError). A set with no usable scene is
    left out with a note too."""
    if option is False:
        return None, "authored set: left out (--no-authored)"
    root = authored_dir() if option in (None, True) else Path(option).expanduser()
    if option in (None, True) and not root.is_dir():
        return None, (f"authored set: none at {root} (build it: python -m ml_core.authored build --out {root}); "
                      "test split only")
    found = authored_set(root, need)
    for line in found.skipped:
        log(f"authored set: skipped {line}")
    if not found.scenes:
        return None, f"authored set: no complete scene with {', '.join(need) or 'a reference'} under {root}"
    note = f"authored set: {len(found.scenes)} scenes under {root}"
    return found, note + (f" ({len(found.skipped)} skipped)" if found.skipped else "")


def differences(metrics: dict[str, dict[str, dict[str, dict[str, float]]]], ours: Iterable[str], peer: str,
                levels: Iterable[Any], key: str = "psnr") -> dict[str, dict[str, dict[str, float]]]:
    """``key`` of each of ``ours`` minus ``peer``'s, per level and set, and the gap between the sets.

    ``metrics``: set name -> method -> str(level) -> metric means (the first set is the baseline). Returns
    method -> str(level) -> {set name: difference, ..., "gap": last set's minus the first's} (no "gap" with
    one set; methods or sets without ``peer`` are left out, and so is a level a method was not run at, e.g. an
    up-res model of the other scale)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    names = [n for n, by_method in metrics.items() if peer in by_method]
    for method in ours:
        rows = {}
        for level in levels:
            row = {n: metrics[n][method][str(level)][key] - metrics[n][peer][str(level)][key]
                   for n in names if str(level) in metrics[n].get(method, {})}
            if len(row) > 1:
                row["gap"] = row[names[-1]] - row[names[0]]
            rows[str(level)] = row
        if names:
            out[method] = rows
    return out


def breakdown_table(counts: dict[str, int], methods: Iterable[str], fmt: Callable[[str, str], str]) -> str:
    """A per-family Markdown table of one set: a row per family of ``counts`` (family -> scenes:
    :meth:`SceneSet.family_counts`) with its scene count, a column per method; ``fmt(method, family)`` makes a
    cell (from :meth:`Scores.breakdown`'s means)."""
    methods = list(methods)
    return markdown_table(["family", "scenes"] + methods,
                          [[family, str(n)] + [fmt(method, family) for method in methods]
                           for family, n in counts.items()])


# ----------------------------------------------------------------------------------------------------------
# Scores and timing
# ----------------------------------------------------------------------------------------------------------
class Scores:
    """Metric dicts per (method, group) and seconds and pixels per method, filled one input at a time."""

    def __init__(self):
        self.metrics: dict[tuple[str, Any], list[dict]] = defaultdict(list)
        self.seconds: dict[str, float] = defaultdict(float)
        self.pixels: dict[str, int] = defaultdict(int)

    def run(self, methods: dict[str, Any], call: Callable[[str, Any], Any], score: Callable[[Any], dict],
            group: Any = None, pixels: int = 0) -> tuple[list, list[dict]]:
        """Every method on one input: ``call(name, method)`` makes the result (timed; ``pixels`` output pixels
        count towards seconds per megapixel), ``score(result)`` its metric dict, kept under (name, ``group``).
        Returns the results and their metric dicts, in method order."""
        results, metrics = [], []
        for name, method in methods.items():
            start = time.perf_counter()
            result = call(name, method)
            self.seconds[name] += time.perf_counter() - start
            self.pixels[name] += pixels
            self.metrics[name, group].append(score(result))
            results.append(result)
            metrics.append(self.metrics[name, group][-1])
        return results, metrics

    def mean(self, name: str, group: Any = None, keys: Iterable[str] | None = None,
             skip_nan: Iterable[str] = ()) -> dict[str, float]:
        """The mean of each metric (``keys``; default all) of ``name`` over the inputs of ``group``; the keys of
        ``skip_nan`` leave out the inputs where they are NaN (not measured there; NaN when none is)."""
        found, skip = self.metrics[name, group], set(skip_nan)
        return {k: _nanmean([m[k] for m in found]) if k in skip else float(np.mean([m[k] for m in found]))
                for k in (keys or found[0])}

    def breakdown(self, name: str, group: Any, key: str, labels: Sequence[str]) -> dict[str, float]:
        """The mean of ``key`` of ``name`` over the inputs of ``group`` per label (``labels``: one per input,
        in input order, e.g. the scenes' families), labels in first-seen order; NaN values left out."""
        values = self.each(name, group, key)
        if len(values) != len(labels):
            raise ValueError(f"{name} {group}: {len(values)} inputs, {len(labels)} labels")
        return {label: _nanmean([v for v, l in zip(values, labels) if l == label]) for label in dict.fromkeys(labels)}

    def each(self, name: str, group: Any, key: str) -> list[float]:
        """``key`` of ``name`` per input of ``group``, in input order."""
        return [m[key] for m in self.metrics[name, group]]

    def seconds_per_megapixel(self, names: Iterable[str]) -> dict[str, float]:
        return {n: self.seconds[n] / max(self.pixels[n] / 1e6, 1e-12) for n in names}


def _nanmean(values: Sequence[float]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all NaN: NaN, no warning
        return float(np.nanmean(np.asarray(values, np.float64))) if len(values) else float("nan")


def best_of(calls: dict[str, Callable[[], Any]], repeats: int = HD_REPEATS, what: str = "1920x1080",
            log=print) -> dict[str, float]:
    """Best-of-``repeats`` seconds of each call (one frame of ``what``), the calls taking turns: every method
    once, then again, so none is measured only while the machine settles after another."""
    timings: dict[str, float] = {}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            timings[name] = min(timings.get(name, float("inf")), time.perf_counter() - start)
    for name, seconds in timings.items():
        log(f"{what} {name}: {seconds:.2f} s (best of {repeats})")
    return timings


# ----------------------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Grid:
    """A crops grid: rows of display-ready images in [0, 1] under column ``labels`` (``ml_core.figures``)."""
    labels: list[str]
    rows: list[list[np.ndarray]] = field(default_factory=list)
    row_labels: list[str] | None = None
    captions: list[list[str]] | None = None
    cell: int = 160


def write_reports(out: Path, name: str, result: dict, markdown: str, grids: dict[str, Grid] | None = None,
                  log=print) -> list[Path]:
    """Write ``out``/NAME.json (``result``), NAME.md (``markdown``) and each grid under its file name."""
    from ml_core.figures import image_grid

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{name}.json", out / f"{name}.md"]
    written[0].write_text(json.dumps(_null_nan(result), indent=1) + "\n")
    written[1].write_text(markdown)
    for filename, grid in (grids or {}).items():
        written.append(image_grid(grid.rows, grid.labels, out / filename, cell=grid.cell,
                                  row_labels=grid.row_labels, captions=grid.captions))
    log("wrote " + ", ".join(str(p) for p in written))
    return written


def _null_nan(value: Any) -> Any:
    """``value`` with every float NaN as None (JSON null: strict readers reject NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _null_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_null_nan(v) for v in value]
    return value


def markdown_table(header: list[str], rows: Iterable[list[str]]) -> str:
    """A Markdown table: the ``header`` cells, then one line per row of formatted cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def psnr_ssim(m: dict) -> str:
    """A cell: PSNR (dB) / SSIM."""
    return f"{m['psnr']:.2f} / {m['ssim']:.4f}"


def seconds(timings: dict[str, float], name: str) -> str:
    """A cell: ``name``'s seconds, or - when it was not timed."""
    return f"{timings[name]:.2f}" if name in timings else "-"


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Benchmark:
    """One ``python -m bench NAME`` entry.

    ``main`` runs it from the parsed options and returns the text to print (its table); a ValueError or OSError
    it raises becomes one error line and exit code :data:`ERROR`. ``options`` adds its options to its parser
    (:func:`add_options` for the shared ones). ``crops`` / ``score_crops``: the task's fixed regression crops
    for ``tests/data/TASK`` (``python -m bench crops --task TASK``) and every method's scores on them."""
    help: str
    main: Callable[[argparse.Namespace], str]
    options: Callable[[argparse.ArgumentParser], None]
    description: str = ""
    crops: Callable[..., list[Path]] | None = None
    score_crops: Callable[[Path, Path | None], dict] | None = None


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")


def add_options(p: argparse.ArgumentParser, *, data_set: bool = True, models_dir: bool = True,
                methods: bool = True, hd: bool = True, count: int | None = None, authored: bool = False,
                out: Path | None = Path("out/bench"), out_help: str = "output folder (default: %(default)s)"
                ) -> argparse.ArgumentParser:
    """The options benchmarks share: ``--data --split --count`` (with ``data_set``), ``--authored
    --no-authored`` (with ``authored``; :func:`authored_from` reads them), ``--models``, ``--methods``,
    ``--no-hd --hd-repeats`` (with ``hd``) and ``--out``."""
    if data_set:
        p.add_argument("--data", type=Path, default=paths.cache_dir() / "data",
                       help="dataset folder (default: %(default)s)")
        p.add_argument("--split", default="test", help="split of the dataset (default: %(default)s)")
        p.add_argument("--count", type=int, default=count,
                       help="first N scenes only" if count is None else "first N scenes (default: %(default)s)")
    if authored:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--authored", type=Path, default=None, metavar="DIR",
                           help="the authored evaluation set, scored beside the split (default: "
                                f"{authored_dir()} when it exists, else left out with a note)")
        group.add_argument("--no-authored", dest="authored", action="store_false",
                           help="leave the authored set out")
    if models_dir:
        p.add_argument("--models", type=Path, default=None, help="model registry folder (default: shipped models)")
    if methods:
        p.add_argument("--methods", nargs="+", default=None, help="only these methods (names as in the table)")
    if hd:
        p.add_argument("--no-hd", action="store_true", help="skip the 1920x1080 timing")
        p.add_argument("--hd-repeats", type=int, default=HD_REPEATS, metavar="N",
                       help="1920x1080 timing: best of N passes, the methods taking turns (default: %(default)s)")
    p.add_argument("--out", type=Path, default=out, help=out_help)
    return p


def hd_repeats(args: argparse.Namespace) -> int:
    """The 1920x1080 timing's passes from the options: 0 (no timing) with --no-hd."""
    return 0 if args.no_hd else args.hd_repeats
