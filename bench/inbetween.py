"""Inbetween benchmark: the middle frame of the test split's rendered triplets from its two neighbours.

    python -m bench inbetween --data ~/.cache/postpass/data --split test --out out/bench
    python -m bench inbetween --anim ~/.cache/postpass/data_anim5:anim_test --anim ~/.cache/postpass/data_anim4:anim_test
    python -m bench inbetween --hd-cpu        # one-thread CPU seconds per 1920x1080 frame

Each test scene holds animation frames 1, 2 and 3 (32 spp + OIDN, with Vector passes); every method makes
frame 2 from frames 1 and 3 (t = 0.5; the frames are two steps apart, as when rendering every other frame) and
is scored against the rendered frame 2: tone-mapped PSNR / SSIM (``ml_core.metrics``). Methods: the frame
blend, OpenCV's DIS optical flow warped from both sides, the plain Vector-pass warp from both sides
(``ml_core.flow.vector_blend``), and every Postpass inbetween model in the registry (with vectors when it
takes them; a model that also reads the made frame's guide render is ``bench.guided_inbetween``'s). Plus seconds for one 1920x1080 frame on this machine (best of 3, methods taking turns:
``bench.core.best_of``; before the benchmarks shared that code it was one pass of each method).

Per t (``--anim DIR:SPLIT``, repeatable; :func:`run_t`): scenes with longer animations (the ``anim4`` /
``anim5`` render presets: frames 1..F, first-to-last motion as in the 3-frame scenes) give every inner frame k
from frames 1 and F at t = (k - 1) / (F - 1): 1/4, 1/2, 3/4 from 5 frames, 1/3, 2/3 from 4. Every method gets
the vectors scaled by (F - 1) / 2, the convention of the models' contract (frames two steps apart,
``ml_core.datasets.inbetween.KEY_STEPS``); for the vector-pass warp that is the same as the raw vectors over
F - 1 steps. Writes inbetween_t.json / .md.

Real video (``--real-video DIR``, default ``../shared/benchmarks/interp_real`` when it exists; issue 28): the
16 DAVIS triplets of consecutive 480p JPEG frames listed in its ``triplets.csv``, the middle frame made from the
outer two by every method that needs no Vector pass (the frame blend, DIS, and the models that read only the
frames: ``inbetween_image``), the frames given as the command gives an 8-bit image (sRGB decoded to linear) and
the result encoded and rounded to 8 bits, scored as the set's README does: RGB PSNR over the whole frame, and
SSIM. Video, not renders: validation only, never training. ``--only-real`` runs this set alone.
"""
from __future__ import annotations

import json
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from ml_core import paths
from ml_core.datasets.inbetween import KEY_STEPS
from ml_core.flow import sample, vector_blend
from ml_core.metrics import psnr, render_metrics, ssim

from . import core
from .core import BENCHMARKS, Benchmark


REAL_VIDEO = paths.REPO_ROOT.parent / "shared" / "benchmarks" / "interp_real"
#: methods of :func:`inbetween_methods` that read the Vector pass (a real video has none)
VECTOR_METHODS = ("vector-pass warp",)


def dis_inbetween(frame0: np.ndarray, frame1: np.ndarray, t: float = 0.5, by_size: bool = False) -> np.ndarray:
    """OpenCV DIS optical flow (medium preset) on the tone-mapped frames, each frame warped to ``t`` along its
    own flow (the same backward-warp approximation as the vector baseline) and blended by closeness in time.
    ``by_size``: the flow the image-only model reads (``addon.runtime.estimate``: full resolution on small
    frames); off, OpenCV's preset as it is."""
    from addon.runtime.estimate import optical_flow

    ahead = sample(frame0, -t * optical_flow(frame0, frame1, by_size))
    behind = sample(frame1, -(1.0 - t) * optical_flow(frame1, frame0, by_size))
    return (1.0 - t) * ahead + t * behind


def reads_guides(contract) -> bool:
    """Whether an inbetween model reads the made frame's own guide render (a third source: issue 28)."""
    return any(spec.source == 2 for spec in contract.image_inputs)


