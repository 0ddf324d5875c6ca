"""Farm throughput: frames/s of ``postpass denoise`` on 1920x1080 multilayer EXRs, in this process and on a
two-worker Dask ``LocalCluster``, measured in one run on the same frames.

    python -m bench farm --frames 8 --out out/bench_farm

The frames are one real Cycles render (1920x1080, all the passes a denoiser reads) linked under N frame
numbers: the content does not change the cost. The model is the registry's first fp32 denoise model
(``--models DIR``; default the shipped ones); while none ships, the small ``denoise_unet`` architecture of the
test suite is exported untrained, which costs what a model of its size costs. Both runs use the same batch
code as the ``postpass`` command and a named model, so no run spends its first frame choosing one.
"""
from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import time
from pathlib import Path

from ml_core import paths

from . import core
from .core import BENCHMARKS, Benchmark

RENDER_SCRIPT = """
import sys; from pathlib import Path
from ml_core import blender, render, scenes, splits
bpy = blender.import_bpy()
config = render.preset("tiny", width=int(sys.argv[2]), height=int(sys.argv[3]))
scene = scenes.build_scene(scenes.make_spec(splits.split_seeds("test", 1)[0], meshes=[], frames=1))
render.setup_render(scene, config)
render.render_still(bpy, scene, Path(sys.argv[1]), spp=2, seed=0, config=config)
"""
#: The test suite's small guided denoiser (tests/conftest.py), exported untrained while no model ships.
STAND_IN = ("denoise_aux", "denoise_unet", {"aux": ["albedo", "normal"], "widths": [8, 12, 16]})


