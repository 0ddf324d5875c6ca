"""Guide-pass inbetween benchmark (issue 28): frames made between key frames, with and without the made frame's
own guide render, on the test split and the authored animations side by side.

    python -m bench inbetween_guided --out out/bench_guided
    python -m bench inbetween_guided --guide-spp 4 --authored-guides spp0004 --no-hd

Sets: the temporal dataset's test split (``--data``, default ``CACHE/data_temporal``: 5-frame sequences, a
128-spp reference per frame with every pass, ``seq_000K_target.exr``, and 1 / 4 / 16-spp renders of each frame)
and the authored evaluation set's animations (``--authored``, default ``CACHE/authored``: ``anim_*/
frame_000K_reference.exr``; hand-built, never trained on). Key frames are references (rendered in full); the
made frame's guide passes are its guide render: on the split its ``--guide-spp`` render's Denoising Albedo /
Normal / Depth and Vector (the guide render gives the same passes: ``addon/guide_render.py``), on the authored set
``frame_000K_guides.exr`` (``python -m ml_core.authored guides``; ``--authored-guides spp0004`` takes the 4-spp
renders' passes instead). Cases per sequence: key spacing 2 (every other frame rendered: keys K and K + 2, the
frame between at t = 1/2) and spacing 4 (keys 1 and 5, t = 1/4, 1/2, 3/4); the Vector passes span one frame step
and every method gets the spacing (``key_steps``). At spacing 4 the guided model, as ``postpass inbetween
--guides`` runs it, moves each key along the guide renders of the frames between in turn (``key_chains``); the
others scale the vectors they read.

Methods, on the same inputs: the frame blend; OpenCV DIS optical flow; the plain vector-pass warp from both keys
(``ml_core.flow.vector_blend``, the issue's baseline); every Postpass inbetween model of the registry (``--models``)
as ``addon.runtime`` runs it: the vector-guided and image-only ones with the keys' passes they read, the guided
one also with the made frame's guide passes. Scores: tone-mapped PSNR / SSIM against the made frame's reference;
beside them the guided model minus the vector-pass warp per set, and the gap between the sets. Time: seconds
for one 1920x1080 frame (a case resized up, vectors scaled; best of ``--hd-repeats``, methods taking turns).

Writes ``inbetween_guided.json`` / ``.md`` and a crops grid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from addon.guide_render import GUIDE_PASSES
from ml_core import paths
from ml_core.flow import vector_blend
from ml_core.metrics import render_metrics

from . import core
from .core import BENCHMARKS, Benchmark
from .inbetween import dis_inbetween

#: what the benchmark reads of a key frame: Combined and the passes a guide render holds
KEY_PASSES = ("Combined", *GUIDE_PASSES)
#: (key spacing, made frame's offset from the first key): every other frame, and every 4th
CASES = {2: ((1, 3), (2, 4), (3, 5)), 4: ((1, 5),)}
BASELINE = "vector-pass warp"


@dataclass
class Case:
    """Two key frames' passes, the made frame's guide passes and reference, its place between the keys."""
    keys: tuple[dict, dict]
    guides: dict
    target: np.ndarray
    t: float
    steps: int
    name: str
    #: per side, the Vector passes of the guide renders of the frames between the made frame and that key, nearest
    #: first (keys every 4th frame): what ``postpass inbetween --guides`` warps the keys along
    chains: dict = field(default_factory=dict)


@lru_cache(maxsize=64)
def _passes(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``names`` of ``path``, read once per run (a frame is a key of one case, the target of another)."""
    from addon.runtime.exr import read_exr

    image = read_exr(path)
    missing = [n for n in names if n not in image.passes]
    if missing:
        raise ValueError(f"{path}: lacks pass(es) {', '.join(missing)}")
    return {n: image.get(n) for n in names}