def inbetween_methods(models_dir: Path | None = None, threads: int | None = None,
                      names: list[str] | None = None) -> dict:
    """name -> callable(frame0, frame1, vectors0, vectors1, depth0, depth1, t) -> frame at t (linear H x W x 3),
    for every method (or those ``names``).

    Models get what their contract takes: vectors and (Denoising) depth when they read them, as the
    ``postpass inbetween`` command feeds them from the EXR passes."""
    from addon.runtime import api

    def model(name, takes):
        def run(f0, f1, v0, v1, d0, d1, t):
            given = {"frame0": f0, "frame1": f1, "t": t, "vectors0": v0, "vectors1": v1, "depth0": d0, "depth1": d1}
            inputs = {k: v for k, v in given.items() if k in takes or k == "t"}
            return api.run("inbetween", inputs, model=name, models_dir=models_dir, threads=threads).image
        return lambda: run

    makers = {"frame blend": lambda: lambda f0, f1, v0, v1, d0, d1, t: (1.0 - t) * f0 + t * f1,
              "DIS optical flow": lambda: lambda f0, f1, v0, v1, d0, d1, t: dis_inbetween(f0, f1, t),
              "DIS optical flow (finest scale by size)":
                  lambda: lambda f0, f1, v0, v1, d0, d1, t: dis_inbetween(f0, f1, t, by_size=True),
              "vector-pass warp": lambda: lambda f0, f1, v0, v1, d0, d1, t: vector_blend(f0, v0, f1, v1, t, steps=2)}
    for entry in core.models("inbetween", models_dir, sort=True):
        if reads_guides(entry.contract):  # needs the made frame's guide render: bench.guided_inbetween
            continue
        makers[f"postpass {entry.name}"] = model(entry.name, {i.name for i in entry.contract.image_inputs})
    return core.choose(makers, names)


def frames_only(names, models_dir: Path | None = None) -> list[str]:
    """Those of the method ``names`` that need no Vector pass (what a real video can be given)."""
    vectors = set(VECTOR_METHODS) | {f"postpass {e.name}" for e in core.models("inbetween", models_dir)
                                     if any(i.name.startswith("vectors") and not i.optional
                                            for i in e.contract.image_inputs)}
    return [n for n in names if n not in vectors]


def real_video_triplets(folder: Path) -> list[tuple[str, list[Path]]]:
    """(sequence name, [frame0, middle, frame1]) per row of ``folder``/triplets.csv; a missing file is a one-line
    error naming it."""
    import csv

    rows = []
    with open(folder / "triplets.csv", newline="") as f:
        for row in csv.DictReader(f):
            files = [folder / row[k] for k in ("frame0", "gt_middle", "frame1")]
            for path in files:
                if not path.is_file():
                    raise FileNotFoundError(f"{path}: listed in {folder / 'triplets.csv'} but missing")
            rows.append((files[0].parent.name, files))
    return rows


def run_real_video(folder: Path, runs: dict, models_dir: Path | None = None, log=print) -> dict:
    """The methods of ``runs`` that need no vectors on the real-video triplets in ``folder``: 8-bit RGB PSNR /
    SSIM of the made middle frame, per sequence and their mean, seconds per megapixel."""
    import cv2

    from addon.runtime.color import srgb_decode, srgb_encode

    names = frames_only(runs, models_dir)
    scores = core.Scores()
    triplets = real_video_triplets(folder)

    def read(path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path}: not an image OpenCV can read")
        return image[..., ::-1].astype(np.float32) / 255.0

    def shown(result):  # as an 8-bit file stores the made frame
        return np.round(srgb_encode(np.clip(result, 0.0, 1.0)) * 255.0) / 255.0

    for name, files in triplets:
        first, middle, last = (read(f) for f in files)
        frames = [srgb_decode(first), srgb_decode(last)]
        scores.run({n: runs[n] for n in names}, lambda _, fn: fn(*frames, None, None, None, None, 0.5),
                   lambda result: {"psnr": psnr(shown(result), middle), "ssim": ssim(shown(result), middle)},
                   pixels=middle.shape[0] * middle.shape[1])
    result = {"folder": str(folder), "triplets": len(triplets), "sequences": [n for n, _ in triplets],
              "metrics": {n: scores.mean(n) for n in names},
              "psnr_per_triplet": {n: [round(p, 2) for p in scores.each(n, None, "psnr")] for n in names},
              "seconds_per_megapixel": scores.seconds_per_megapixel(names)}
    log("real video: " + ", ".join(f"{n} {v['psnr']:.2f}" for n, v in result["metrics"].items()))
    return result


