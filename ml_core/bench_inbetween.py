"""Inbetween benchmark: the middle frame of the test split's rendered triplets from its two neighbours.

    python -m ml_core.evaluate inbetween --data ~/.cache/postpass/data --split test

Each test scene holds animation frames 1, 2 and 3 (32 spp + OIDN, with Vector passes); every method makes
frame 2 from frames 1 and 3 (t = 0.5; the frames are two steps apart, as when rendering every other frame) and
is scored against the rendered frame 2: tone-mapped PSNR / SSIM (``ml_core.metrics``). Methods: the frame
blend, OpenCV's DIS optical flow warped from both sides, the plain Vector-pass warp from both sides
(``ml_core.flow.vector_blend``), and every Postpass inbetween model in the registry (with vectors when it
takes them). Plus seconds for one 1920x1080 frame on this machine.

Per t (``--anim DIR:SPLIT``, repeatable; :func:`bench_inbetween_t`): scenes with longer animations (the
``anim4`` / ``anim5`` render presets: frames 1..F, first-to-last motion as in the 3-frame scenes) give every
inner frame k from frames 1 and F at t = (k - 1) / (F - 1): 1/4, 1/2, 3/4 from 5 frames, 1/3, 2/3 from 4.
Every method gets the vectors scaled by (F - 1) / 2, the convention of the models' contract (frames two steps
apart, ``ml_core.datasets.inbetween.KEY_STEPS``); for the vector-pass warp that is the same as the raw vectors
over F - 1 steps.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import data
from .datasets.inbetween import KEY_STEPS
from .flow import sample, vector_blend
from .metrics import render_metrics


def dis_inbetween(frame0: np.ndarray, frame1: np.ndarray, t: float = 0.5, by_size: bool = False) -> np.ndarray:
    """OpenCV DIS optical flow (medium preset) on the tone-mapped frames, each frame warped to ``t`` along its
    own flow (the same backward-warp approximation as the vector baseline) and blended by closeness in time.
    ``by_size``: the flow the image-only model reads (``addon.runtime.estimate``: full resolution on small
    frames); off, OpenCV's preset as it is."""
    from addon.runtime.estimate import optical_flow

    ahead = sample(frame0, -t * optical_flow(frame0, frame1, by_size))
    behind = sample(frame1, -(1.0 - t) * optical_flow(frame1, frame0, by_size))
    return (1.0 - t) * ahead + t * behind


def inbetween_methods(models_dir: Path | None = None, threads: int | None = None) -> dict:
    """name -> callable(frame0, frame1, vectors0, vectors1, depth0, depth1, t) -> frame at t (linear H x W x 3).

    Models get what their contract takes: vectors and (Denoising) depth when they read them, as the
    ``postpass inbetween`` command feeds them from the EXR passes."""
    from addon.runtime import api
    from addon.runtime.registry import Registry

    methods = {"frame blend": lambda f0, f1, v0, v1, d0, d1, t: (1.0 - t) * f0 + t * f1,
               "DIS optical flow": lambda f0, f1, v0, v1, d0, d1, t: dis_inbetween(f0, f1, t),
               "DIS optical flow (finest scale by size)":
                   lambda f0, f1, v0, v1, d0, d1, t: dis_inbetween(f0, f1, t, by_size=True),
               "vector-pass warp": lambda f0, f1, v0, v1, d0, d1, t: vector_blend(f0, v0, f1, v1, t, steps=2)}
    for entry in sorted(Registry(models_dir).entries.values(), key=lambda e: e.name):
        if entry.contract.task != "inbetween" or entry.precision != "fp32":
            continue
        takes = {i.name for i in entry.contract.image_inputs}

        def run(f0, f1, v0, v1, d0, d1, t, _n=entry.name, _takes=takes):
            given = {"frame0": f0, "frame1": f1, "t": t, "vectors0": v0, "vectors1": v1, "depth0": d0, "depth1": d1}
            inputs = {k: v for k, v in given.items() if k in _takes or k == "t"}
            return api.run("inbetween", inputs, model=_n, models_dir=models_dir, threads=threads).image

        methods[f"postpass {entry.name}"] = run
    return methods


