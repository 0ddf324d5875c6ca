"""Benchmarks: every method measured in one run on the same inputs, one table, JSON + Markdown + a crops grid.

    python -m ml_core.evaluate denoise --data ~/.cache/postpass/data --split test --spp 1 4 16
    python -m ml_core.evaluate upres --scales 2 4          (see ml_core.bench_upres)
    python -m ml_core.evaluate colorize --hints 0 1 10 100 (see ml_core.bench_colorize)
    python -m ml_core.evaluate inbetween                    (see ml_core.bench_inbetween)
    python -m ml_core.evaluate inbetween --anim ~/.cache/postpass/data_anim5:anim_test --anim ~/.cache/postpass/data_anim4:anim_test

Denoise methods: the noisy input, OpenCV non-local means, Blender's built-in OIDN through the compositor
(albedo + normal; Accurate prefilter + High quality, and Fast + Fast), OIDN through ``pyoidn`` (High) when it
is installed, and every Postpass denoise model in the registry (``--models DIR``; default the shipped ones).
Metrics follow the protocol in ``ml_core.metrics``: tone-mapped PSNR / SSIM and linear relMSE against the
test split's targets, per spp; seconds per megapixel on this machine; and one 1920x1080 frame's seconds
(best of 3, methods taking turns).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import bench_colorize, bench_inbetween, bench_upres, data, paths, peers
from .metrics import render_metrics


def denoise_methods(models_dir: Path | None = None, names: list[str] | None = None) -> dict:
    """name -> callable(color, albedo, normal) -> colour, for every method available here (or those ``names``).

    Methods are made only once chosen: Blender's OIDN peers set up Blender, which a run without them skips.
    """
    from addon.runtime import api
    from addon.runtime.registry import Registry

    makers = {"noisy": lambda: lambda c, a, n: c, "opencv-nlm": lambda: peers.opencv_nlm,
              "blender-oidn (accurate, high)": lambda: peers.BlenderOIDN("Accurate", "High"),
              "blender-oidn (fast, fast)": lambda: peers.BlenderOIDN("Fast", "Fast")}
    if peers.pyoidn_available():
        makers["pyoidn (high)"] = lambda: peers.pyoidn_denoise
    for entry in Registry(models_dir).entries.values():
        if entry.contract.task == "denoise" and entry.precision == "fp32":
            makers[f"postpass {entry.name}"] = lambda _name=entry.name: (
                lambda c, a, n: api.denoise(c, albedo=a, normal=n, model=_name, models_dir=models_dir))
    if names:
        unknown = set(names) - set(makers)
        if unknown:
            raise ValueError(f"unknown or unavailable methods {sorted(unknown)}; have {sorted(makers)}")
    return {name: make() for name, make in makers.items() if not names or name in names}


def bench_denoise(root: Path, split: str = "test", spp: tuple[int, ...] = (1, 4, 16), count: int | None = None,
                  out: Path | None = None, models_dir: Path | None = None, methods: list[str] | None = None,
                  hd_timing: bool = True, log=print) -> dict:
    from addon.runtime.color import exposure_scale, tonemap
    from addon.runtime.exr import read_exr

    from .figures import image_grid

    scenes = data.complete_scenes(root, split)[:count]
    if not scenes:
        raise ValueError(f"{root}: no complete scenes in split {split!r}")
    runs = denoise_methods(models_dir, methods)
    per = defaultdict(list)  # (method, spp) -> list of metric dicts
    seconds, pixels = defaultdict(float), defaultdict(int)
    crops = []
    for i, scene in enumerate(scenes):
        target = read_exr(scene / "target.exr").get("Combined")[..., :3]
        for s in spp:
            noisy = read_exr(scene / f"noisy_spp{s:04d}.exr")
            color, albedo, normal = (noisy.get("Combined")[..., :3], noisy.get("Denoising Albedo"),
                                     noisy.get("Denoising Normal"))
            row = []
            for name, fn in runs.items():
                start = time.perf_counter()
                result = fn(color, albedo, normal)
                seconds[name] += time.perf_counter() - start
                pixels[name] += color.shape[0] * color.shape[1]
                per[name, s].append(render_metrics(result, target))
                row.append(result)
            if i < 4 and s == spp[len(spp) // 2]:
                scale = exposure_scale(target)
                crops.append([tonemap(r, scale) for r in row] + [tonemap(target, scale)])
        log(f"scene {scene.name}: done ({i + 1}/{len(scenes)})")

    table = {name: {str(s): {k: float(np.mean([m[k] for m in per[name, s]])) for k in ("psnr", "ssim", "relmse")}
                    for s in spp} for name in runs}
    result = {"task": "denoise", "split": split, "scenes": len(scenes), "spp": list(spp), "metrics": table,
              "seconds_per_megapixel": {n: seconds[n] / (pixels[n] / 1e6) for n in runs},
              # per scene, in ``scene_names`` order: where a method loses, not only by how much on average
              "scene_names": [scene.name for scene in scenes],
              "per_scene_psnr": {name: {str(s): [m["psnr"] for m in per[name, s]] for s in spp} for name in runs},
              # relMSE is a mean of ratios: one scene's dark-neighbour halo can carry it
              "per_scene_relmse": {name: {str(s): [m["relmse"] for m in per[name, s]] for s in spp} for name in runs}}
    if hd_timing:
        result["seconds_1920x1080"] = _hd_timing(runs, scenes[0], log)
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "denoise.json").write_text(json.dumps(result, indent=1))
        (out / "denoise.md").write_text(markdown_table(result))
        image_grid(crops, list(runs) + ["reference"], out / "denoise_crops.png", cell=160)
        log(f"wrote {out / 'denoise.json'}, {out / 'denoise.md'}, {out / 'denoise_crops.png'}")
    return result


def _hd_timing(runs: dict, scene: Path, log, repeats: int = 3) -> dict[str, float]:
    """Best-of-``repeats`` seconds for one 1920x1080 frame (a test render resized up: the content does not
    change the cost), the methods taking turns: one pass each right after Blender's peers measured pyoidn up to
    1.9x slow, as the machine's clocks and caches settle."""
    import cv2

    from addon.runtime.exr import read_exr

    noisy = read_exr(scene / "noisy_spp0004.exr") if (scene / "noisy_spp0004.exr").exists() else \
        read_exr(sorted(scene.glob("noisy_spp*.exr"))[0])
    big = {k: cv2.resize(noisy.get(p)[..., :3], (1920, 1080), interpolation=cv2.INTER_NEAREST)
           for k, p in (("c", "Combined"), ("a", "Denoising Albedo"), ("n", "Denoising Normal"))}
    timings = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            if name == "noisy":
                continue
            start = time.perf_counter()
            fn(big["c"], big["a"], big["n"])
            timings[name] = min(timings.get(name, float("inf")), time.perf_counter() - start)
    for name, seconds in timings.items():
        log(f"1920x1080 {name}: {seconds:.2f} s (best of {repeats})")
    return timings


