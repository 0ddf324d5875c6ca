"""Colorize benchmark: every method on the same grey images and the same hints, one table, JSON + Markdown + a
crops grid.

    python -m bench colorize --data ~/.cache/postpass/data --split test --hints 0 1 10 100 --out out/bench
    python -m bench colorize --data ~/.cache/postpass/data_palette --split palette_test --out out/bench_palette

The second form measures on natural-palette renders (``ml_core.data build --preset palette``), whose colours
follow from what the grey image shows: there automatic colour can beat grey by more than a hair.

Images: the split's target renders tone-mapped to sRGB by the protocol's tone map (``addon.runtime.color.tonemap``,
each at its own exposure), and four photos bundled with scikit-image (``astronaut``, ``coffee``, ``chelsea``,
``rocket``; read offline from its wheel), shrunk so the long side is 256 px. The grey input is what the runtime
feeds a colorizer for that image: the Rec.709 luminance of the linear colour (sRGB-encoded at the network).

Hints are sampled from the ground truth with a fixed seed per image, nested (the 10 hints are the first 10 of
the 100): uniform random positions, alternately a 1-px point (the colour there) and a 3x3 patch (its mean colour).

Methods: ``grayscale`` (the grey image as RGB: the no-colour baseline), ``levin`` (hints spread by Levin et
al. 2004's optimisation, ``bench.peers.levin_colorize``; the grey image when there are no hints) and every
fp32 Postpass colorize model in the registry (``models_dir``; default the shipped ones), run through
``addon.runtime.api.colorize`` exactly as a user would.

Metrics on sRGB [0, 1]: PSNR of RGB; PSNR of CIELAB (a, b) (skimage ``rgb2lab``, D65) with a and b divided by
100 (peak 1); the Hasler-Suesstrunk colourfulness of the result (on 0..255 values; the ground truth's is given
beside it, and grey scores 0); seconds per megapixel on this machine (one pass per image, as denoise's). No
1920x1080 timing: Levin's sparse solve on a 1080p frame is a benchmark of its own.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ml_core.metrics import psnr

from . import core, peers
from .core import BENCHMARKS, Benchmark

KEYS = ("psnr_rgb", "psnr_ab", "colourfulness")

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
PHOTO_SIZE = 256
HINT_COUNTS = (0, 1, 10, 100)
SEED = 2017


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


def photo_images(names=PHOTOS, size: int = PHOTO_SIZE) -> list[tuple[str, np.ndarray]]:
    """(name, sRGB H x W x 3) of scikit-image's bundled photos, long side ``size`` px (area filter)."""
    import cv2
    from skimage import data as skdata

    out = []
    for name in names:
        rgb = getattr(skdata, name)()[..., :3].astype(np.float32) / 255.0
        h, w = rgb.shape[:2]
        f = size / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        out.append((name, np.clip(rgb, 0.0, 1.0).astype(np.float32)))
    return out


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
        def run(gray, hints, mask):
            given = bool(mask.any())
            out = api.colorize(srgb_decode(gray)[..., None], hints=srgb_decode(hints) if given else None,
                               mask=mask if given else None, model=name, models_dir=models_dir)
            return srgb_encode(out[..., :3])
        return lambda: run

    makers = {"grayscale": lambda: lambda g, h, m: np.repeat(g[..., None], 3, -1),
              "levin": lambda: lambda g, h, m: peers.levin_colorize(g, h, m)}
    for entry in core.models("colorize", models_dir):
        makers[f"postpass {entry.name}"] = model(entry.name)
    return core.choose(makers, names)


