"""The benchmark skeleton, once for every benchmark.

- **Methods**: name -> callable, made only once chosen (:func:`choose`): a maker per name, so a run without
  Blender's OIDN peers never sets up Blender. :func:`models` lists the registry's fp32 models of a task.
- **Scores**: :class:`Scores` runs every method on one input, times it, scores it and keeps the metric dicts per
  (method, group) (a group: an spp level, a scale, a hint count, a t) with seconds per megapixel per method.
- **1920x1080 timing**: :func:`best_of`, the best of N passes (default 3) with the methods taking turns (one
  pass of every method, then the next round), in every benchmark. One pass each right after Blender's peers
  measured pyoidn up to 1.9x slow, as the machine's clocks and caches settle. (Until the benchmarks shared this
  skeleton, the up-res and inbetween 1080p figures were one pass of each method; denoise's were best of 3.)
- **Reports**: :func:`write_reports` writes NAME.json, NAME.md and the crops grids (PNG) of one result;
  :func:`markdown_table` is the table every report prints.
- **Command line**: :class:`Benchmark` is one ``python -m bench NAME`` entry, registered by name in
  :data:`BENCHMARKS` by the module that defines it (``bench/*.py`` are imported, so a new module needs no list);
  :func:`add_options` adds the options benchmarks share; exit codes :data:`OK` and :data:`ERROR`.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

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

    def mean(self, name: str, group: Any = None, keys: Iterable[str] | None = None) -> dict[str, float]:
        """The mean of each metric (``keys``; default all) of ``name`` over the inputs of ``group``."""
        found = self.metrics[name, group]
        return {k: float(np.mean([m[k] for m in found])) for k in (keys or found[0])}

    def each(self, name: str, group: Any, key: str) -> list[float]:
        """``key`` of ``name`` per input of ``group``, in input order."""
        return [m[key] for m in self.metrics[name, group]]

    def seconds_per_megapixel(self, names: Iterable[str]) -> dict[str, float]:
        return {n: self.seconds[n] / max(self.pixels[n] / 1e6, 1e-12) for n in names}


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
    written[0].write_text(json.dumps(result, indent=1) + "\n")
    written[1].write_text(markdown)
    for filename, grid in (grids or {}).items():
        written.append(image_grid(grid.rows, grid.labels, out / filename, cell=grid.cell,
                                  row_labels=grid.row_labels, captions=grid.captions))
    log("wrote " + ", ".join(str(p) for p in written))
    return written


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
                methods: bool = True, hd: bool = True, count: int | None = None,
                out: Path | None = Path("out/bench"), out_help: str = "output folder (default: %(default)s)"
                ) -> argparse.ArgumentParser:
    """The options benchmarks share: ``--data --split --count`` (with ``data_set``), ``--models``, ``--methods``,
    ``--no-hd --hd-repeats`` (with ``hd``) and ``--out``."""
    if data_set:
        p.add_argument("--data", type=Path, default=paths.cache_dir() / "data",
                       help="dataset folder (default: %(default)s)")
        p.add_argument("--split", default="test", help="split of the dataset (default: %(default)s)")
        p.add_argument("--count", type=int, default=count,
                       help="first N scenes only" if count is None else "first N scenes (default: %(default)s)")
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