def markdown_table(result: dict) -> str:
    spp = result["spp"]
    head = "| method | " + " | ".join(f"{s} spp PSNR / SSIM / relMSE" for s in spp) + " | s / MP | s per 1080p |"
    lines = [head, "|" + "---|" * (len(spp) + 3)]
    hd = result.get("seconds_1920x1080", {})
    for name, by_spp in result["metrics"].items():
        cells = [f"{by_spp[str(s)]['psnr']:.2f} / {by_spp[str(s)]['ssim']:.4f} / {by_spp[str(s)]['relmse']:.4f}"
                 for s in spp]
        timing = f"{hd[name]:.2f}" if name in hd else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {result['seconds_per_megapixel'][name]:.2f} | {timing} |")
    return (f"Denoise, {result['split']} split, {result['scenes']} scenes; tone-mapped PSNR (dB) / SSIM, "
            f"linear relMSE against the target; seconds on this CPU.\n\n" + "\n".join(lines) + "\n")


def regression_crops(root: Path, out: Path, split: str = "test", count: int = 8, size: int = 64,
                     spp: int = 4) -> list[Path]:
    """Small fixed denoise cases for the shipped-model quality test: the centre ``size`` px of the first
    ``count`` scenes of ``split`` at ``spp``, one half-float EXR each (noisy Combined, its albedo and normal,
    and the target as a ``Reference`` pass)."""
    from addon.runtime.exr import read_exr, write_exr

    scenes = data.complete_scenes(root, split)[:count]
    if len(scenes) < count:
        raise ValueError(f"{root}: split {split!r} has {len(scenes)} complete scenes, {count} asked")
    written = []
    for scene in scenes:
        noisy, target = read_exr(scene / f"noisy_spp{spp:04d}.exr"), read_exr(scene / "target.exr")
        h, w = noisy.size
        y, x = (h - size) // 2, (w - size) // 2

        def crop(a):
            return np.clip(a[y:y + size, x:x + size], -60000, 60000)  # half-float range

        path = Path(out) / f"{scene.name}_spp{spp:04d}.exr"
        write_exr(path, {"Combined": crop(noisy.get("Combined")), "Denoising Albedo": crop(noisy.get("Denoising Albedo")),
                         "Denoising Normal": crop(noisy.get("Denoising Normal")),
                         "Reference": crop(target.get("Combined"))}, half=True)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ml_core.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="task", required=True)
    d = sub.add_parser("denoise", help="denoisers on the test split at several spp")
    d.add_argument("--data", type=Path, default=paths.cache_dir() / "data")
    d.add_argument("--split", default="test")
    d.add_argument("--spp", type=int, nargs="+", default=[1, 4, 16])
    d.add_argument("--count", type=int, default=None, help="first N scenes only")
    d.add_argument("--models", type=Path, default=None, help="model registry folder (default: shipped models)")
    d.add_argument("--methods", nargs="+", default=None, help="only these methods (names as in the table)")
    d.add_argument("--no-hd", action="store_true", help="skip the 1920x1080 timing")
    d.add_argument("--out", type=Path, default=Path("out/bench"))
    u = sub.add_parser("upres", help="up-res methods on the test split's low-res renders and on Set5")
    u.add_argument("--data", type=Path, default=paths.cache_dir() / "data")
    u.add_argument("--split", default="test")
    u.add_argument("--scales", type=int, nargs="+", default=[2, 4], choices=[2, 4])
    u.add_argument("--count", type=int, default=None, help="first N scenes only")
    u.add_argument("--models", type=Path, default=None, help="model registry folder (default: shipped models)")
    u.add_argument("--set5", type=Path, default=bench_upres.SET5, help="Set5 folder (skipped when missing)")
    u.add_argument("--no-hd", action="store_true", help="skip the 1920x1080 -> 3840x2160 timing")
    u.add_argument("--out", type=Path, default=Path("out/bench"))
    bench_colorize.add_arguments(sub.add_parser(
        "colorize", help="colorizers with 0/1/10/100 hints on the test split and on photos"))
    ib = sub.add_parser("inbetween", help="inbetweeners on the test split's frame triplets")
    ib.add_argument("--data", type=Path, default=paths.cache_dir() / "data")
    ib.add_argument("--split", default="test")
    ib.add_argument("--count", type=int, default=None, help="first N scenes only")
    ib.add_argument("--models", type=Path, default=None, help="model registry folder (default: shipped models)")
    ib.add_argument("--no-hd", action="store_true", help="skip the 1920x1080 timing")
    ib.add_argument("--anim", action="append", default=[], metavar="DIR:SPLIT",
                    help="also score per t on a longer-animation dataset (e.g. ~/.cache/postpass/data_anim5:anim_test;"
                         " repeatable); writes inbetween_t.json / .md")
    ib.add_argument("--anim-count", type=int, default=None, help="first N scenes of each --anim source")
    ib.add_argument("--only-t", action="store_true", help="only the per-t table (skip the test-split triplets)")
    ib.add_argument("--out", type=Path, default=Path("out/bench"))
    c = sub.add_parser("crops", help="write the fixed crops the shipped-model quality tests use")
    c.add_argument("--task", dest="task_of_crops", choices=["denoise", "upres", "colorize"], default="denoise")
    c.add_argument("--data", type=Path, default=paths.cache_dir() / "data")
    c.add_argument("--split", default="test")
    c.add_argument("--count", type=int, default=8)
    c.add_argument("--out", type=Path, default=None, help="default: tests/data/TASK")
    args = p.parse_args(argv)
    if args.task == "crops":
        make = {"denoise": regression_crops, "upres": bench_upres.regression_crops,
                "colorize": bench_colorize.regression_crops}[args.task_of_crops]
        for path in make(args.data, args.out or Path("tests/data") / args.task_of_crops, args.split, args.count):
            print(path)
        return 0
    if args.task == "colorize":
        return bench_colorize.run_from_args(args)
    if args.task == "inbetween":
        try:
            sources = []
            for item in args.anim:
                folder, sep, split = item.rpartition(":")
                if not sep or not folder:
                    raise ValueError(f"--anim {item!r}: expected DIR:SPLIT")
                sources.append((Path(folder).expanduser(), split))
            if not args.only_t:
                result = bench_inbetween.bench_inbetween(args.data, args.split, args.count, args.out, args.models,
                                                         hd_timing=not args.no_hd)
                print(bench_inbetween.markdown_table(result))
            if sources:
                per_t = bench_inbetween.bench_inbetween_t(sources, args.anim_count, args.models)
                table = bench_inbetween.markdown_table_t(per_t)
                if args.out:
                    args.out.mkdir(parents=True, exist_ok=True)
                    (args.out / "inbetween_t.json").write_text(json.dumps(per_t, indent=1))
                    (args.out / "inbetween_t.md").write_text(table)
                print(table)
        except (ValueError, OSError) as exc:
            print(f"postpass-evaluate: error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.task == "upres":
        try:
            result = bench_upres.bench_upres(args.data, args.split, tuple(args.scales), args.count, args.out,
                                             args.models, args.set5, hd_timing=not args.no_hd)
        except (ValueError, OSError) as exc:
            print(f"postpass-evaluate: error: {exc}", file=sys.stderr)
            return 2
        print(bench_upres.markdown_table(result))
        return 0
    try:
        result = bench_denoise(args.data, args.split, tuple(args.spp), args.count, args.out, args.models,
                               args.methods, hd_timing=not args.no_hd)
    except (ValueError, OSError) as exc:
        print(f"postpass-evaluate: error: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