def markdown_table_real(result: dict) -> str:
    rows = [[n, core.psnr_ssim(m), f"{result['seconds_per_megapixel'][n]:.2f}"] for n, m in result["metrics"].items()]
    peer = "DIS optical flow"
    gains = ", ".join(f"{n} {m['psnr'] - result['metrics'][peer]['psnr']:+.2f} dB"
                      for n, m in result["metrics"].items() if n.startswith("postpass ") and peer in result["metrics"])
    return (f"Inbetween on real video ({result['triplets']} DAVIS 480p triplets, {result['folder']}): the middle "
            f"frame from its neighbours, 8-bit RGB PSNR (dB) / SSIM over the whole frame.\n\n" +
            core.markdown_table(["method", "PSNR / SSIM", "s / MP"], rows) +
            (f"\nOurs - {peer}: {gains}.\n" if gains else ""))


def _triplet(files: list[Path]) -> tuple[np.ndarray, ...]:
    """(frame0, frame1, vectors0, vectors1, depth0, depth1, middle frame) from three render files."""
    from addon.runtime.exr import read_exr

    first, middle, last = (read_exr(f) for f in files)
    return (first.get("Combined")[..., :3], last.get("Combined")[..., :3], first.get("Vector"), last.get("Vector"),
            first.get("Denoising Depth"), last.get("Denoising Depth"), middle.get("Combined")[..., :3])


def run(root: Path, split: str = "test", count: int | None = None, out: Path | None = None,
        models_dir: Path | None = None, methods: list[str] | None = None, hd_repeats: int = core.HD_REPEATS,
        log=print) -> dict:
    """Every method on the first ``count`` test triplets of ``split``; the 1920x1080 timing unless
    ``hd_repeats`` is 0. Returns the result and, with ``out``, writes inbetween.json, inbetween.md and
    inbetween_crops.png there."""
    from addon.runtime.color import exposure_scale, tonemap

    scenes = core.scenes(root, split, count)
    runs = inbetween_methods(models_dir, names=methods)
    scores, grid = core.Scores(), core.Grid(list(runs) + ["rendered frame 2"], row_labels=[])
    for i, scene in enumerate(scenes):
        *inputs, target = _triplet([scene / f"frame_{k:04d}.exr" for k in (1, 2, 3)])
        row, _ = scores.run(runs, lambda _, fn: fn(*inputs, 0.5), lambda result: render_metrics(result, target),
                            pixels=target.shape[0] * target.shape[1])
        if i < 4:
            s = exposure_scale(target)
            grid.rows.append([tonemap(r, s) for r in row] + [tonemap(target, s)])
            grid.row_labels.append(scene.name)
    result = {"task": "inbetween", "split": split, "scenes": len(scenes), "t": 0.5, "frame_step": 2,
              "metrics": {n: scores.mean(n, keys=("psnr", "ssim")) for n in runs},
              "psnr_per_scene": {n: [round(p, 2) for p in scores.each(n, None, "psnr")] for n in runs},
              "seconds_per_megapixel": scores.seconds_per_megapixel(runs)}
    log(", ".join(f"{n} {v['psnr']:.2f}" for n, v in result["metrics"].items()))
    if hd_repeats:
        inputs = _hd_inputs(scenes[0])
        result["seconds_1920x1080"] = core.best_of({n: lambda fn=fn: fn(*inputs, 0.5) for n, fn in runs.items()},
                                                   hd_repeats, "1920x1080", log)
    if out:
        core.write_reports(out, "inbetween", result, markdown_table(result), {"inbetween_crops.png": grid}, log)
    return result


