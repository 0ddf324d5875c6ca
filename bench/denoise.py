"""Denoise benchmark: every denoiser on the test split and on the authored set at several spp, side by side,
JSON + Markdown + crops grids.

    python -m bench denoise --data ~/.cache/postpass/data --split test --spp 1 4 16 --out out/bench
    python -m bench denoise --authored ~/.cache/postpass/authored ...   # the default when that folder exists

Methods: the noisy input, OpenCV non-local means, Blender's built-in OIDN through the compositor (albedo +
normal; Accurate prefilter + High quality, and Fast + Fast), OIDN through ``pyoidn`` (High) when it is
installed, and every Postpass denoise model in the registry (``--models DIR``; default the shipped ones; a
correction of Blender's denoised render, e.g. a shot's ``denoise_oidn_residual_shot``, is given Blender's
result on the same inputs, and its seconds include that OIDN pass).

Sets: the dataset's test split (``--data --split --count``; scored against ``target.exr``; left out with a note
where it is not on this machine, the authored set then scored alone) and the authored
evaluation set, hand-built scenes never trained on (``--authored DIR``, default ``CACHE/authored`` when it
exists, ``--no-authored``; scored against ``reference.exr``; scenes without the still ``noisy_spp*.exr`` files
are skipped), the same methods on both in one run (``bench.core.SceneSet``).

Inputs (``--inputs``, default ``full``): which of the render's passes every method is given, the same for all
(issue 25: "given the same inputs"). ``full``: colour, albedo and normal; ``color``: colour alone (a render
without Denoising Data); ``color+albedo``; ``ldr``: the noisy render and the reference saved as artists save
them (``addon.runtime.color.display_8bit``: exposure-normalised at the reference's exposure, clipped,
sRGB-encoded, 8 bits), every method given the 8-bit image's linear values (OIDN with HDR off) and scored in
display space (PSNR / SSIM of the 8-bit sRGB results). Our entry in each is every registry model that takes
exactly those inputs, through the API (``source_range="ldr"`` for ``ldr``: the sRGB model ``denoise_kpn_ldr``,
and beside it the colour-only HDR model on the decoded values, clipped; sRGB models only in ``ldr``). ``full`` reads as it always did; each other set gets a
table per spp, ours - pyoidn (high) per set, and a crops grid (``denoise_crops_<set>*.png``).

Metrics follow the protocol in ``ml_core.metrics``: tone-mapped PSNR / SSIM and linear relMSE against the
reference, per spp; beside them mean HDR-FLIP (``bench.metrics.hdr_flip``, lower is better) and the
periodicity of the residual on the reference's flat regions (``bench.metrics.periodicity``: a regular grid
stands out in dB, white noise stays a few dB); seconds per megapixel on this machine; and one 1920x1080
frame's seconds (best of 3, methods taking turns: ``bench.core.best_of``). The report: a table per spp with
both sets, ours - Blender's OIDN (accurate, high) on each set and the gap between the sets, a per-family table
at 4 spp (the authored set; the split too once its scenes name families), and per set a crops grid plus a
1:1 grid of the flattest and the dimmest 64 px regions (``denoise_flat_crops*.png``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml_core.metrics import render_metrics

from . import core, peers
from . import metrics as bench_metrics
from .core import BENCHMARKS, Benchmark

KEYS = ("psnr", "ssim", "relmse", "flip", "periodicity")
#: per-scene lists kept in the JSON, per set, method and spp
PER_SCENE = ("psnr", "relmse", "flip", "periodicity", "period")
#: the peer "ours" is measured against, per set
PEER = "blender-oidn (accurate, high)"
#: scenes in a set's crops grids (the first ones): the split's, the authored set's (each scene a case of its
#: own); the flat/dim grid's region size (1:1, px)
GRID_SCENES, AUTHORED_GRID_SCENES, REGION = 4, 16, 64


@dataclass(frozen=True)
class InputSet:
    """What every method is given: the guide passes besides colour, and whether the colour is an 8-bit image."""
    guides: tuple[str, ...]
    ldr: bool
    label: str


#: ``--inputs`` choices, in report order.
INPUT_SETS = {
    "full": InputSet(("albedo", "normal"), False, "colour, albedo and normal"),
    "color": InputSet((), False, "colour only (a render without Denoising Data)"),
    "color+albedo": InputSet(("albedo",), False, "colour and albedo"),
    "ldr": InputSet((), True, "an 8-bit sRGB image of the render (display_8bit), scored in display space"),
}
#: the peer each input set's "ours - peer" table reads beside the full set's Blender one (issue 25's target)
PYOIDN = "pyoidn (high)"
#: metrics of the ldr set: display-space PSNR / SSIM of the 8-bit sRGB results
LDR_KEYS = ("psnr", "ssim")


def _fits(entry, given: set[str]) -> bool:
    """A model that takes exactly ``given`` (it needs none missing and takes each one)."""
    takes = {i.name for i in entry.contract.inputs}
    return set(entry.contract.required) <= given <= takes


def denoise_methods(models_dir: Path | None = None, names: list[str] | None = None, inputs: str = "full") -> dict:
    """name -> callable(color, albedo, normal) -> colour, for every method available here (or those ``names``),
    given the inputs of ``inputs`` (an :data:`INPUT_SETS` key; albedo and normal are None where it leaves them
    out). Ours: every registry model that takes exactly those inputs, through the API.

    Methods are made only once chosen: Blender's OIDN peers set up Blender, which a run without them skips.
    """
    return core.choose(_method_makers(models_dir, inputs), names)


def _method_makers(models_dir: Path | None, inputs: str) -> dict:
    from addon.runtime import api

    spec = INPUT_SETS[inputs]
    hdr = not spec.ldr
    makers = {"noisy": lambda: lambda c, a, n: c, "opencv-nlm": lambda: peers.opencv_nlm,
              "blender-oidn (accurate, high)": lambda: peers.BlenderOIDN("Accurate", "High", hdr=hdr),
              "blender-oidn (fast, fast)": lambda: peers.BlenderOIDN("Fast", "Fast", hdr=hdr)}
    if peers.pyoidn_available():
        makers[PYOIDN] = (lambda: peers.pyoidn_denoise) if hdr else (
            lambda: lambda c, a, n: peers.pyoidn_denoise(c, a, n, hdr=False))
    source_range = "ldr" if spec.ldr else None
    given = {"color", *spec.guides}
    for entry in core.models("denoise", models_dir):
        display = entry.contract.image_inputs[0].color_space == "srgb"
        if _fits(entry, given) and (spec.ldr or not display):  # an 8-bit image model never sees a render
            makers[f"postpass {entry.name}"] = lambda _name=entry.name: (
                lambda c, a, n: api.denoise(c, albedo=a, normal=n, model=_name, models_dir=models_dir,
                                            source_range=source_range))
        elif hdr and _fits(entry, given | {"blender_denoised"}):
            # a correction of Blender's denoised render: given Blender's result on the same inputs, as a render
            # with Cycles' Denoise holds it (its seconds include that OIDN pass)
            makers[f"postpass {entry.name}"] = lambda _name=entry.name: _corrector(_name, models_dir)
    return makers


def _corrector(name: str, models_dir: Path | None):
    from addon.runtime import api

    oidn = peers.BlenderOIDN("Accurate", "High")
    return lambda c, a, n: api.denoise(c, albedo=a, normal=n, blender_denoised=oidn(c, a, n), model=name,
                                       models_dir=models_dir)


def score(result: np.ndarray, reference: np.ndarray, scale: float, reference_tm: np.ndarray,
          corners: np.ndarray) -> dict[str, float]:
    """Every metric of one output: the protocol's PSNR / SSIM / relMSE, HDR-FLIP and the flat-region
    periodicity (``corners``: the reference's flat windows; ``reference_tm``: it tone-mapped at ``scale``)."""
    from addon.runtime.color import tonemap

    metrics = render_metrics(result, reference)
    metrics["flip"] = bench_metrics.hdr_flip(result, reference)
    metrics.update(bench_metrics.periodicity(tonemap(result, scale) - reference_tm, corners))
    return metrics


def flat_crop_rows(grid: core.Grid, scene: Path, regions: dict[str, list[tuple[int, int]]], outputs: list,
                   reference: np.ndarray, size: int = REGION) -> None:
    """Add a row per region to a 1:1 grid: a label tile, then each output's and the reference's crop, all
    tone-mapped at the reference crop's own exposure (a dim region shows), each on a tile as wide as the grid's
    cell (no resampling), the crop's periodicity as its caption."""
    from addon.runtime.color import exposure_scale, tonemap

    for kind, corners in regions.items():
        for y, x in corners:
            h, w = min(size, reference.shape[0] - y), min(size, reference.shape[1] - x)
            ref = reference[y:y + h, x:x + w]
            scale = exposure_scale(ref)
            ref_tm = tonemap(ref, scale)
            windows = bench_metrics.flat_windows(ref_tm, min(bench_metrics.WINDOW, h, w), threshold=np.inf)
            tiles, captions = [_tile(np.full((h, w, 3), 0.5, np.float32), grid.cell)], [scene.name[:14]]
            for out in outputs:
                crop = tonemap(out[y:y + h, x:x + w], scale)
                tiles.append(_tile(crop, grid.cell))
                p = bench_metrics.periodicity(crop - ref_tm, windows, min(bench_metrics.WINDOW, h, w))
                captions.append(f"{p['periodicity']:.1f} dB")
            tiles.append(_tile(ref_tm, grid.cell))
            captions.append("")
            grid.rows.append(tiles)
            grid.captions.append(captions)
            grid.row_labels.append(f"{kind} {y},{x}")


def _tile(crop: np.ndarray, cell: int) -> np.ndarray:
    """``crop`` on the right of a mid-grey tile ``cell`` px wide (``ml_core.figures.image_grid`` resizes each
    tile to the cell's width: a tile that wide keeps the crop 1:1); the caption goes on the grey."""
    h, w = crop.shape[:2]
    tile = np.full((h, max(cell, w), 3), 0.5, np.float32)
    tile[:, tile.shape[1] - w:] = crop[..., :3]
    return tile


def run(root: Path, split: str = "test", spp: tuple[int, ...] = (1, 4, 16), count: int | None = None,
        out: Path | None = None, models_dir: Path | None = None, methods: list[str] | None = None,
        hd_repeats: int = core.HD_REPEATS, authored: Path | bool | None = None, regions: int = 2,
        inputs: tuple[str, ...] = ("full",), log=print) -> dict:
    """Every method on the first ``count`` scenes of ``split`` and on the authored set (``authored``: a folder,
    None for ``CACHE/authored`` when it exists, False for none) at each ``spp``, given each of the ``inputs``
    sets (:data:`INPUT_SETS`); the 1920x1080 timing (of the full inputs) unless ``hd_repeats`` is 0;
    ``regions`` flattest and dimmest regions per scene in the 1:1 grids. Returns the result and, with ``out``,
    writes denoise.json, denoise.md and the grids there (the split's denoise_crops.png and
    denoise_flat_crops.png; the authored set's with an ``_authored`` suffix; another input set's crops grids
    as ``denoise_crops_<set>*.png``).

    The result is the first input set's, as it always was for ``full``; with other sets it also holds
    ``inputs`` (their names) and ``by_inputs`` (per set: its sets' metrics, ours - pyoidn (high) per spp and
    set, seconds per megapixel)."""
    from addon.runtime.exr import read_exr

    unknown = [i for i in inputs if i not in INPUT_SETS]
    if unknown or not inputs:
        raise ValueError(f"unknown input sets {unknown}; choose from {', '.join(INPUT_SETS)}")
    inputs = tuple(name for name in INPUT_SETS if name in inputs)  # report order: full first
    try:
        sets = [core.split_set(root, split, count)]
    except ValueError as exc:  # a machine with the authored set alone: scored alone, and the report says so
        sets = []
        log(f"{exc}: the split is left out")
    extra, note = core.authored_from(authored, [f"noisy_spp{s:04d}.exr" for s in spp], log)
    log(note)
    if extra is not None:
        sets.append(extra)
    if not sets:
        raise ValueError(f"nothing to score: no {split} split under {root} and {note}")
    makers = {name: _method_makers(models_dir, name) for name in inputs}
    core.check_names({m for found in makers.values() for m in found}, methods)
    runs = {name: core.choose(found, None if methods is None else [m for m in methods if m in found])
            for name, found in makers.items()}
    measured = {name: _Measured(name, runs[name]) for name in inputs}
    middle = spp[len(spp) // 2]
    for scene_set in sets:
        first = scene_set is sets[0]
        for m in measured.values():
            m.start_set(scene_set, first)
        for i, scene in enumerate(scene_set.scenes):
            reference = read_exr(scene_set.reference_path(scene)).get("Combined")[..., :3]
            view = _Reference(reference)
            for s in spp:
                noisy = read_exr(scene / f"noisy_spp{s:04d}.exr")
                passes = {"color": noisy.get("Combined")[..., :3], "albedo": noisy.get("Denoising Albedo"),
                          "normal": noisy.get("Denoising Normal")}
                for m in measured.values():
                    m.scene(scene_set, scene, view, passes, s, show=(i < (GRID_SCENES if first else
                                                                          AUTHORED_GRID_SCENES) and s == middle),
                            regions=regions)
            log(f"{scene_set.name} scene {scene.name}: done ({i + 1}/{len(scene_set.scenes)}, "
                f"{len(view.corners)} flat windows)")
            for m in measured.values():
                m.counted.setdefault(scene_set.name, []).append(len(view.corners))

    family_spp = 4 if 4 in spp else middle
    results = {name: m.result(sets, split, spp, family_spp, note) for name, m in measured.items()}
    result = results[inputs[0]]
    if inputs != ("full",):
        result["inputs"] = list(inputs)
        result["by_inputs"] = {name: {
            "label": INPUT_SETS[name].label, "metrics_keys": list(LDR_KEYS if INPUT_SETS[name].ldr else KEYS),
            "sets": {n: {"scenes": r["scenes"], "metrics": r["metrics"], "per_scene_psnr": r["per_scene"]["psnr"],
                         "by_family": r["by_family"]} for n, r in res["sets"].items()},
            "seconds_per_megapixel": res["seconds_per_megapixel"],
            "versus": {"peer": PYOIDN, "psnr": core.differences(
                {n: r["metrics"] for n, r in res["sets"].items()},
                [m for m in runs[name] if m.startswith("postpass ")], PYOIDN, spp, "psnr")}}
            for name, res in results.items()}
    if hd_repeats and "full" in runs:
        result["seconds_1920x1080"] = hd_timing(runs["full"], sets[0].scenes[0], hd_repeats, log)
    if out:
        grids = {k: v for m in measured.values() for k, v in m.grids.items()}
        core.write_reports(out, "denoise", result, report(result), grids, log)
    return result


class _Reference:
    """One scene's reference, seen the ways the input sets score against it."""

    def __init__(self, reference: np.ndarray):
        from addon.runtime.color import display_8bit, exposure_scale, tonemap

        self.linear = reference
        self.scale = exposure_scale(reference)
        self.tonemapped = tonemap(reference, self.scale)
        self.corners = bench_metrics.flat_windows(self.tonemapped)
        self.display = display_8bit(reference, self.scale)  # the reference as an 8-bit sRGB image


class _Measured:
    """One input set's methods, scores and grids over the scene sets."""

    def __init__(self, name: str, runs: dict):
        self.name, self.spec, self.runs = name, INPUT_SETS[name], runs
        self.scores, self.grids, self.counted = core.Scores(), {}, {}
        self.keys = LDR_KEYS if self.spec.ldr else KEYS
        self.tag = "" if name == "full" else "_" + name.replace("+", "_")

    def start_set(self, scene_set: core.SceneSet, first: bool) -> None:
        suffix = self.tag + ("" if first else f"_{scene_set.name}")
        self.grid = self.grids[f"denoise_crops{suffix}.png"] = core.Grid(list(self.runs) + ["reference"])
        self.flat = None
        if self.name == "full":  # the 1:1 flat/dim regions: the full set's report, as before
            self.flat = self.grids[f"denoise_flat_crops{suffix}.png"] = core.Grid(
                ["region"] + list(self.runs) + ["reference"], row_labels=[], captions=[], cell=2 * REGION)

    def scene(self, scene_set: core.SceneSet, scene: Path, ref: _Reference, passes: dict, s: int, show: bool,
              regions: int) -> None:
        from addon.runtime.color import display_8bit, srgb_decode, tonemap

        group, pixels = (scene_set.name, s), passes["color"].shape[0] * passes["color"].shape[1]
        if self.spec.ldr:  # the noisy render saved as an 8-bit image, read back as linear [0, 1] values
            color = srgb_decode(display_8bit(passes["color"], ref.scale))
            row, _ = self.scores.run(self.runs, lambda name, fn: fn(color, None, None),
                                     lambda result: ldr_score(result, ref.display), group, pixels)
            if show:
                self.grid.rows.append([display_8bit(r, 1.0) for r in row] + [ref.display])
            return
        given = [passes["color"]] + [passes[k] if k in self.spec.guides else None for k in ("albedo", "normal")]
        row, _ = self.scores.run(self.runs, lambda name, fn: fn(*given),
                                 lambda result: score(result, ref.linear, ref.scale, ref.tonemapped, ref.corners),
                                 group, pixels)
        if show:
            self.grid.rows.append([tonemap(r, ref.scale) for r in row] + [ref.tonemapped])
            if self.flat is not None:
                flat_crop_rows(self.flat, scene, bench_metrics.flat_regions(ref.tonemapped, REGION, regions), row,
                               ref.linear)

    def result(self, sets: list[core.SceneSet], split: str, spp: tuple[int, ...], family_spp: int, note: str) -> dict:
        """The report's result for this input set (for ``full``, what denoise.json always held)."""
        scores, runs = self.scores, self.runs
        per_scene = ("psnr",) if self.spec.ldr else PER_SCENE
        families = ("psnr",) if self.spec.ldr else ("psnr", "flip", "periodicity")
        by_set = {}
        for scene_set in sets:
            name = scene_set.name
            by_set[name] = dict(scene_set.describe(), flat_windows=self.counted[name], metrics={
                m: {str(s): scores.mean(m, (name, s), self.keys, skip_nan=("periodicity",)) for s in spp}
                for m in runs},
                per_scene={key: {m: {str(s): scores.each(m, (name, s), key) for s in spp} for m in runs}
                           for key in per_scene},
                by_family={"spp": family_spp, **{key: {m: scores.breakdown(m, (name, family_spp), key,
                                                                              scene_set.families) for m in runs}
                                                 for key in families}})
        test = by_set[sets[0].name]
        ours = [m for m in runs if m.startswith("postpass ")]
        metrics_by_set = {name: r["metrics"] for name, r in by_set.items()}
        result = {"task": "denoise", "split": split, "scenes": len(sets[0].scenes), "spp": list(spp),
                  # the split, as before the sets: what older readers of denoise.json read
                  "metrics": test["metrics"],
                  "seconds_per_megapixel": scores.seconds_per_megapixel(runs),
                  # per scene, in ``scene_names`` order: where a method loses, not only by how much on average
                  "scene_names": test["scene_names"],
                  "per_scene_psnr": test["per_scene"]["psnr"]}
        if not self.spec.ldr:
            # relMSE is a mean of ratios: one scene's dark-neighbour halo can carry it
            result["per_scene_relmse"] = test["per_scene"]["relmse"]
        result.update({"sets": by_set, "authored_note": note,
                       "versus": {"peer": PEER,
                                  **{key: core.differences(metrics_by_set, ours, PEER, spp, key)
                                     for key in (("psnr",) if self.spec.ldr else ("psnr", "flip"))}}})
        return result


def ldr_score(result: np.ndarray, reference_display: np.ndarray) -> dict[str, float]:
    """An LDR result (linear, the 8-bit image's exposure) scored as the 8-bit sRGB image it is saved as:
    PSNR / SSIM against the reference saved the same way (``display_8bit``)."""
    from addon.runtime.color import display_8bit
    from ml_core.metrics import psnr, ssim

    shown = display_8bit(result, 1.0)
    return {"psnr": psnr(shown, reference_display), "ssim": ssim(shown, reference_display)}


def hd_timing(runs: dict, scene: Path, repeats: int = core.HD_REPEATS, log=print) -> dict[str, float]:
    """Seconds for one 1920x1080 frame of every method but the noisy input (a test render resized up: the
    content does not change the cost), best of ``repeats`` with the methods taking turns."""
    import cv2

    from addon.runtime.exr import read_exr

    noisy = read_exr(scene / "noisy_spp0004.exr") if (scene / "noisy_spp0004.exr").exists() else \
        read_exr(sorted(scene.glob("noisy_spp*.exr"))[0])
    c, a, n = (cv2.resize(noisy.get(p)[..., :3], (1920, 1080), interpolation=cv2.INTER_NEAREST)
               for p in ("Combined", "Denoising Albedo", "Denoising Normal"))
    return core.best_of({name: lambda fn=fn: fn(c, a, n) for name, fn in runs.items() if name != "noisy"},
                        repeats, "1920x1080", log)


def _num(value, fmt: str = ".2f", signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return format(value, ("+" if signed else "") + fmt)


def markdown_table(result: dict) -> str:
    """The report: a table per spp with every set side by side, ours - the peer per set and the gap, the
    per-family tables and the timings."""
    spp, hd, sets = result["spp"], result.get("seconds_1920x1080", {}), result["sets"]
    names = list(result["metrics"])
    described = " and ".join(f"the {n} {'split' if n == result['split'] else 'set'} ({r['scenes']} scenes)"
                             for n, r in sets.items())
    text = [f"Denoise on {described}; tone-mapped PSNR (dB) / SSIM and linear relMSE against each set's "
            "reference, mean HDR-FLIP (lower is better) and the flat-region periodicity of the residual (dB "
            "above its spectrum's background, mean / worst scene; white noise stays a few dB, a regular grid "
            "stands out); seconds on this CPU.", "", result.get("authored_note") or "", ""]
    for s in spp:
        header, rows = ["method"], [[n] for n in names]
        for set_name, r in sets.items():
            header += [f"{set_name} PSNR / SSIM", f"{set_name} relMSE", f"{set_name} FLIP",
                       f"{set_name} periodicity"]
            for row, n in zip(rows, names):
                m, each = r["metrics"][n][str(s)], r["per_scene"]["periodicity"][n][str(s)]
                worst = max((v for v in each if v is not None and np.isfinite(v)), default=None)
                row += [f"{_num(m['psnr'])} / {_num(m['ssim'], '.4f')}", _num(m["relmse"], ".4f"),
                        _num(m["flip"], ".4f"), f"{_num(m['periodicity'], '.1f')} / {_num(worst, '.1f')}"]
        text += [f"### {s} spp", "", core.markdown_table(header, rows)]
    versus = result.get("versus", {})
    if versus.get("psnr"):
        set_names = list(next(iter(versus["psnr"].values()))[str(spp[0])])  # the sets with the peer, "gap"
        header = ["method"] + [f"{s} spp {n}" for s in spp for n in set_names]
        rows = [[n] + [f"{_num(versus['psnr'][n][str(s)].get(k), signed=True)} dB / "
                       f"{_num(versus['flip'][n][str(s)].get(k), '.4f', signed=True)}"
                       for s in spp for k in set_names] for n in versus["psnr"]]
        text += [f"### Ours - {versus['peer']}: PSNR (dB) / HDR-FLIP", "",
                 "Per set; gap: the last set's difference minus the first's (negative: ours loses more there).",
                 "", core.markdown_table(header, rows)]
    elif names:
        text += [f"(ours - {PEER}: not measured, a method of the two left out)", ""]
    for i, (set_name, r) in enumerate(sets.items()):
        if i == 0 and not r["named_families"]:
            continue  # the split before families: one family, the tables above
        fam = r["by_family"]
        text += [f"### Per family, {set_name}, {fam['spp']} spp: PSNR (dB) / HDR-FLIP", "",
                 core.breakdown_table(r["family_counts"], names, lambda m, f, fam=fam: (
                     f"{_num(fam['psnr'][m][f])} / {_num(fam['flip'][m][f], '.4f')}"))]
    text += ["### Time", "", core.markdown_table(
        ["method", "s / MP", "s per 1080p"],
        [[n, f"{result['seconds_per_megapixel'][n]:.2f}", core.seconds(hd, n)] for n in names])]
    return "\n".join(text)


def report(result: dict) -> str:
    """The Markdown report: the full inputs' tables as always (:func:`markdown_table`), then with ``--inputs``
    one section per other input set, and ours - pyoidn (high) given the same inputs for each set."""
    if "by_inputs" not in result:
        return markdown_table(result)
    text, spp = [], result["spp"]
    for name in result["inputs"]:
        entry = result["by_inputs"][name]
        if name == "full":
            text.append(markdown_table(result))
        else:
            text += [f"## Inputs: {name}, {entry['label']}", ""]
            ldr = "relmse" not in entry["metrics_keys"]
            set_names = list(entry["sets"])
            methods = list(entry["sets"][set_names[0]]["metrics"])
            for s in spp:
                header, rows = ["method"], [[m] for m in methods]
                for set_name in set_names:
                    header += [f"{set_name} PSNR / SSIM" + (" (8-bit sRGB)" if ldr else "")]
                    if not ldr:
                        header += [f"{set_name} relMSE", f"{set_name} FLIP"]
                    for row, m in zip(rows, methods):
                        v = entry["sets"][set_name]["metrics"][m][str(s)]
                        row.append(f"{_num(v['psnr'])} / {_num(v['ssim'], '.4f')}")
                        if not ldr:
                            row += [_num(v["relmse"], ".4f"), _num(v["flip"], ".4f")]
                text += [f"### {name}, {s} spp", "", core.markdown_table(header, rows)]
        versus = entry["versus"]["psnr"]
        if versus:
            columns = list(next(iter(versus.values()))[str(spp[0])])
            header = ["method"] + [f"{s} spp {c}" for s in spp for c in columns]
            rows = [[m] + [f"{_num(versus[m][str(s)].get(c), signed=True)} dB" for s in spp for c in columns]
                    for m in versus]
            text += [f"### Ours - {PYOIDN}, {name} inputs: PSNR", "",
                     "Given the same inputs (issue 25's target: within 0.3 dB at 4 spp); gap: the last set's "
                     "difference minus the first's.", "", core.markdown_table(header, rows)]
        else:
            text += [f"(ours - {PYOIDN}, {name} inputs: not measured, a method of the two left out)", ""]
    return "\n".join(text)


def regression_crops(root: Path, out: Path, split: str = "test", count: int = 8, size: int = 64,
                     spp: int = 4) -> list[Path]:
    """Small fixed denoise cases for the shipped-model quality test: the centre ``size`` px of the first
    ``count`` scenes of ``split`` at ``spp``, one half-float EXR each (noisy Combined, its albedo and normal,
    and the target as a ``Reference`` pass)."""
    from addon.runtime.exr import read_exr, write_exr

    written = []
    for scene in core.scenes(root, split, count, exact=True):
        noisy, target = read_exr(scene / f"noisy_spp{spp:04d}.exr"), read_exr(scene / "target.exr")
        y, x = core.centre(noisy.size, size)

        def crop(a):
            return np.clip(a[y:y + size, x:x + size], -60000, 60000)  # half-float range

        path = Path(out) / f"{scene.name}_spp{spp:04d}.exr"
        write_exr(path, {"Combined": crop(noisy.get("Combined")), "Denoising Albedo": crop(noisy.get("Denoising Albedo")),
                         "Denoising Normal": crop(noisy.get("Denoising Normal")),
                         "Reference": crop(target.get("Combined"))}, half=True)
        written.append(path)
    return written


def options(p) -> None:
    core.add_options(p, authored=True)
    p.add_argument("--spp", type=int, nargs="+", default=[1, 4, 16], help="noisy inputs' spp (default: 1 4 16)")
    p.add_argument("--regions", type=int, default=2, metavar="N",
                   help="1:1 grids: the N flattest and N dimmest 64 px regions per scene (default: %(default)s)")
    p.add_argument("--inputs", nargs="+", choices=list(INPUT_SETS), default=["full"], metavar="SET",
                   help="what every method is given, one table each: full (colour, albedo, normal), color, "
                        "color+albedo, ldr (an 8-bit sRGB image of the render) (default: full)")


def main(args) -> str:
    return report(run(args.data, args.split, tuple(args.spp), args.count, args.out, args.models, args.methods,
                      core.hd_repeats(args), args.authored, args.regions, tuple(args.inputs)))


def score_crops(folder: Path, models_dir: Path | None = None) -> dict[str, dict[str, float]]:
    """Every denoise model's mean PSNR on the crops in ``folder``, each given only the passes it takes (a
    colour-only model the colour alone), beside the noisy input's: the figures ``expected.json`` records and
    ``tests/tasks/test_shipped_models.py`` holds each shipped model to. Linear models: tone-mapped PSNR of the
    render; an sRGB (8-bit image) model: the crop saved as an 8-bit image at the reference's exposure
    (``display_8bit``), its display PSNR, as the benchmark's ``ldr`` set scores it."""
    from addon.runtime import api
    from addon.runtime.color import display_8bit, exposure_scale, srgb_decode
    from addon.runtime.exr import read_exr
    from ml_core.metrics import render_metrics

    crops = [read_exr(path) for path in sorted(Path(folder).glob("*.exr"))]
    if not crops:
        raise ValueError(f"{folder}: no crops")
    scores = {}
    for entry in core.models("denoise", models_dir):
        if not set(entry.contract.required) <= {"color", "albedo", "normal"}:
            continue  # a temporal model (frames of a sequence): bench.temporal.score_crops
        takes = {i.name for i in entry.contract.image_inputs}
        ldr = entry.contract.image_inputs[0].color_space == "srgb"
        psnr, noisy = [], []
        for exr in crops:
            passes = {"color": exr.get("Combined")[..., :3], "albedo": exr.get("Denoising Albedo"),
                      "normal": exr.get("Denoising Normal")}
            reference = exr.get("Reference")[..., :3]
            if ldr:
                exposure = exposure_scale(reference)
                color = srgb_decode(display_8bit(passes["color"], exposure))
                out = api.run("denoise", {"color": color}, model=entry.name, models_dir=models_dir,
                              source_range="ldr").image
                shown = display_8bit(reference, exposure)
                psnr.append(ldr_score(out, shown)["psnr"])
                noisy.append(ldr_score(color, shown)["psnr"])
                continue
            out = api.run("denoise", {k: v for k, v in passes.items() if k in takes}, model=entry.name,
                          models_dir=models_dir).image
            psnr.append(render_metrics(out, reference)["psnr"])
            noisy.append(render_metrics(passes["color"], reference)["psnr"])
        scores[entry.name] = {"psnr": round(float(np.mean(psnr)), 3), "noisy_psnr": round(float(np.mean(noisy)), 3)}
    return scores


BENCHMARKS.add("denoise", Benchmark("denoisers on the test split and the authored set at several spp", main,
                                    options, __doc__,
                                    crops=regression_crops, score_crops=score_crops))