def _triplet(files: list[Path]) -> tuple[np.ndarray, ...]:
    """(frame0, frame1, vectors0, vectors1, depth0, depth1, middle frame) from three render files."""
    from addon.runtime.exr import read_exr

    first, middle, last = (read_exr(f) for f in files)
    return (first.get("Combined")[..., :3], last.get("Combined")[..., :3], first.get("Vector"), last.get("Vector"),
            first.get("Denoising Depth"), last.get("Denoising Depth"), middle.get("Combined")[..., :3])


def bench_inbetween(root: Path, split: str = "test", count: int | None = None, out: Path | None = None,
                    models_dir: Path | None = None, hd_timing: bool = True, log=print) -> dict:
    from addon.runtime.color import exposure_scale, tonemap

    from .figures import image_grid

    scenes = data.complete_scenes(root, split)[:count]
    if not scenes:
        raise ValueError(f"{root}: no complete scenes in split {split!r}")
    methods = inbetween_methods(models_dir)
    per, seconds, pixels, rows, row_labels = defaultdict(list), defaultdict(float), defaultdict(int), [], []
    for i, scene in enumerate(scenes):
        *inputs, target = _triplet([scene / f"frame_{k:04d}.exr" for k in (1, 2, 3)])
        row = []
        for name, fn in methods.items():
            start = time.perf_counter()
            result = fn(*inputs, 0.5)
            seconds[name] += time.perf_counter() - start
            pixels[name] += target.shape[0] * target.shape[1]
            per[name].append(render_metrics(result, target))
            row.append(result)
        if i < 4:
            s = exposure_scale(target)
            rows.append([tonemap(r, s) for r in row] + [tonemap(target, s)])
            row_labels.append(scene.name)
    result = {"task": "inbetween", "split": split, "scenes": len(scenes), "t": 0.5, "frame_step": 2,
              "metrics": {n: {k: float(np.mean([m[k] for m in per[n]])) for k in ("psnr", "ssim")} for n in methods},
              "psnr_per_scene": {n: [round(m["psnr"], 2) for m in per[n]] for n in methods},
              "seconds_per_megapixel": {n: seconds[n] / (pixels[n] / 1e6) for n in methods}}
    log(", ".join(f"{n} {v['psnr']:.2f}" for n, v in result["metrics"].items()))
    if hd_timing:
        result["seconds_1920x1080"] = _hd_timing(methods, scenes[0], log)
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "inbetween.json").write_text(json.dumps(result, indent=1))
        (out / "inbetween.md").write_text(markdown_table(result))
        image_grid(rows, list(methods) + ["rendered frame 2"], out / "inbetween_crops.png", cell=160,
                   row_labels=row_labels)
        log(f"wrote {out / 'inbetween.json'}, {out / 'inbetween.md'}, {out / 'inbetween_crops.png'}")
    return result


def _fraction(t: float) -> str:
    return str(Fraction(t).limit_denominator(64))


