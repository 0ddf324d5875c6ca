"""Colorize benchmark: every method on the same grey images and the same hints, one table per image set, JSON +
Markdown + a crops grid.

    python -m bench colorize --data ~/.cache/postpass/data --split test --hints 0 1 10 100 --out out/bench
    python -m bench colorize --data ~/.cache/postpass/data_palette --split palette_test --out out/bench_palette
    python -m bench colorize --fit-auto     # automatic colour's gain and threshold, fitted on renders only

The second form measures on natural-palette renders (``ml_core.data build --preset palette``), whose colours
follow from what the grey image shows: there automatic colour can beat grey by more than a hair.

Image sets: ``renders``, the split's target renders tone-mapped to sRGB by the protocol's tone map
(``addon.runtime.color.tonemap``, each at its own exposure); ``authored``, the authored evaluation set's
references, tone-mapped the same way (renders never trained on; ``--authored``, default the cache's when built);
``photos``, four photos bundled with scikit-image (``astronaut``, ``coffee``, ``chelsea``, ``rocket``; read
offline from its wheel); ``kodak`` and ``set5``, the Kodak and Set5 photos under ``../shared/benchmarks/`` (when
present). Photos are shrunk so the long side is 256 px. ``--no-photos`` leaves the three photo sets out. The grey
input is what the runtime feeds a colorizer for that image: the Rec.709 luminance of the linear colour
(sRGB-encoded at the network).

Hints are sampled from the ground truth with a fixed seed per image, nested (the 10 hints are the first 10 of
the 100): uniform random positions, alternately a 1-px point (the colour there) and a 3x3 patch (its mean colour).

Methods: ``grayscale`` (the grey image as RGB: the no-colour baseline), ``levin`` (hints spread by Levin et
al. 2004's optimisation, ``bench.peers.levin_colorize``; the grey image when there are no hints) and every
fp32 Postpass colorize model in the registry (``models_dir``; default the shipped ones), run through
``addon.runtime.api.run`` as ``addon.runtime.api.colorize`` runs it (without hints: automatic colour,
``addon.runtime.colorize_auto``; the report counts the results that are the grey image), and, with no hints
only, the same model's network output as it is (``(network only)``: the engine alone, no automatic colour; what
``colorize`` gave before automatic colour; with hints the two are the same result).

Metrics on sRGB [0, 1]: PSNR of RGB; PSNR of CIELAB (a, b) (skimage ``rgb2lab``, D65) with a and b divided by
100 (peak 1); the Hasler-Suesstrunk colourfulness of the result (on 0..255 values; the ground truth's is given
beside it, and grey scores 0); seconds per megapixel on this machine (one pass per image, as denoise's). No
1920x1080 timing: Levin's sparse solve on a 1080p frame is a benchmark of its own.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ml_core import paths
from ml_core.metrics import psnr

from . import core, peers
from .core import BENCHMARKS, Benchmark

KEYS = ("psnr_rgb", "psnr_ab", "colourfulness")

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
PHOTO_SIZE = 256
SHARED = paths.REPO_ROOT.parent / "shared" / "benchmarks"
#: Photo sets read from ``../shared/benchmarks`` when present: set name -> folder of PNGs.
PHOTO_FOLDERS = {"kodak": SHARED / "photos" / "kodak_PhotoCD_PCD0992", "set5": SHARED / "Set5"}
HINT_COUNTS = (0, 1, 10, 100)
SEED = 2017
#: Suffix of a model's method name for its network output as it is (no automatic colour; no hints only).
NETWORK_ONLY = " (network only)"
#: Renders automatic colour is fitted on (``--fit-auto``): dataset folder (under the cache) and split. Our own
#: renders only, never the photos or the test split or the authored set, which check the fit.
FIT_SETS = (("data", "val"), ("data_palette", "palette_val"))
FIT_GAINS = (0.25, 0.5, 1.0, 1.5, 2.0)
#: Thresholds searched, up to 2% relative chroma (RMS): colour below that is faint (colourfulness about 1).
FIT_THRESHOLDS = (0.0, 0.001, 0.0025, 0.005, 0.01, 0.02)
#: The threshold may cost this much mean PSNR on the fitting renders (a tenth of the tables' 0.01 dB).
FIT_TOLERANCE_DB = 0.001


# ----------------------------------------------------------------------------------------------------------
# Images, hints, metrics
# ----------------------------------------------------------------------------------------------------------
def render_images(root: Path, split: str = "test", count: int | None = None) -> list[tuple[str, np.ndarray]]:
    """(name, sRGB H x W x 3) of the split's target renders, tone-mapped at each one's own exposure.

    A render that is black everywhere (the camera inside an object, which the generator's layouts allow) is
    left out: it has no colour to find, and every method's PSNR on it would be infinite."""
    from addon.runtime.color import tonemap
    from addon.runtime.exr import read_exr

    scenes = core.scenes(root, split, count)
    images = [(f"{split}/{scene.name}", tonemap(read_exr(scene / "target.exr").get("Combined")[..., :3]))
              for scene in scenes]
    return [(name, image) for name, image in images if image.max() > 0]


def scene_set_images(scene_set: core.SceneSet) -> list[tuple[str, np.ndarray]]:
    """(name, sRGB H x W x 3) of a scene set's references (the authored set's), tone-mapped as the renders;
    black ones left out, as in :func:`render_images`."""
    from addon.runtime.color import tonemap
    from addon.runtime.exr import read_exr

    images = [(f"{scene_set.name}/{scene.relative_to(scene_set.root).as_posix()}",
               tonemap(read_exr(scene_set.reference_path(scene)).get("Combined")[..., :3]))
              for scene in scene_set.scenes]
    return [(name, image) for name, image in images if image.max() > 0]


def shrink(rgb: np.ndarray, size: int = PHOTO_SIZE) -> np.ndarray:
    """An sRGB photo with its long side ``size`` px (area filter), clipped to [0, 1]."""
    import cv2

    h, w = rgb.shape[:2]
    f = size / max(h, w)
    rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def photo_images(names=PHOTOS, size: int = PHOTO_SIZE) -> list[tuple[str, np.ndarray]]:
    """(name, sRGB H x W x 3) of scikit-image's bundled photos, long side ``size`` px (area filter)."""
    from skimage import data as skdata

    return [(name, shrink(getattr(skdata, name)()[..., :3].astype(np.float32) / 255.0, size)) for name in names]


def folder_images(folder: Path, size: int = PHOTO_SIZE) -> list[tuple[str, np.ndarray]]:
    """(name, sRGB H x W x 3) of the PNG photos in ``folder`` (8-bit), long side ``size`` px."""
    import cv2

    return [(p.stem, shrink(cv2.imread(str(p), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0, size))
            for p in sorted(Path(folder).glob("*.png"))]


def image_sets(root, split: str = "test", count: int | None = None, photos: bool = True, authored=None,
               photo_folders: dict | None = None, renders: bool = True,
               log=print) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Set name -> (name, sRGB image) of every image set the benchmark scores (see the module's text):
    ``renders`` (unless ``renders`` is False); ``authored`` per ``authored`` (:func:`bench.core.authored_from`);
    with ``photos``, ``photos`` and each of ``photo_folders`` (default :data:`PHOTO_FOLDERS`) that exists."""
    sets = {"renders": render_images(root, split, count)} if renders else {}
    if renders and not sets["renders"]:
        raise ValueError(f"{root}: no complete scenes in split {split!r}")
    found, note = core.authored_from(authored, (), log)
    log(note)
    if found is not None:
        sets["authored"] = scene_set_images(found)
    if photos:
        sets["photos"] = photo_images()
        for name, folder in (PHOTO_FOLDERS if photo_folders is None else photo_folders).items():
            if Path(folder).is_dir():
                sets[name] = folder_images(folder)
            else:
                log(f"{name}: no photos at {folder}; left out")
    return {name: images for name, images in sets.items() if images}


def gray_of(srgb: np.ndarray) -> np.ndarray:
    """H x W sRGB-encoded Rec.709 luminance of the linear colour: the colorizer's grey input for ``srgb``."""
    from addon.runtime.color import luminance, srgb_decode, srgb_encode

    return srgb_encode(luminance(srgb_decode(srgb)))


def sample_hints(image: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` hints from ``image`` (sRGB): (H x W x 3 hint colours, H x W mask). Positions come from
    ``seed`` alone and are nested: hint i is the same whatever ``count``. Even hints are 1-px points, odd ones
    3x3 patches holding their mean colour."""
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    ys, xs = rng.integers(0, h, max(count, 1)), rng.integers(0, w, max(count, 1))
    hints, mask = np.zeros_like(image), np.zeros((h, w), np.float32)
    for i in range(count):
        r = i % 2
        sy, sx = slice(max(0, ys[i] - r), ys[i] + r + 1), slice(max(0, xs[i] - r), xs[i] + r + 1)
        hints[sy, sx] = image[sy, sx].reshape(-1, 3).mean(0)
        mask[sy, sx] = 1.0
    return hints, mask


def colourfulness(srgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness M3 of an sRGB [0, 1] image, on the 0..255 scale."""
    rgb = np.asarray(srgb, np.float64)[..., :3] * 255.0
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def ab_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of the CIELAB a, b channels (divided by 100, peak 1) of two sRGB [0, 1] images."""
    from skimage.color import rgb2lab

    return psnr(rgb2lab(np.clip(a, 0, 1))[..., 1:] / 100.0, rgb2lab(np.clip(b, 0, 1))[..., 1:] / 100.0)


def image_metrics(result: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {"psnr_rgb": psnr(np.clip(result, 0, 1), target), "psnr_ab": ab_psnr(result, target),
            "colourfulness": colourfulness(result)}


# ----------------------------------------------------------------------------------------------------------
# Methods
# ----------------------------------------------------------------------------------------------------------
def colorize_methods(models_dir: Path | None = None, names: list[str] | None = None) -> dict:
    """name -> callable(gray sRGB H x W, hints sRGB H x W x 3, mask H x W) -> sRGB H x W x 3."""
    from addon.runtime import api
    from addon.runtime.color import srgb_decode, srgb_encode

    def model(name):
        def run(gray, hints, mask):  # api.colorize's own call, keeping its result's notes (grey fallbacks)
            given = bool(mask.any())
            result = api.run("colorize", {"gray": srgb_decode(gray)[..., None],
                                          "hints": srgb_decode(hints) if given else None,
                                          "mask": mask if given else None}, model=name, models_dir=models_dir)
            run.notes.append(tuple(result.notes))
            return srgb_encode(result.image[..., :3])
        run.notes = []
        return lambda: run

    def network_only(name):
        def make():
            network = network_output(name, models_dir)
            return lambda gray, hints, mask: srgb_encode(network(srgb_decode(gray)[..., None])[..., :3])
        return make

    makers = {"grayscale": lambda: lambda g, h, m: np.repeat(g[..., None], 3, -1),
              "levin": lambda: lambda g, h, m: peers.levin_colorize(g, h, m)}
    for entry in core.models("colorize", models_dir):
        makers[f"postpass {entry.name}"] = model(entry.name)
        makers[f"postpass {entry.name}{NETWORK_ONLY}"] = network_only(entry.name)
    return core.choose(makers, names)


def network_model(name: str, models_dir: Path | None = None):
    """The colorize model ``name`` as the engine runs it (``addon.runtime.engine.Model``): no task hook, so no
    automatic colour."""
    from addon.runtime.engine import load_model
    from addon.runtime.registry import Registry

    registry = Registry(models_dir)
    return load_model(registry.get(name).name, registry.folder)


def network_output(name: str, models_dir: Path | None = None):
    """callable(linear grey H x W x 1) -> the colorize model ``name``'s result with no hints as the network makes
    it: the engine alone, without the task's automatic colour (linear RGB)."""
    model = network_model(name, models_dir)
    return lambda gray: model.run({"gray": gray}).image


# ----------------------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------------------
def run(root, split: str = "test", count: int | None = None, hints=HINT_COUNTS, out=None, models_dir=None,
        photos: bool = True, methods: list[str] | None = None, seed: int = SEED, grid_images: int = 2,
        authored=None, photo_folders: dict | None = None, log=print) -> dict:
    """Run every method on the split's renders (first ``count``), the authored set (``authored``: see
    :func:`bench.core.authored_from`) and, with ``photos``, the photo sets (:func:`image_sets`), at each number
    of ``hints``; returns the result dict and, with ``out``, writes colorize.json, colorize.md and
    colorize_crops.png there. A ``(network only)`` method runs at 0 hints only (with hints it is its model's
    result, unchanged)."""
    hints = tuple(int(n) for n in hints)
    if any(n < 0 for n in hints):
        raise ValueError(f"hint counts must be >= 0, not {list(hints)}")
    sets = image_sets(root, split, count, photos, authored, photo_folders, log)
    runs = colorize_methods(models_dir, methods)
    scores, reference, fallbacks = core.Scores(), {}, {}
    shown = sorted(set(hints) - {1}) or sorted(hints)  # the hint counts the grid shows (0: automatic colour)
    grid = core.Grid(["hints"] + list(runs) + ["ground truth"], row_labels=[], captions=[])
    for set_name, images in sets.items():
        target_colourfulness = [colourfulness(img) for _, img in images]
        reference[set_name] = float(np.mean(target_colourfulness))
        for i, (name, target) in enumerate(images):
            gray = gray_of(target)
            image_seed = zlib.crc32(f"{seed}/{name}".encode())
            for n in hints:
                hint, mask = sample_hints(target, n, image_seed)
                these = {m: fn for m, fn in runs.items() if n == 0 or not m.endswith(NETWORK_ONLY)}
                row, metrics = scores.run(
                    these, lambda _, fn: np.clip(np.asarray(fn(gray, hint, mask), np.float32)[..., :3], 0.0, 1.0),
                    lambda result: image_metrics(result, target), (set_name, n), gray.size)
                if n == 0:  # automatic colour: count the results that are the grey image (its note says so)
                    for m, fn in these.items():
                        if getattr(fn, "notes", None):
                            fallbacks.setdefault(set_name, {}).setdefault(m, 0)
                            fallbacks[set_name][m] += bool(fn.notes[-1])
                if i < grid_images and n in shown:
                    done = dict(zip(these, zip(row, metrics)))
                    cells = [done.get(m, (np.zeros_like(target), None)) for m in runs]
                    grid.rows.append([hint_overlay(gray, hint, mask)] + [image for image, _ in cells] + [target])
                    # colourfulness beside PSNR: the no-hint target asks for both, so the grid shows both
                    grid.captions.append([f"{n} hints"] + [f"{m['psnr_rgb']:.1f} dB  C {m['colourfulness']:.1f}"
                                                           if m else "(no hints only)" for _, m in cells]
                                         + [f"C {target_colourfulness[i]:.1f}"])
                    grid.row_labels.append(name)
            log(f"{set_name} {name}: done ({i + 1}/{len(images)})")

    table = {s: {m: {str(n): scores.mean(m, (s, n), KEYS) for n in hints if scores.metrics[m, (s, n)]}
                 for m in runs} for s in sets}
    result = {"task": "colorize", "split": split, "scenes": len(sets["renders"]),
              "photos": [name for name, _ in sets.get("photos", [])],
              "sets": {s: len(images) for s, images in sets.items()}, "hints": list(hints), "seed": seed,
              "metrics": table, "colourfulness_reference": reference, "grey_fallbacks": fallbacks,
              "seconds_per_megapixel": scores.seconds_per_megapixel(runs), "targets": targets(table, hints)}
    if out:
        core.write_reports(out, "colorize", result, markdown_table(result), {"colorize_crops.png": grid}, log)
    return result


def hint_overlay(gray: np.ndarray, hints: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The grey image with each hint drawn in its colour, one pixel wider so points show in a small cell."""
    import cv2

    grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # spread each hint's colour into its border: the max over the 3x3 of colour where masked
    colour = cv2.dilate(np.where(mask[..., None] > 0, hints, 0.0).astype(np.float32), np.ones((3, 3), np.uint8))
    out = np.repeat(gray[..., None], 3, -1) * 0.7
    out[grown] = colour[grown]
    return out


def targets(table: dict, hints: tuple[int, ...]) -> dict:
    """The issues' targets, checked for every Postpass model (RGB PSNR, dB): 10 hints >= no hints + 3,
    100 hints >= no hints + 6, above levin at 10 and 100 hints (every set); no hints >= grayscale (to 0.001 dB)
    on every set (issue 25: photos and renders), and on renders more colour than grey. Only the checks whose
    hint counts were run (a ``(network only)`` method: the no-hint ones)."""
    checks = {}
    for set_name, by_method in table.items():
        for method, by_n in by_method.items():
            if not method.startswith("postpass "):
                continue
            p = {int(n): v["psnr_rgb"] for n, v in by_n.items()}
            levin = {int(n): v["psnr_rgb"] for n, v in by_method["levin"].items()} if "levin" in by_method else {}
            c = {}
            for n, gain in ((10, 3.0), (100, 6.0)):
                if n in p and 0 in p:
                    c[f"{n} hints >= no hints + {gain:g} dB"] = p[n] >= p[0] + gain
                if n in p and n in levin:
                    c[f"{n} hints > levin"] = p[n] > levin[n]
            if 0 in p and "0" in by_method.get("grayscale", {}):
                # within float rounding (grey results come back through sRGB round trips)
                c["no hints >= grayscale"] = p[0] >= by_method["grayscale"]["0"]["psnr_rgb"] - 1e-3
                if set_name == "renders":
                    c["no hints more colourful than grayscale"] = (
                        by_n["0"]["colourfulness"] > by_method["grayscale"]["0"]["colourfulness"] + 0.5)
            checks.setdefault(method, {})[set_name] = c
    return checks


def markdown_table(result: dict) -> str:
    hints = result["hints"]
    counts = result.get("sets", {"renders": result["scenes"], "photos": len(result["photos"])})
    others = ", ".join(f"{name} {n}" for name, n in counts.items() if name != "renders") or "no other set"
    parts = [f"Colorize: {result['scenes']} {result['split']}-split renders (tone-mapped); {others}; hints "
             f"sampled from the ground truth (seed {result['seed']}). Cells: RGB PSNR (dB) / CIELAB ab PSNR "
             f"(dB, ab/100) / colourfulness (Hasler-Suesstrunk); seconds per megapixel on this CPU. "
             f"`(network only)`: the network's colour as it is, no automatic colour (0 hints only).\n"]
    for set_name, by_method in result["metrics"].items():
        parts.append(f"\n**{set_name}** (ground-truth colourfulness "
                     f"{result['colourfulness_reference'][set_name]:.1f})\n")
        rows = [[method] + [f"{by_n[str(n)]['psnr_rgb']:.2f} / {by_n[str(n)]['psnr_ab']:.2f} / "
                            f"{by_n[str(n)]['colourfulness']:.1f}" if str(n) in by_n else "-" for n in hints] +
                [f"{result['seconds_per_megapixel'][method]:.2f}"] for method, by_n in by_method.items()]
        parts.append(core.markdown_table(["method"] + [f"{n} hint{'' if n == 1 else 's'}" for n in hints] +
                                         ["s / MP"], rows))
        for method, count in result.get("grey_fallbacks", {}).get(set_name, {}).items():
            parts.append(f"\n{method} without hints: the grey image (no colour to place, said in a note) on "
                         f"{count} of {result['sets'][set_name]} images\n")
    for method, by_set in result.get("targets", {}).items():
        for set_name, checks in by_set.items():
            if checks:
                text = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items())
                parts.append(f"\n{method} targets on {set_name}: {text}\n")
    return "".join(parts)


def fit_automatic(fit_sets=None, check_sets: dict | None = None, gains=FIT_GAINS, thresholds=FIT_THRESHOLDS,
                  model: str = "colorize_unet", models_dir: Path | None = None, log=print) -> dict:
    """Fit automatic colour's :data:`~addon.runtime.colorize_auto.GAIN` and
    :data:`~addon.runtime.colorize_auto.MIN_COLOUR` on renders only: ``fit_sets``, (dataset folder, split) pairs
    (default :data:`FIT_SETS` under the cache; those not built are left out with a note). ``check_sets`` (set
    name -> images, e.g. the photo sets of :func:`image_sets`) are scored the same way and reported, never used
    for the choice.

    For every image: the network's no-hint result (:func:`network_model`) and the model's prior tint; then, at
    each gain, automatic colour (the evidence beyond the prior times the gain) and, for comparison, the network's
    colour shrunk by that factor (``Y + s (result - Y)``, the MSE-optimal shrinkage of a regressor's output),
    each scored as RGB PSNR minus the grey image's. An image whose evidence is below a threshold scores 0 there
    (it is the grey image). The gain is 1 (the network as trained) unless another is better at threshold 0 by
    more than :data:`FIT_TOLERANCE_DB`; the threshold the largest whose mean at that gain is within
    :data:`FIT_TOLERANCE_DB` of the mean at threshold 0 (fall back to grey wherever colour gains next to nothing
    on these renders)."""
    from addon.runtime.color import luminance, srgb_decode, srgb_encode
    from addon.runtime.colorize_auto import automatic_colour, evidence, prior_tint

    network = network_model(model, models_dir)
    tint = prior_tint(network)
    fit_sets = [(paths.cache_dir() / d, s) for d, s in FIT_SETS] if fit_sets is None else fit_sets
    sets, used = {}, []
    for root, split in fit_sets:
        if not (Path(root) / split).is_dir():
            log(f"fit: no split {split!r} in {root}; left out")
            continue
        sets[split] = render_images(root, split)
        used.append({"data": str(root), "split": split, "images": len(sets[split])})
    if not sets:
        raise ValueError("no render set to fit on (build the val splits: see docs/benchmarks.md, colorize)")
    fitted = list(sets)
    sets.update(check_sets or {})

    def score(result, target, grey):
        return psnr(np.clip(srgb_encode(result[..., :3]), 0, 1), target) - grey

    per_set = {}
    for set_name, images in sets.items():
        auto, shrunk, colours = [], [], []
        for _, target in images:
            gray = gray_of(target)
            out = network.run({"gray": srgb_decode(gray)[..., None]}).image[..., :3]
            y = luminance(out)[..., None]
            grey = psnr(np.repeat(gray[..., None], 3, -1), target)
            colours.append(evidence(out, tint)[2])
            auto.append([score(automatic_colour(out, tint, g, 0.0)[0], target, grey) for g in gains])
            shrunk.append([score(y + s * (out - y), target, grey) for s in gains])
        per_set[set_name] = {"auto": np.array(auto), "shrunk": np.array(shrunk), "colour": np.array(colours)}
        log(f"fit: {set_name} ({len(images)} images) done")

    def table(names):
        auto = np.concatenate([per_set[n]["auto"] for n in names])
        colour = np.concatenate([per_set[n]["colour"] for n in names])
        return np.array([[float(np.mean(np.where(colour >= t, auto[:, i], 0.0))) for t in thresholds]
                         for i in range(len(gains))]), colour

    fit_table, colours = table(fitted)
    one = list(gains).index(1.0)
    best = int(np.argmax(fit_table[:, 0]))
    gi = one if fit_table[one, 0] >= fit_table[best, 0] - FIT_TOLERANCE_DB else best
    ti = max(j for j in range(len(thresholds)) if fit_table[gi, j] >= fit_table[gi, 0] - FIT_TOLERANCE_DB)
    summary = {}
    for set_name, d in per_set.items():
        t, colour = table([set_name])
        summary[set_name] = {"images": len(colour), "fitted_on": set_name in fitted,
                             "max_evidence": float(colour.max()),
                             "network_shrunk_db_over_grey": d["shrunk"].mean(0).tolist(),
                             "automatic_db_over_grey": t[:, ti].tolist()}
    return {"sets": used, "images": len(colours), "prior_tint": [float(v) for v in tint], "gains": list(gains),
            "thresholds": list(thresholds), "mean_db_over_grey": fit_table.tolist(),
            "fallbacks": [int(np.sum(colours < t)) for t in thresholds], "per_set": summary,
            "gain": gains[gi], "min_colour": thresholds[ti]}


def fit_markdown(fit: dict) -> str:
    sets = ", ".join(f"{s['split']} ({s['images']}, {s['data']})" for s in fit["sets"])
    tint = ", ".join(f"{v:+.4f}" for v in fit["prior_tint"])
    lines = [f"Automatic colour fitted on {fit['images']} renders: {sets}. The model's prior tint (relative "
             f"chroma on a flat grey image): ({tint}). Cells: mean RGB PSNR over the grey image (dB) of the "
             f"evidence beyond the prior times a gain (rows), by colour threshold (columns; below it the result is "
             f"the grey image).\n\n"]
    rows = [[f"gain {g:g}"] + [f"{v:+.4f}" for v in row] for g, row in zip(fit["gains"], fit["mean_db_over_grey"])]
    rows.append(["grey fallbacks"] + [str(n) for n in fit["fallbacks"]])
    lines.append(core.markdown_table(["", *[f"{t:g}" for t in fit["thresholds"]]], rows))
    lines.append(f"\nChosen: GAIN = {fit['gain']:g}, MIN_COLOUR = {fit['min_colour']:g}.\n\nPer set (fitted on: "
                 f"yes/no), dB over the grey image: the network's colour shrunk by s (each gain as s), and "
                 f"automatic colour at the chosen threshold by gain; the largest evidence of the set.\n\n")
    rows = [[name, "yes" if d["fitted_on"] else "no", str(d["images"])]
            + [f"{v:+.3f}" for v in d["network_shrunk_db_over_grey"]]
            + [f"{v:+.4f}" for v in d["automatic_db_over_grey"]] + [f"{d['max_evidence']:.4f}"]
            for name, d in fit["per_set"].items()]
    lines.append(core.markdown_table(["set", "fitted on", "images"] + [f"network x {g:g}" for g in fit["gains"]]
                                     + [f"auto gain {g:g}" for g in fit["gains"]] + ["max evidence"], rows))
    return "".join(lines)


def regression_crops(root: Path, out: Path, split: str = "test", count: int = 8, size: int = 64) -> list[Path]:
    """Small fixed colorize cases for the shipped-model quality test: the centre ``size`` px of the first
    ``count`` target renders of ``split``, tone-mapped as in the benchmark, as 8-bit sRGB PNGs (the ground
    truth; the test takes its grey and samples hints from it with :func:`sample_hints`)."""
    import cv2

    from addon.runtime.files import atomic_output

    images = render_images(root, split, count)
    if len(images) < count:
        raise ValueError(f"{root}: split {split!r} has {len(images)} complete scenes, {count} asked")
    written = []
    for name, image in images:
        y, x = core.centre(image.shape, size)
        crop = np.round(image[y:y + size, x:x + size] * 255).astype(np.uint8)
        path = Path(out) / f"{name.split('/')[-1]}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp:
            cv2.imwrite(str(tmp), crop[..., ::-1])
        written.append(path)
    return written


def options(p) -> None:
    core.add_options(p, hd=False, authored=True)
    p.add_argument("--hints", type=int, nargs="+", default=list(HINT_COUNTS), help="hint counts (default: 0 1 10 100)")
    p.add_argument("--no-photos", action="store_true", help="renders only (no photo sets)")
    p.add_argument("--fit-auto", action="store_true",
                   help="instead of the benchmark: fit automatic colour's gain and threshold on renders only "
                        f"({', '.join(f'{d}:{s}' for d, s in FIT_SETS)} under the cache, or --fit-sets); the "
                        "benchmark's sets are scored beside them as a check (not with --no-photos)")
    p.add_argument("--fit-sets", nargs="+", metavar="DATA:SPLIT", default=None,
                   help="--fit-auto: dataset folders and splits to fit on")


def main(args) -> str:
    if args.fit_auto:
        fit_sets = None if args.fit_sets is None else [(Path(t.rsplit(":", 1)[0]).expanduser(), t.rsplit(":", 1)[1])
                                                       for t in args.fit_sets]
        has_split = (Path(args.data).expanduser() / args.split).is_dir()  # the checks' renders: when built
        checks = {} if args.no_photos else image_sets(args.data, args.split, args.count, True, args.authored,
                                                      renders=has_split)
        return fit_markdown(fit_automatic(fit_sets, checks, models_dir=args.models))
    return markdown_table(run(args.data, args.split, args.count, tuple(args.hints), args.out, args.models,
                              photos=not args.no_photos, methods=args.methods, authored=args.authored))


BENCHMARKS.add("colorize", Benchmark("colorizers with 0/1/10/100 hints on the test split and on photos", main,
                                     options, __doc__, crops=regression_crops))