def sequence_cases(folder: Path, key_file, guide_file, spacings=(2, 4)) -> list[Case]:
    """Every case of one sequence folder: ``key_file(k)`` / ``guide_file(k)`` name frame k's full render and its
    guide render."""
    cases = []
    for spacing in spacings:
        for first, last in CASES[spacing]:
            keys = (_passes(folder / key_file(first), KEY_PASSES), _passes(folder / key_file(last), KEY_PASSES))
            for made in range(first + 1, last):
                sides = {"prev": range(made - 1, first, -1), "next": range(made + 1, last)}
                chains = {side: [_passes(folder / guide_file(k), GUIDE_PASSES)["Vector"] for k in frames]
                          for side, frames in sides.items() if frames}
                cases.append(Case(keys, _passes(folder / guide_file(made), GUIDE_PASSES),
                                  _passes(folder / key_file(made), KEY_PASSES)["Combined"][..., :3],
                                  (made - first) / spacing, spacing, f"{folder.name} {first}-{made}-{last}", chains))
    return cases


def split_cases(root: Path, split: str, guide_spp: int, count: int | None = None) -> list[Case]:
    from ml_core.render import sequence_name

    folders = core.scenes(root, split, count)
    return [c for f in folders for c in sequence_cases(f, sequence_name, lambda k: sequence_name(k, guide_spp))]


def authored_cases(root: Path, guides: str) -> tuple[list[Case], list[str]]:
    """(cases, notes) of every complete authored animation under ``root``; ``guides``: ``guides`` (the guide
    renders) or ``sppNNNN`` (a low-sample render's passes)."""
    cases, notes = [], []
    for folder in sorted(Path(root).glob("anim_*")):
        key = lambda k: f"frame_{k:04d}_reference.exr"  # noqa: E731
        guide = lambda k: f"frame_{k:04d}_{guides}.exr"  # noqa: E731
        needed = [key(k) for k in range(1, 6)] + [guide(k) for k in range(2, 5)]  # keys 1..5, made frames 2..4
        missing = [name for name in needed if not (folder / name).exists()]
        if missing:
            notes.append(f"{folder.name}: skipped, lacks {missing[0]}"
                         + (" (`python -m ml_core.authored guides`)" if guides == "guides" else ""))
            continue
        cases += sequence_cases(folder, key, guide)
    return cases, notes


def methods(models_dir: Path | None = None, names: list[str] | None = None) -> dict:
    """name -> callable(case) -> the made frame (linear H x W x 3)."""
    from addon.runtime import api

    def model(entry):
        takes = {i.name for i in entry.contract.image_inputs}

        def run(case: Case):
            k0, k1 = case.keys
            given = {"frame0": k0["Combined"][..., :3], "frame1": k1["Combined"][..., :3],
                     "vectors0": k0["Vector"], "vectors1": k1["Vector"],
                     "depth0": k0["Denoising Depth"], "depth1": k1["Denoising Depth"]}
            if "vectors" in takes:  # the guided model: the keys' guides and the made frame's guide render
                given.update(albedo0=k0["Denoising Albedo"], normal0=k0["Denoising Normal"],
                             albedo1=k1["Denoising Albedo"], normal1=k1["Denoising Normal"],
                             albedo=case.guides["Denoising Albedo"], normal=case.guides["Denoising Normal"],
                             depth=case.guides["Denoising Depth"], vectors=case.guides["Vector"])
            inputs = {k: v for k, v in given.items() if k in takes}
            inputs["t"] = case.t
            return api.run("inbetween", inputs, model=entry.name, models_dir=models_dir, key_steps=case.steps,
                           key_chains=case.chains if "vectors" in takes else None).image
        return lambda: run

    makers = {
        "frame blend": lambda: lambda c: (1.0 - c.t) * c.keys[0]["Combined"][..., :3] + c.t * c.keys[1]["Combined"][..., :3],
        "DIS optical flow": lambda: lambda c: dis_inbetween(c.keys[0]["Combined"][..., :3],
                                                             c.keys[1]["Combined"][..., :3], c.t),
        BASELINE: lambda: lambda c: vector_blend(c.keys[0]["Combined"][..., :3], c.keys[0]["Vector"],
                                                 c.keys[1]["Combined"][..., :3], c.keys[1]["Vector"], c.t, c.steps),
    }
    for entry in core.models("inbetween", models_dir, sort=True):
        makers[f"postpass {entry.name}"] = model(entry)
    return core.choose(makers, names)


