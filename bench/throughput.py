"""End-to-end farm throughput (issue 30): ``postpass denoise`` on 1920x1080 multilayer EXR frames as a farm runs
it, one process reading, denoising and writing every frame (start-up included), against OIDN 2.5 doing the same
read-denoise-write as a process, in one run.

    python -m bench throughput --frames 5 --repeats 3 --out out/bench_throughput
    python -m bench throughput --baseline /tmp/postpass-old      # also a checkout of an older revision

The frames are Cycles renders of the first test-split scenes (``--spp`` samples, Combined + Denoising Albedo +
Denoising Normal and the other passes Postpass renders, ZIP as Blender writes them), rendered once and cached
under ``~/.cache/postpass/bench_throughput/``. The commands, run in turns (one of each per round, ``--repeats``
rounds; each writes into an emptied folder):

- ``postpass``: ``python -m addon.cli denoise IN.####.exr -o OUT.####.exr`` (what the ``postpass`` command runs);
- ``oidn``: ``bench/oidn_peer.py``, pyoidn High with albedo + normal, the same read (OpenEXR, every part), the
  same write (every other part, channel and header attribute kept, the source's compression, atomic and synced)
  and the same OpenEXR threads;
- ``baseline`` (with ``--baseline DIR``): ``python -m addon.cli denoise`` of the Postpass tree in DIR (e.g.
  ``git worktree add DIR COMMIT``), for before/after figures in the same run; its outputs are also compared with
  this tree's, pixel by pixel (max |a - b| / max(1, |b|) over the result pass of every frame).

Reported per command: the best and the median of the rounds (seconds for all frames), frames/s, and the speed
ratio against OIDN (OIDN's seconds / the command's: above 1 is faster than OIDN), from the best and from the
medians. JSON and Markdown go to ``--out``.
"""
from __future__ import annotations

import os
import shutil
import statistics
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
out, count, width, height, spp = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
config = render.preset("tiny", width=width, height=height)
for i, seed in enumerate(splits.split_seeds("test", count)):
    path = out / f"beauty.{i + 1:04d}.exr"
    if not path.exists():
        scene = scenes.build_scene(scenes.make_spec(seed, meshes=[], frames=1))
        render.setup_render(scene, config)
        render.render_still(bpy, scene, path, spp=spp, seed=i, config=config)
