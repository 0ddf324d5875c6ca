"""Denoise benchmark: every denoiser on the test split at several spp, one table, JSON + Markdown + a crops grid.

    python -m bench denoise --data ~/.cache/postpass/data --split test --spp 1 4 16 --out out/bench

Methods: the noisy input, OpenCV non-local means, Blender's built-in OIDN through the compositor (albedo +
normal; Accurate prefilter + High quality, and Fast + Fast), OIDN through ``pyoidn`` (High) when it is
installed, and every Postpass denoise model in the registry (``--models DIR``; default the shipped ones).
Metrics follow the protocol in ``ml_core.metrics``: tone-mapped PSNR / SSIM and linear relMSE against the
test split's targets, per spp; seconds per megapixel on this machine; and one 1920x1080 frame's seconds
(best of 3, methods taking turns: ``bench.core.best_of``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ml_core.metrics import render_metrics

from . import core, peers
from .core import BENCHMARKS, Benchmark

KEYS = ("psnr", "ssim", "relmse")


def denoise_methods(models_dir: Path | None = None, names: list[str] | None = None) -> dict:
    """name -> callable(color, albedo, normal) -> colour, for every method available here (or those ``names``).

    Methods are made only once chosen: Blender's OIDN peers set up Blender, which a run without them skips.
    """
    from addon.runtime import api

    makers = {"noisy": lambda: lambda c, a, n: c, "opencv-nlm": lambda: peers.opencv_nlm,
              "blender-oidn (accurate, high)": lambda: peers.BlenderOIDN("Accurate", "High"),
              "blender-oidn (fast, fast)": lambda: peers.BlenderOIDN("Fast", "Fast")}
    if peers.pyoidn_available():
        makers["pyoidn (high)"] = lambda: peers.pyoidn_denoise
    for entry in core.models("denoise", models_dir):
        makers[f"postpass {entry.name}"] = lambda _name=entry.name: (
            lambda c, a, n: api.denoise(c, albedo=a, normal=n, model=_name, models_dir=models_dir))
    return core.choose(makers, names)


def run(root: Path, split: str = "test", spp: tuple[int, ...] = (1, 4, 16), count: int | None = None,
        out: Path | None = None, models_dir: Path | None = None, methods: list[str] | None = None,
        hd_repeats: int = core.HD_REPEATS, log=print) -> dict:
    """Every method on the first ``count`` scenes of ``split`` at each ``spp``; the 1920x1080 timing unless
    ``hd_repeats`` is 0. Returns the result and, with ``out``, writes denoise.json, denoise.md and
    denoise_crops.png there."""
    from addon.runtime.color import exposure_scale, tonemap
    from addon.runtime.exr import read_exr

    scenes = core.scenes(root, split, count)
    runs = denoise_methods(models_dir, methods)
    scores, grid = core.Scores(), core.Grid(list(runs) + ["reference"])
    for i, scene in enumerate(scenes):
        target = read_exr(scene / "target.exr").get("Combined")[..., :3]
        for s in spp:
            noisy = read_exr(scene / f"noisy_spp{s:04d}.exr")
            color, albedo, normal = (noisy.get("Combined")[..., :3], noisy.get("Denoising Albedo"),
                                     noisy.get("Denoising Normal"))
            row, _ = scores.run(runs, lambda name, fn: fn(color, albedo, normal),
                                lambda result: render_metrics(result, target), s, color.shape[0] * color.shape[1])
            if i < 4 and s == spp[len(spp) // 2]:
                scale = exposure_scale(target)
                grid.rows.append([tonemap(r, scale) for r in row] + [tonemap(target, scale)])
        log(f"scene {scene.name}: done ({i + 1}/{len(scenes)})")

    result = {"task": "denoise", "split": split, "scenes": len(scenes), "spp": list(spp),
              "metrics": {name: {str(s): scores.mean(name, s, KEYS) for s in spp} for name in runs},
              "seconds_per_megapixel": scores.seconds_per_megapixel(runs),
              # per scene, in ``scene_names`` order: where a method loses, not only by how much on average
              "scene_names": [scene.name for scene in scenes],
              "per_scene_psnr": {name: {str(s): scores.each(name, s, "psnr") for s in spp} for name in runs},
              # relMSE is a mean of ratios: one scene's dark-neighbour halo can carry it
              "per_scene_relmse": {name: {str(s): scores.each(name, s, "relmse") for s in spp} for name in runs}}
    if hd_repeats:
        result["seconds_1920x1080"] = hd_timing(runs, scenes[0], hd_repeats, log)
    if out:
        core.write_reports(out, "denoise", result, markdown_table(result), {"denoise_crops.png": grid}, log)
    return result


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


def markdown_table(result: dict) -> str:
    spp, hd = result["spp"], result.get("seconds_1920x1080", {})
    rows = [[name] + [f"{by_spp[str(s)]['psnr']:.2f} / {by_spp[str(s)]['ssim']:.4f} / {by_spp[str(s)]['relmse']:.4f}"
                      for s in spp] + [f"{result['seconds_per_megapixel'][name]:.2f}", core.seconds(hd, name)]
            for name, by_spp in result["metrics"].items()]
    table = core.markdown_table(["method"] + [f"{s} spp PSNR / SSIM / relMSE" for s in spp] +
                                ["s / MP", "s per 1080p"], rows)
    return (f"Denoise, {result['split']} split, {result['scenes']} scenes; tone-mapped PSNR (dB) / SSIM, "
            f"linear relMSE against the target; seconds on this CPU.\n\n" + table)


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
    core.add_options(p)
    p.add_argument("--spp", type=int, nargs="+", default=[1, 4, 16], help="noisy inputs' spp (default: 1 4 16)")


def main(args) -> str:
    return markdown_table(run(args.data, args.split, tuple(args.spp), args.count, args.out, args.models,
                              args.methods, core.hd_repeats(args)))


BENCHMARKS.add("denoise", Benchmark("denoisers on the test split at several spp", main, options, __doc__,
                                    crops=regression_crops))