def _hd_case(case: Case) -> Case:
    import cv2

    h, w = case.target.shape[:2]
    big = lambda a: cv2.resize(a, (1920, 1080), interpolation=cv2.INTER_LINEAR).reshape(1080, 1920, -1)  # noqa: E731
    scale = lambda d: {k: big(v) * (1920 / w if k == "Vector" else 1.0) for k, v in d.items()}  # noqa: E731
    chains = {side: [big(v) * (1920 / w) for v in vectors] for side, vectors in case.chains.items()}
    return Case((scale(case.keys[0]), scale(case.keys[1])), scale(case.guides), big(case.target), case.t,
                case.steps, "1920x1080", chains)


def run(root: Path, split: str = "test", guide_spp: int = 1, count: int | None = None, out: Path | None = None,
        models_dir: Path | None = None, names: list[str] | None = None, hd_repeats: int = core.HD_REPEATS,
        authored: Path | bool | None = None, authored_guides: str = "guides", log=print) -> dict:
    from addon.runtime.color import exposure_scale, tonemap

    sets = {"test split": split_cases(root, split, guide_spp, count)}
    notes = []
    authored_root = core.authored_dir() if authored in (None, True) else authored
    if authored is not False and authored_root and Path(authored_root).exists():
        sets["authored"], notes = authored_cases(Path(authored_root), authored_guides)
    else:
        notes.append("authored set left out (not found)")
    runs = methods(models_dir, names)
    scores, grid = core.Scores(), core.Grid(list(runs) + ["reference"], row_labels=[])
    for set_name, cases in sets.items():
        for i, case in enumerate(cases):
            row, _ = scores.run(runs, lambda _, fn: fn(case), lambda r: render_metrics(r, case.target),
                                (set_name, case.steps), pixels=case.target.shape[0] * case.target.shape[1])
            if case.steps == 2 and len(grid.rows) < 6 and i % 3 == 1:
                s = exposure_scale(case.target)
                grid.rows.append([tonemap(r, s) for r in row] + [tonemap(case.target, s)])
                grid.row_labels.append(f"{set_name}: {case.name}")
    groups = [(s, k) for s in sets for k in CASES if scores.metrics[next(iter(runs)), (s, k)]]
    result = {"task": "inbetween_guided", "guide_spp_split": guide_spp, "authored_guides": authored_guides,
              "notes": notes, "cases": {f"{s} x{k}": len(scores.metrics[next(iter(runs)), (s, k)]) for s, k in groups},
              "metrics": {f"{s} x{k}": {n: scores.mean(n, (s, k), ("psnr", "ssim")) for n in runs} for s, k in groups},
              "seconds_per_megapixel": scores.seconds_per_megapixel(runs)}
    for group, row in result["metrics"].items():
        log(f"{group}: " + ", ".join(f"{n} {v['psnr']:.2f}" for n, v in row.items()))
    if hd_repeats:
        case = _hd_case(sets["test split"][0])
        result["seconds_1920x1080"] = core.best_of({n: lambda fn=fn: fn(case) for n, fn in runs.items()},
                                                   hd_repeats, "1920x1080", log)
    if out:
        core.write_reports(out, "inbetween_guided", result, markdown_table(result),
                           {"inbetween_guided_crops.png": grid}, log)
    return result


def markdown_table(result: dict) -> str:
    groups = list(result["metrics"])
    names = list(next(iter(result["metrics"].values())))
    hd = result.get("seconds_1920x1080", {})
    rows = [[n] + [core.psnr_ssim(result["metrics"][g][n]) for g in groups] + [core.seconds(hd, n)] for n in names]
    table = core.markdown_table(["method"] + [f"{g} ({result['cases'][g]} frames)" for g in groups]
                                + ["s per 1080p frame"], rows)
    lines = []
    for n in names:
        if not n.startswith("postpass") or BASELINE not in names:
            continue
        gains = {g: result["metrics"][g][n]["psnr"] - result["metrics"][g][BASELINE]["psnr"] for g in groups}
        lines.append(f"- {n} - {BASELINE}: " + ", ".join(f"{g} {v:+.2f} dB" for g, v in gains.items()))
        for k in ("x2", "x4"):
            split, authored = gains.get(f"test split {k}"), gains.get(f"authored {k}")
            if split is not None and authored is not None:
                lines[-1] += f"; gap split - authored {k}: {split - authored:.2f} dB"
    notes = "".join(f"\n- {n}" for n in result["notes"])
    return ("Inbetween with guide passes: the made frame from its two key frames (x2: keys two steps apart, t = 1/2; "
            "x4: keys 1 and 5, t = 1/4, 1/2, 3/4), tone-mapped PSNR (dB) / SSIM against its reference; guides on "
            f"the split: the {result['guide_spp_split']}-spp render's passes, authored: {result['authored_guides']}."
            f"\n\n{table}\n\n" + "\n".join(lines) + notes + "\n")