# ----------------------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------------------
def run(root, split: str = "test", count: int | None = None, hints=HINT_COUNTS, out=None, models_dir=None,
        photos: bool = True, methods: list[str] | None = None, seed: int = SEED, grid_images: int = 2,
        log=print) -> dict:
    """Run every method on the split's renders (first ``count``) and, with ``photos``, the four photos, at each
    number of ``hints``; returns the result dict and, with ``out``, writes colorize.json, colorize.md and
    colorize_crops.png there."""
    hints = tuple(int(n) for n in hints)
    if any(n < 0 for n in hints):
        raise ValueError(f"hint counts must be >= 0, not {list(hints)}")
    sets = {"renders": render_images(root, split, count)}
    if not sets["renders"]:
        raise ValueError(f"{root}: no complete scenes in split {split!r}")
    if photos:
        sets["photos"] = photo_images()
    runs = colorize_methods(models_dir, methods)
    scores, reference = core.Scores(), {}
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
                row, metrics = scores.run(
                    runs, lambda _, fn: np.clip(np.asarray(fn(gray, hint, mask), np.float32)[..., :3], 0.0, 1.0),
                    lambda result: image_metrics(result, target), (set_name, n), gray.size)
                if i < grid_images and n in shown:
                    grid.rows.append([hint_overlay(gray, hint, mask)] + row + [target])
                    # colourfulness beside PSNR: the no-hint target asks for both, so the grid shows both
                    grid.captions.append([f"{n} hints"] + [f"{m['psnr_rgb']:.1f} dB  C {m['colourfulness']:.1f}"
                                                           for m in metrics] + [f"C {target_colourfulness[i]:.1f}"])
                    grid.row_labels.append(name)
            log(f"{set_name} {name}: done ({i + 1}/{len(images)})")

    table = {s: {m: {str(n): scores.mean(m, (s, n), KEYS) for n in hints} for m in runs} for s in sets}
    result = {"task": "colorize", "split": split, "scenes": len(sets["renders"]),
              "photos": [name for name, _ in sets.get("photos", [])], "hints": list(hints), "seed": seed,
              "metrics": table, "colourfulness_reference": reference,
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
    """The issue's targets, checked for every Postpass model (RGB PSNR, dB): 10 hints >= no hints + 3,
    100 hints >= no hints + 6, above levin at 10 and 100 hints (renders and photos), and on renders no hints
    >= grayscale (to 0.001 dB) with more colour than grey. Only the checks whose hint counts were run."""
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
            if set_name == "renders" and 0 in p and "grayscale" in by_method:
                # within float rounding (an untrained model returns the grey image through sRGB round trips)
                c["no hints >= grayscale"] = p[0] >= by_method["grayscale"]["0"]["psnr_rgb"] - 1e-3
                c["no hints more colourful than grayscale"] = (
                    by_n["0"]["colourfulness"] > by_method["grayscale"]["0"]["colourfulness"] + 0.5)
            checks.setdefault(method, {})[set_name] = c
    return checks


def markdown_table(result: dict) -> str:
    hints = result["hints"]
    parts = [f"Colorize: {result['scenes']} {result['split']}-split renders (tone-mapped) and "
             f"{len(result['photos'])} photos ({', '.join(result['photos']) or 'none'}); hints sampled from the "
             f"ground truth (seed {result['seed']}). Cells: RGB PSNR (dB) / CIELAB ab PSNR (dB, ab/100) / "
             f"colourfulness (Hasler-Suesstrunk); seconds per megapixel on this CPU.\n"]
    for set_name, by_method in result["metrics"].items():
        parts.append(f"\n**{set_name}** (ground-truth colourfulness "
                     f"{result['colourfulness_reference'][set_name]:.1f})\n")
        rows = [[method] + [f"{by_n[str(n)]['psnr_rgb']:.2f} / {by_n[str(n)]['psnr_ab']:.2f} / "
                            f"{by_n[str(n)]['colourfulness']:.1f}" for n in hints] +
                [f"{result['seconds_per_megapixel'][method]:.2f}"] for method, by_n in by_method.items()]
        parts.append(core.markdown_table(["method"] + [f"{n} hint{'' if n == 1 else 's'}" for n in hints] +
                                         ["s / MP"], rows))
    for method, by_set in result.get("targets", {}).items():
        for set_name, checks in by_set.items():
            if checks:
                text = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items())
                parts.append(f"\n{method} targets on {set_name}: {text}\n")
    return "".join(parts)


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
    core.add_options(p, hd=False)
    p.add_argument("--hints", type=int, nargs="+", default=list(HINT_COUNTS), help="hint counts (default: 0 1 10 100)")
    p.add_argument("--no-photos", action="store_true", help="renders only (skip scikit-image's photos)")


def main(args) -> str:
    return markdown_table(run(args.data, args.split, args.count, tuple(args.hints), args.out, args.models,
                              photos=not args.no_photos, methods=args.methods))


BENCHMARKS.add("colorize", Benchmark("colorizers with 0/1/10/100 hints on the test split and on photos", main,
                                     options, __doc__, crops=regression_crops))