def bench_inbetween_t(sources: list[tuple[Path, str]], count: int | None = None, models_dir: Path | None = None,
                      log=print) -> dict:
    """PSNR / SSIM per t of every method on the inner frames of longer animations. ``sources``: (dataset folder,
    split) pairs, the first ``count`` complete scenes of each."""
    from addon.runtime.exr import read_exr

    methods = inbetween_methods(models_dir)
    per = defaultdict(lambda: defaultdict(list))  # t -> method -> metrics
    used = []
    for root, split in sources:
        scenes = data.complete_scenes(root, split)[:count]
        if not scenes:
            raise ValueError(f"{root}: no complete scenes in split {split!r}")
        used.append({"data": str(root), "split": split, "scenes": len(scenes)})
        for scene in scenes:
            files = sorted(scene.glob("frame_*.exr"))
            steps = len(files) - 1
            if steps < 2:
                raise ValueError(f"{scene}: {len(files)} animation frames; per-t scores need 3+")
            first, last = read_exr(files[0]), read_exr(files[-1])
            gain = steps / KEY_STEPS
            inputs = (first.get("Combined")[..., :3], last.get("Combined")[..., :3], first.get("Vector") * gain,
                      last.get("Vector") * gain, first.get("Denoising Depth"), last.get("Denoising Depth"))
            for k in range(1, steps):
                t = k / steps
                target = read_exr(files[k]).get("Combined")[..., :3]
                for name, fn in methods.items():
                    per[_fraction(t)][name].append(render_metrics(fn(*inputs, t), target))
    order = sorted(per, key=lambda f: float(Fraction(f)))
    result = {"sources": used, "methods": list(methods),
              "t": {f: {n: {"psnr": float(np.mean([m["psnr"] for m in per[f][n]])),
                            "ssim": float(np.mean([m["ssim"] for m in per[f][n]])), "frames": len(per[f][n])}
                        for n in methods} for f in order}}
    for f in order:
        log(f"t = {f}: " + ", ".join(f"{n} {v['psnr']:.2f}" for n, v in result["t"][f].items()))
    return result