def regression_crops(root: Path, out: Path, split: str = "val", count: int = 4, size: int = 64,
                     guide_spp: int = 4) -> list[Path]:
    """Small fixed guide-pass cases for the shipped-model quality test: the centre ``size`` px of every frame of
    the first ``count`` sequences of ``split``, as half-float multilayer EXRs: ``<seed>_f000K.exr`` (the frame's
    reference with its passes: a key frame, or the target) and ``<seed>_f000K_guides.exr`` (its ``guide_spp``
    render's guide passes)."""
    from addon.runtime.exr import read_exr, write_exr
    from ml_core.render import sequence_name

    written = []
    for scene in core.scenes(root, split, count, exact=True):
        for f in range(1, len(list(scene.glob("seq_*_target.exr"))) + 1):
            for name, source, passes in ((f"{scene.name}_f{f:04d}.exr", sequence_name(f), KEY_PASSES),
                                         (f"{scene.name}_f{f:04d}_guides.exr", sequence_name(f, guide_spp),
                                          GUIDE_PASSES)):
                image = read_exr(scene / source)
                y, x = core.centre(image.size, size)
                path = Path(out) / name
                write_exr(path, {p: np.clip(image.get(p)[y:y + size, x:x + size], -60000, 60000)  # half range
                                 for p in passes}, half=True)
                written.append(path)
    return written


def crop_cases(folder: Path) -> list[Case]:
    """The every-other-frame cases (keys K, K + 2) of the crops :func:`regression_crops` wrote."""
    cases = []
    for first in sorted(Path(folder).glob("*_f0001.exr")):
        seed = first.name[:-len("_f0001.exr")]
        cases += sequence_cases(Path(folder), lambda k: f"{seed}_f{k:04d}.exr", lambda k: f"{seed}_f{k:04d}_guides.exr",
                                spacings=(2,))
    return cases


def score_crops(folder: Path, models_dir: Path | None = None) -> dict[str, float]:
    """Every method's mean tone-mapped PSNR on the crops in ``folder``: the figures ``expected.json`` records."""
    runs, scores = methods(models_dir), core.Scores()
    for case in crop_cases(folder):
        scores.run(runs, lambda _, fn: fn(case), lambda r: render_metrics(r, case.target))
    return {name: round(scores.mean(name, keys=("psnr",))["psnr"], 3) for name in runs}


def options(p) -> None:
    core.add_options(p, data_set=False, authored=True, out=Path("out/bench_guided"))
    p.add_argument("--data", type=Path, default=paths.cache_dir() / "data_temporal",
                   help="temporal dataset folder (default: %(default)s)")
    p.add_argument("--split", default="test", help="split of the dataset (default: %(default)s)")
    p.add_argument("--count", type=int, default=None, help="first N sequences of the split only")
    p.add_argument("--guide-spp", type=int, default=1, help="the split's guide render: its N-spp render's passes")
    p.add_argument("--authored-guides", default="guides", metavar="NAME",
                   help="authored guide files frame_000K_NAME.exr (default: the guide renders, %(default)s; "
                        "spp0004: the 4-spp renders' passes)")


def main(args) -> str:
    return markdown_table(run(args.data, args.split, args.guide_spp, args.count, args.out, args.models,
                              args.methods, core.hd_repeats(args), args.authored, args.authored_guides))


BENCHMARKS.add("inbetween_guided", Benchmark("inbetweeners with the made frame's guide passes (issue 28) on the "
                                             "test split and the authored animations", main, options, __doc__,
                                             crops=regression_crops, score_crops=score_crops))