def render_frame(path: Path, width: int, height: int) -> Path:
    """One Cycles render (cached): in a child process, so bpy never shares a process with onnxruntime."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", RENDER_SCRIPT, str(path), str(width), str(height)], check=True,
                       capture_output=True, timeout=1800, cwd=paths.REPO_ROOT)
    return path


def denoise_model(models_dir: Path | None, out: Path) -> tuple[Path, str, str]:
    """(models folder, model name, where it came from): the registry's first fp32 denoise model, else the
    untrained stand-in."""
    from addon.runtime.registry import Registry

    registry, shipped = Registry(models_dir), core.models("denoise", models_dir)
    if shipped:
        return registry.folder, shipped[0].name, f"from {registry.path}"
    from export import export_checkpoint
    from ml_core.checkpoint import save_checkpoint
    from ml_core.models import build

    name, architecture, params = STAND_IN
    folder = out / "models"
    folder.mkdir(parents=True, exist_ok=True)
    training = {"command": "untrained stand-in (bench.farm)", "seed": 0, "dataset_fingerprint": "none",
                "metrics": {}}
    checkpoint = save_checkpoint(folder / f"{name}.pt", build(architecture, seed=0, **params), name=name,
                                 version="0.0.0", training=training)
    export_checkpoint(checkpoint, folder)
    return folder, name, "untrained stand-in: the test suite's small denoise_unet"


def timed_batch(frames: Path, out: Path, count: int, options, scheduler: str | None = None) -> float:
    """Seconds to denoise every frame with the batch code the command line uses; every frame must succeed."""
    from addon.runtime.batch import plan, run_batch

    jobs = plan("denoise", [str(frames / "beauty.####.exr")], str(out / "beauty.####.exr"),
                list(range(1, count + 1)))
    start = time.perf_counter()
    failed = [r for r in run_batch(jobs, options, scheduler=scheduler) if r.status != "done"]
    seconds = time.perf_counter() - start
    if failed:
        raise RuntimeError(f"{failed[0].label}: {failed[0].reason}")
    return seconds


def compare_outputs(a: Path, b: Path, count: int) -> tuple[bool, float]:
    """(byte-identical?, largest |difference| of the result pass): onnxruntime's results can differ in the
    last bit between thread counts, and the two runs use different ones."""
    from addon.runtime.exr import read_exr

    names = [f"beauty.{f:04d}.exr" for f in range(1, count + 1)]
    identical = all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)
    difference = max(float(abs(read_exr(a / n).get("Combined") - read_exr(b / n).get("Combined")).max())
                     for n in names)
    return identical, difference


def run(count: int, width: int, height: int, models_dir: Path | None, out: Path, log=print) -> dict:
    from dask.distributed import LocalCluster

    from addon.runtime.batch import BatchOptions
    from addon.runtime.session import default_threads

    source = render_frame(paths.cache_dir() / "bench_farm" / f"beauty_{width}x{height}.exr", width, height)
    frames = out / "frames"
    frames.mkdir(parents=True, exist_ok=True)
    for frame in range(1, count + 1):
        link = frames / f"beauty.{frame:04d}.exr"
        if not link.exists():
            os.link(source, link)
    folder, model, origin = denoise_model(models_dir, out)
    cores = default_threads()
    log(f"{count} frames of {width}x{height}, model {model} ({origin}), {cores} cores")

    local_options = BatchOptions("denoise", model=model, models_dir=str(folder), threads=cores)
    local = timed_batch(frames, out / "in_process", count, local_options)
    log(f"in-process ({cores} threads): {local:.1f} s")

    workers = 2
    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        startup = time.perf_counter() - start
        dask_options = BatchOptions("denoise", model=model, models_dir=str(folder), threads=max(1, cores // workers))
        on_dask = timed_batch(frames, out / "dask", count, dask_options, scheduler=cluster.scheduler_address)
    log(f"LocalCluster ({workers} workers x {dask_options.threads} thread): {on_dask:.1f} s "
        f"(+ {startup:.1f} s cluster start)")
    identical, difference = compare_outputs(out / "in_process", out / "dask", count)
    return {
        "frames": count, "width": width, "height": height, "model": model, "model_origin": origin, "cores": cores,
        "runs": {
            "in-process": {"workers": 1, "threads": cores, "seconds": round(local, 2),
                           "frames_per_second": round(count / local, 3)},
            "dask LocalCluster": {"workers": workers, "threads": dask_options.threads, "seconds": round(on_dask, 2),
                                  "frames_per_second": round(count / on_dask, 3),
                                  "cluster_start_seconds": round(startup, 2)},
        },
        "byte_identical": identical,
        "max_abs_difference": difference,
    }


def markdown_table(result: dict) -> str:
    rows = [[name, f"{run['workers']} x {run['threads']}", f"{run['seconds']:.1f}", f"{run['frames_per_second']:.3f}"]
            for name, run in result["runs"].items()]
    return (f"Denoise, {result['frames']} frames of {result['width']}x{result['height']} multilayer EXR, model "
            f"{result['model']} ({result['model_origin']}), {result['cores']} CPU cores. Dask outputs against "
            f"in-process: {'byte-identical' if result['byte_identical'] else 'not byte-identical'}, largest "
            f"difference {result['max_abs_difference']:.2g} (the runs use different onnxruntime thread counts)."
            f"\n\n" + core.markdown_table(["run", "processes x threads", "seconds", "frames/s"], rows))


def options(p) -> None:
    p.add_argument("--frames", type=int, default=8, help="(default: %(default)s)")
    p.add_argument("--width", type=int, default=1920, help="(default: %(default)s)")
    p.add_argument("--height", type=int, default=1080, help="(default: %(default)s)")
    core.add_options(p, data_set=False, methods=False, hd=False, out=Path("out/bench_farm"))


def main(args) -> str:
    result = run(args.frames, args.width, args.height, args.models, args.out)
    core.write_reports(args.out, "farm", result, markdown_table(result))
    return markdown_table(result)


BENCHMARKS.add("farm", Benchmark("frames/s of postpass denoise in-process and on a two-worker Dask LocalCluster",
                                 main, options, __doc__))