def markdown_table_t(result: dict) -> str:
    """One row per t, one column per method: PSNR / SSIM."""
    methods = result["methods"]
    where = "; ".join(f"{s['data']} {s['split']} ({s['scenes']} scenes)" for s in result["sources"])
    lines = [f"Inbetween per t, {where}: inner frames from the first and last, tone-mapped PSNR (dB) / SSIM.", "",
             "| t | frames | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for f, row in result["t"].items():
        frames = next(iter(row.values()))["frames"]
        lines.append(f"| {f} | {frames} | " + " | ".join(f"{row[n]['psnr']:.2f} / {row[n]['ssim']:.4f}"
                                                      for n in methods) + " |")
    return "\n".join(lines) + "\n"


def _hd_inputs(scene: Path) -> tuple[np.ndarray, ...]:
    """(frame0, frame1, vectors0, vectors1, depth0, depth1) of a test triplet resized to 1920x1080 (vectors scaled
    with it)."""
    import cv2

    from addon.runtime.exr import read_exr

    first, last = read_exr(scene / "frame_0001.exr"), read_exr(scene / "frame_0003.exr")
    h, w = first.size
    big = lambda a: cv2.resize(a, (1920, 1080), interpolation=cv2.INTER_LINEAR).reshape(1080, 1920, -1)  # noqa: E731
    return (big(first.get("Combined")[..., :3]), big(last.get("Combined")[..., :3]),
            big(first.get("Vector")) * (1920 / w), big(last.get("Vector")) * (1920 / w),
            big(first.get("Denoising Depth")), big(last.get("Denoising Depth")))


def _hd_timing(methods: dict, scene: Path, log) -> dict[str, float]:
    """Seconds for one 1920x1080 frame (a test triplet resized; vectors scaled with it)."""
    inputs = _hd_inputs(scene)
    timings = {}
    for name, fn in methods.items():
        start = time.perf_counter()
        fn(*inputs, 0.5)
        timings[name] = time.perf_counter() - start
        log(f"1920x1080 {name}: {timings[name]:.2f} s")
    return timings


def hd_cpu_seconds(root: Path, split: str = "test", models_dir: Path | None = None, log=print) -> dict[str, float]:
    """CPU seconds of one thread for one 1920x1080 frame per method (the first test triplet resized): a figure
    other jobs on the machine change far less than wall-clock seconds (runs here spread by about 15%). onnxruntime runs with one thread,
    OpenCV too; each method's second call is timed (the first loads the model)."""
    import cv2

    cv2.setNumThreads(1)
    inputs = _hd_inputs(data.complete_scenes(root, split)[0])
    methods = {k: v for k, v in inbetween_methods(models_dir, threads=1).items() if k != "frame blend"}
    timings = {}
    for name, fn in methods.items():
        fn(*inputs, 0.5)
        start = time.process_time()
        fn(*inputs, 0.5)
        timings[name] = time.process_time() - start
        log(f"1920x1080 {name}: {timings[name]:.2f} CPU s (one thread)")
    return timings


def markdown_table(result: dict) -> str:
    hd = result.get("seconds_1920x1080", {})
    lines = [f"Inbetween, {result['split']} split, {result['scenes']} scenes: frame 2 from frames 1 and 3 (t = 0.5), "
             f"tone-mapped PSNR (dB) / SSIM against the rendered frame 2; seconds on this CPU.", "",
             "| method | PSNR / SSIM | s / MP | s per 1080p frame |", "|---|---|---|---|"]
    for n, m in result["metrics"].items():
        timing = f"{hd[n]:.2f}" if n in hd else "-"
        lines.append(f"| {n} | {m['psnr']:.2f} / {m['ssim']:.4f} | {result['seconds_per_megapixel'][n]:.2f} | {timing} |")
    return "\n".join(lines) + "\n"


def regression_crops(root: Path, out: Path, split: str = "test", count: int = 8, size: int = 64) -> list[Path]:
    """Small fixed inbetween cases for the shipped-model quality test: the centre ``size`` px of frames 1, 2 and
    3 of the first ``count`` scenes of ``split``, as ``<scene>_frame1.exr`` ... ``_frame3.exr`` (half-float
    multilayer EXRs with the passes the models read: Combined, Vector, Denoising Depth)."""
    from addon.runtime.exr import read_exr, write_exr

    scenes = data.complete_scenes(root, split)[:count]
    if len(scenes) < count:
        raise ValueError(f"{root}: split {split!r} has {len(scenes)} complete scenes, {count} asked")
    written = []
    for scene in scenes:
        for k in (1, 2, 3):
            frame = read_exr(scene / f"frame_{k:04d}.exr")
            h, w = frame.size
            y, x = (h - size) // 2, (w - size) // 2
            path = Path(out) / f"{scene.name}_frame{k}.exr"
            write_exr(path, {p: np.clip(frame.get(p)[y:y + size, x:x + size], -60000, 60000)  # half-float range
                             for p in ("Combined", "Vector", "Denoising Depth")}, half=True)
            written.append(path)
    return written


def regression_psnr(folder: Path, methods: dict) -> dict[str, float]:
    """Mean tone-mapped PSNR of each of ``methods`` (as :func:`inbetween_methods` gives) on the fixed crops in
    ``folder`` (frame 2 from frames 1 and 3)."""
    scores = defaultdict(list)
    for first in sorted(Path(folder).glob("*_frame1.exr")):
        *inputs, target = _triplet([first.with_name(first.name.replace("_frame1", f"_frame{k}")) for k in (1, 2, 3)])
        for name, fn in methods.items():
            scores[name].append(render_metrics(fn(*inputs, 0.5), target)["psnr"])
    return {name: float(np.mean(v)) for name, v in scores.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m ml_core.bench_inbetween crops [--data DIR] [--out tests/data/inbetween]``: write the crops;
    ``... score [--out DIR]``: every method's mean PSNR on them (the figures ``expected.json`` records);
    ``... hd-cpu``: one-thread CPU seconds per 1920x1080 frame of every method."""
    import argparse

    from . import paths

    p = argparse.ArgumentParser(prog="python -m ml_core.bench_inbetween", description=main.__doc__)
    p.add_argument("action", choices=["crops", "score", "hd-cpu"])
    p.add_argument("--data", type=Path, default=paths.cache_dir() / "data")
    p.add_argument("--split", default="test")
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--models", type=Path, default=None, help="model registry folder (default: shipped models)")
    p.add_argument("--out", type=Path, default=Path("tests/data/inbetween"))
    args = p.parse_args(argv)
    if args.action == "crops":
        for path in regression_crops(args.data, args.out, args.split, args.count):
            print(path)
    elif args.action == "hd-cpu":
        print(json.dumps(hd_cpu_seconds(args.data, args.split, args.models), indent=1))
    else:
        print(json.dumps(regression_psnr(args.out, inbetween_methods(args.models)), indent=1))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