"""
PEER = Path(__file__).with_name("oidn_peer.py")
PATTERN = "beauty.####.exr"


def render_frames(count: int, width: int, height: int, spp: int) -> Path:
    """``count`` Cycles renders (cached): in a child process, so bpy never shares a process with onnxruntime."""
    folder = paths.cache_dir() / "bench_throughput" / f"frames_{width}x{height}_spp{spp}"
    if not all((folder / f"beauty.{i:04d}.exr").exists() for i in range(1, count + 1)):
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", RENDER_SCRIPT, str(folder), str(count), str(width), str(height),
                        str(spp)], check=True, capture_output=True, timeout=600 * count, cwd=paths.REPO_ROOT)
    return folder


def commands(frames: Path, out: Path, baseline: Path | None) -> dict[str, tuple[list[str], Path, dict]]:
    """name -> (argv, output folder, environment changes), each run from the repository (or the baseline's)."""
    source = str(frames / PATTERN)
    made = {
        "postpass": ([sys.executable, "-m", "addon.cli", "denoise", source, "-o", str(out / "postpass" / PATTERN),
                      "--quiet"], paths.REPO_ROOT, {}),
        "oidn": ([sys.executable, str(PEER), source, "-o", str(out / "oidn" / PATTERN)], paths.REPO_ROOT, {}),
    }
    if baseline is not None:
        made["baseline"] = ([sys.executable, "-m", "addon.cli", "denoise", source, "-o",
                             str(out / "baseline" / PATTERN), "--quiet"], baseline, {"PYTHONPATH": str(baseline)})
    return made


def timed(argv: list[str], cwd: Path, env: dict, folder: Path) -> float:
    """Seconds of one whole process (start-up to exit), into an emptied ``folder``; it must succeed."""
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return seconds


def compare(a: Path, b: Path, count: int) -> dict:
    """Result pass of ``a`` against ``b`` (max |a - b| / max(1, |b|)) and whether every other channel and each
    part's compression are the same."""
    import numpy as np

    from addon.runtime.exr import read_exr_headers, _read_parts  # noqa: PLC2701  (the runtime's own reader)

    worst, others_equal, compression_equal = 0.0, True, True
    for frame in range(1, count + 1):
        name = f"beauty.{frame:04d}.exr"
        pa, pb = _read_parts(str(a / name)), _read_parts(str(b / name))
        ca = {n: c.pixels for p in pa for n, c in p.channels.items()}
        cb = {n: c.pixels for p in pb for n, c in p.channels.items()}
        if set(ca) != set(cb):
            others_equal = False
            continue
        for n in ca:
            if ".Combined." in n and not n.endswith(".A"):
                worst = max(worst, float(np.max(np.abs(ca[n] - cb[n]) / np.maximum(1.0, np.abs(cb[n])))))
            elif not np.array_equal(ca[n], cb[n]):
                others_equal = False
        compression_equal &= [h.header["compression"] for h in read_exr_headers(a / name)] == \
            [h.header["compression"] for h in read_exr_headers(b / name)]
    return {"max_relative_difference": worst, "other_channels_identical": others_equal,
            "compression_identical": compression_equal}


def run(count: int, width: int, height: int, spp: int, repeats: int, baseline: Path | None, out: Path,
        log=print) -> dict:
    frames = render_frames(count, width, height, spp)
    out.mkdir(parents=True, exist_ok=True)
    made = commands(frames, out, baseline)
    times: dict[str, list[float]] = {name: [] for name in made}
    for round_ in range(repeats):
        for name, (argv, cwd, env) in made.items():
            times[name].append(timed(argv, cwd, env, out / name))
        log(f"round {round_ + 1}/{repeats}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()))
    checks = {"postpass vs source": compare(out / "postpass", frames, count)}
    checks["postpass vs source"].pop("max_relative_difference")  # the denoised pass differs, of course
    if baseline is not None:
        checks["postpass vs baseline"] = compare(out / "postpass", out / "baseline", count)
    runs = {}
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        runs[name] = {"seconds": [round(v, 3) for v in values], "best": round(best, 3), "median": round(median, 3),
                      "frames_per_second_best": round(count / best, 3),
                      "speed_vs_oidn_best": round(min(times["oidn"]) / best, 3),
                      "speed_vs_oidn_median": round(statistics.median(times["oidn"]) / median, 3)}
    from addon.runtime.session import default_threads

    return {"frames": count, "width": width, "height": height, "spp": spp, "repeats": repeats,
            "cores": default_threads(), "source": str(frames), "commands": {n: " ".join(a) for n, (a, _, _) in made.items()},
            "baseline": str(baseline) if baseline else None, "runs": runs, "checks": checks}


def markdown_table(result: dict) -> str:
    rows = [[name, f"{r['best']:.2f}", f"{r['median']:.2f}", f"{r['frames_per_second_best']:.3f}",
             f"{r['speed_vs_oidn_best']:.2f}x", f"{r['speed_vs_oidn_median']:.2f}x"]
            for name, r in result["runs"].items()]
    checks = "; ".join(f"{k}: " + ", ".join(f"{kk} {vv:.2g}" if isinstance(vv, float) else f"{kk} {vv}"
                                            for kk, vv in v.items()) for k, v in result["checks"].items())
    return (f"End to end, {result['frames']} frames of {result['width']}x{result['height']} multilayer EXR "
            f"({result['spp']} spp Cycles), each command one process (start-up, read, denoise, write), "
            f"{result['repeats']} rounds taking turns, {result['cores']} cores. Checks: {checks}.\n\n"
            + core.markdown_table(["command", "best s", "median s", "frames/s (best)", "speed vs OIDN (best)",
                                   "speed vs OIDN (median)"], rows))


def options(p) -> None:
    p.add_argument("--frames", type=int, default=5, help="(default: %(default)s)")
    p.add_argument("--width", type=int, default=1920, help="(default: %(default)s)")
    p.add_argument("--height", type=int, default=1080, help="(default: %(default)s)")
    p.add_argument("--spp", type=int, default=4, help="Cycles samples of the frames (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="rounds, commands taking turns (default: %(default)s)")
    p.add_argument("--baseline", type=Path, default=None,
                   help="a Postpass tree (e.g. a git worktree of an older commit) timed and compared too")
    p.add_argument("--out", type=Path, default=Path("out/bench_throughput"), help="(default: %(default)s)")


def main(args) -> str:
    if args.baseline is not None and not (args.baseline / "addon" / "cli").is_dir():
        raise ValueError(f"--baseline {args.baseline}: not a Postpass tree (no addon/cli)")
    result = run(args.frames, args.width, args.height, args.spp, args.repeats, args.baseline, args.out)
    core.write_reports(args.out, "throughput", result, markdown_table(result))
    return markdown_table(result)


BENCHMARKS.add("throughput", Benchmark("end-to-end seconds of postpass denoise on 1080p EXR frames vs OIDN as a process",
                                       main, options, __doc__))