def _fraction(t: float) -> str:
    return str(Fraction(t).limit_denominator(64))


def run_t(sources: list[tuple[Path, str]], count: int | None = None, models_dir: Path | None = None,
          methods: list[str] | None = None, out: Path | None = None, log=print) -> dict:
    """PSNR / SSIM per t of every method on the inner frames of longer animations. ``sources``: (dataset folder,
    split) pairs, the first ``count`` complete scenes of each. With ``out``, writes inbetween_t.json and .md."""
    from addon.runtime.exr import read_exr

    runs = inbetween_methods(models_dir, names=methods)
    scores, used = core.Scores(), []
    for root, split in sources:
        scenes = core.scenes(root, split, count)
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
                scores.run(runs, lambda _, fn: fn(*inputs, t), lambda result: render_metrics(result, target),
                           _fraction(t))
    order = sorted({group for _, group in scores.metrics}, key=lambda f: float(Fraction(f)))
    result = {"sources": used, "methods": list(runs),
              "t": {f: {n: {**scores.mean(n, f, ("psnr", "ssim")), "frames": len(scores.metrics[n, f])}
                        for n in runs} for f in order}}
    for f in order:
        log(f"t = {f}: " + ", ".join(f"{n} {v['psnr']:.2f}" for n, v in result["t"][f].items()))
    if out:
        core.write_reports(out, "inbetween_t", result, markdown_table_t(result), log=log)
    return result


def markdown_table_t(result: dict) -> str:
    """One row per t, one column per method: PSNR / SSIM."""
    methods = result["methods"]
    where = "; ".join(f"{s['data']} {s['split']} ({s['scenes']} scenes)" for s in result["sources"])
    rows = [[f, str(next(iter(row.values()))["frames"])] + [core.psnr_ssim(row[n]) for n in methods]
            for f, row in result["t"].items()]
    return (f"Inbetween per t, {where}: inner frames from the first and last, tone-mapped PSNR (dB) / SSIM.\n\n" +
            core.markdown_table(["t", "frames"] + methods, rows))


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


def hd_cpu_seconds(root: Path, split: str = "test", models_dir: Path | None = None, log=print) -> dict[str, float]:
    """CPU seconds of one thread for one 1920x1080 frame per method (the first test triplet resized): a figure
    other jobs on the machine change far less than wall-clock seconds (runs here spread by about 15%). onnxruntime runs with one thread,
    OpenCV too; each method's second call is timed (the first loads the model)."""
    import cv2

    cv2.setNumThreads(1)
    inputs = _hd_inputs(core.scenes(root, split)[0])
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
    rows = [[n, core.psnr_ssim(m), f"{result['seconds_per_megapixel'][n]:.2f}", core.seconds(hd, n)]
            for n, m in result["metrics"].items()]
    return (f"Inbetween, {result['split']} split, {result['scenes']} scenes: frame 2 from frames 1 and 3 (t = 0.5), "
            f"tone-mapped PSNR (dB) / SSIM against the rendered frame 2; seconds on this CPU.\n\n" +
            core.markdown_table(["method", "PSNR / SSIM", "s / MP", "s per 1080p frame"], rows))


def regression_crops(root: Path, out: Path, split: str = "test", count: int = 8, size: int = 64) -> list[Path]:
    """Small fixed inbetween cases for the shipped-model quality test: the centre ``size`` px of frames 1, 2 and
    3 of the first ``count`` scenes of ``split``, as ``<scene>_frame1.exr`` ... ``_frame3.exr`` (half-float
    multilayer EXRs with the passes the models read: Combined, Vector, Denoising Depth)."""
    from addon.runtime.exr import read_exr, write_exr

    written = []
    for scene in core.scenes(root, split, count, exact=True):
        for k in (1, 2, 3):
            frame = read_exr(scene / f"frame_{k:04d}.exr")
            y, x = core.centre(frame.size, size)
            path = Path(out) / f"{scene.name}_frame{k}.exr"
            write_exr(path, {p: np.clip(frame.get(p)[y:y + size, x:x + size], -60000, 60000)  # half-float range
                             for p in ("Combined", "Vector", "Denoising Depth")}, half=True)
            written.append(path)
    return written


def regression_psnr(folder: Path, methods: dict) -> dict[str, float]:
    """Mean tone-mapped PSNR of each of ``methods`` (as :func:`inbetween_methods` gives) on the fixed crops in
    ``folder`` (frame 2 from frames 1 and 3)."""
    scores = core.Scores()
    for first in sorted(Path(folder).glob("*_frame1.exr")):
        *inputs, target = _triplet([first.with_name(first.name.replace("_frame1", f"_frame{k}")) for k in (1, 2, 3)])
        scores.run(methods, lambda _, fn: fn(*inputs, 0.5), lambda result: render_metrics(result, target))
    return {name: scores.mean(name, keys=("psnr",))["psnr"] for name in methods if scores.metrics[name, None]}


def score_crops(folder: Path, models_dir: Path | None = None) -> dict[str, float]:
    """Every method's mean PSNR on the crops in ``folder`` (the figures ``expected.json`` records)."""
    return regression_psnr(folder, inbetween_methods(models_dir))


def options(p) -> None:
    core.add_options(p)
    p.add_argument("--anim", action="append", default=[], metavar="DIR:SPLIT",
                   help="also score per t on a longer-animation dataset (e.g. ~/.cache/postpass/data_anim5:anim_test;"
                        " repeatable); writes inbetween_t.json / .md")
    p.add_argument("--anim-count", type=int, default=None, help="first N scenes of each --anim source")
    p.add_argument("--only-t", action="store_true", help="only the per-t table (skip the test-split triplets)")
    p.add_argument("--real-video", type=Path, default=REAL_VIDEO, metavar="DIR",
                   help="real-video triplets (triplets.csv; skipped with a note when missing; default: %(default)s)")
    p.add_argument("--only-real", action="store_true", help="only the real-video table")
    p.add_argument("--hd-cpu", action="store_true",
                   help="only print one-thread CPU seconds per 1920x1080 frame of every method (JSON)")


def main(args) -> str:
    if args.hd_cpu:
        return json.dumps(hd_cpu_seconds(args.data, args.split, args.models), indent=1)
    sources = []
    for item in args.anim:
        folder, sep, split = item.rpartition(":")
        if not sep or not folder:
            raise ValueError(f"--anim {item!r}: expected DIR:SPLIT")
        sources.append((Path(folder).expanduser(), split))
    tables = []
    if args.only_real and not (args.real_video / "triplets.csv").is_file():
        raise FileNotFoundError(f"{args.real_video}: no triplets.csv (--real-video DIR)")
    if not (args.only_t or args.only_real):
        tables.append(markdown_table(run(args.data, args.split, args.count, args.out, args.models, args.methods,
                                         core.hd_repeats(args))))
    if sources and not args.only_real:
        tables.append(markdown_table_t(run_t(sources, args.anim_count, args.models, args.methods, args.out)))
    if not args.only_t:
        if (args.real_video / "triplets.csv").is_file():
            real = run_real_video(args.real_video, inbetween_methods(args.models, names=args.methods), args.models)
            tables.append(markdown_table_real(real))
            if args.out:
                core.write_reports(args.out, "inbetween_real", real, tables[-1], {})
        else:
            tables.append(f"(real video: no {args.real_video / 'triplets.csv'}; left out)")
    return "\n".join(tables)


BENCHMARKS.add("inbetween", Benchmark("inbetweeners on the test split's frame triplets (and per t with --anim)",
                                      main, options, __doc__, crops=regression_crops, score_crops=score_crops))
