"""Guide-render cost benchmark (issue 28): seconds per frame of a full render and of a guide render of the authored
animations, and what rendering every other frame in full plus guides for the rest costs against all frames.

    python -m bench guide_cost --out out/bench_guide_cost
    python -m bench guide_cost --scenes anim_turntable --full-spp 16 --hd-size 0 0     # quicker, one scene

Scenes: the authored animations (``ml_core.authored``; default: those built in ``CACHE/authored``, else
``anim_room_lamp`` and ``anim_turntable``), built in a child process exactly as ``python -m ml_core.authored
build`` renders them (the set's integrator and each scene's own light-path settings), frame ``--frame`` (2: a
skipped frame when keys are 1, 3, 5). Sizes: the scene's own (the set's animation size, 160 px) and
``--hd-size`` (960x540; ``0 0`` leaves it out). A **full render** is the shot as it is at ``--full-spp``
samples (adaptive sampling and denoising off, its own bounces; the scene's own size also at each
``--full-spp``, the HD size at ``--hd-full-spp``); a **guide render** is the same scene after
``addon.guide_render.apply_guide_settings`` at each ``--guide-spp``. Time: in-process render time
(``bpy.ops.render.render`` with the EXR write: scene sync, BVH, path tracing, file), the best of ``--repeats``,
every render of a scene and size taking turns in each round, all in one run on one machine. From them: G/F and
the cost of every other frame in full plus guides for the rest against all frames, (F + G) / 2F (the issue's
target: at most 0.6, i.e. G/F at most 0.2). Per scene and size, F = a + b * spp is fitted to the full renders
(least squares) and the fit gives F at ``--fit-spp`` (384: a production frame's samples) as a row marked
"(fit)": not measured.

The guide's passes are checked at the scene's own size: for each guide spp, a render with the guide settings but
the shot's own bounces, same seed and samples (``reduce_bounces=False``), is compared pass by pass (mean
absolute difference; Denoising Depth clipped at 1e4 for the background) with the guide render, and its time is
reported beside (what lowering the bounces saves).

``--upres`` also renders each size's full render at half the width and height (same samples): the cost of the
up-res workflow (issue 25; docs/farm.md "Render at half size, up-res with full-size guides"), the beauty at half
size plus a full-size guide render for the guided up-res models' albedo and normal, against the full-size
render: (F/2 + G) / F, in a second table.

Writes ``guide_cost.json`` and ``guide_cost.md`` into ``--out``. bpy renders in a child process
(``python -m bench.guide_cost --child``), the EXRs are compared in this one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import core
from .core import BENCHMARKS, Benchmark, markdown_table

GUIDE_PASSES = ("Denoising Albedo", "Denoising Normal", "Denoising Depth", "Vector")
DEFAULT_SCENES = ("anim_room_lamp", "anim_turntable")


def options(p) -> None:
    core.add_options(p, data_set=False, models_dir=False, methods=False, hd=False, out=Path("out/bench_guide_cost"))
    p.add_argument("--scenes", nargs="+", default=None, metavar="NAME",
                   help="authored animations (default: those built in CACHE/authored, else "
                        + " ".join(DEFAULT_SCENES) + ")")
    p.add_argument("--frame", type=int, default=2, help="the frame rendered (default: %(default)s)")
    p.add_argument("--full-spp", type=int, nargs="+", default=[4, 16, 64],
                   help="full renders' samples at the scene's own size (default: 4 16 64)")
    p.add_argument("--guide-spp", type=int, nargs="+", default=[1, 4], help="guide samples (default: 1 4)")
    p.add_argument("--hd-size", type=int, nargs=2, default=[960, 540], metavar=("W", "H"),
                   help="the production-like size (default: 960 540; 0 0: none)")
    p.add_argument("--hd-full-spp", type=int, nargs="+", default=[4, 16],
                   help="full renders' samples at --hd-size (default: 4 16)")
    p.add_argument("--fit-spp", type=int, default=384,
                   help="F extrapolated to these samples from the fit (default: %(default)s; 0: none)")
    p.add_argument("--upres", action="store_true",
                   help="also render at half size: the cost of half-size beauty + full-size guides (up-res)")
    p.add_argument("--repeats", type=int, default=2, help="best of N (default: %(default)s)")
    p.add_argument("--threads", type=int, default=0, help="Cycles threads (0: all cores)")


def default_scenes() -> list[str]:
    """The authored animations built in the cache (a manifest), else :data:`DEFAULT_SCENES`."""
    from ml_core.authored import SCENES

    root = core.authored_dir()
    built = [n for n in SCENES if SCENES.get(n).animated and (root / n / "manifest.json").is_file()]
    return sorted(built) or list(DEFAULT_SCENES)


def main(args) -> str:
    scenes = args.scenes or default_scenes()
    sizes = [["own", 0, 0, list(args.full_spp)]]
    if args.hd_size[0] > 0 and args.hd_size[1] > 0:
        sizes.append([f"{args.hd_size[0]}x{args.hd_size[1]}", *args.hd_size, list(args.hd_full_spp)])
    job = {"scenes": scenes, "frame": args.frame, "sizes": sizes, "guide_spp": list(args.guide_spp),
           "repeats": args.repeats, "threads": args.threads, "half": args.upres}
    result = measure(job)
    result["command"] = "python -m bench " + " ".join(sys.argv[1:])
    result["fit_spp"] = args.fit_spp
    rows = table_rows(result, args.fit_spp)
    result["rows"] = rows
    text = report(result, rows)
    core.write_reports(args.out, "guide_cost", result, text, log=lambda m: print(m, file=sys.stderr))
    return text


def measure(job: dict) -> dict:
    """Run the renders of ``job`` in a child process, compare the passes here; the child's record with
    "passes" added: {scene: {guide spp: {pass: mean abs difference}}}."""
    with tempfile.TemporaryDirectory(prefix="postpass-guide-cost-") as work:
        work = Path(work)
        (work / "job.json").write_text(json.dumps(job))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bench.guide_cost", "--child", str(work)], check=True,
                       cwd=Path(__file__).resolve().parents[1])
        record = json.loads((work / "record.json").read_text())
        record["wall_seconds"] = round(time.perf_counter() - started, 1)
        record["passes"] = {scene: {spp: pass_differences(work / files["guide"], work / files["own_bounces"])
                                    for spp, files in checks.items()}
                            for scene, checks in record.pop("checks").items()}
    return record


def pass_differences(a: Path, b: Path) -> dict[str, float]:
    """Mean absolute difference per guide pass of two EXRs (Denoising Depth clipped at 1e4: the background)."""
    from addon.runtime.exr import read_exr

    ia, ib = read_exr(a), read_exr(b)
    out = {}
    for name in GUIDE_PASSES:
        x, y = ia.get(name).astype(np.float64), ib.get(name).astype(np.float64)
        if name == "Denoising Depth":
            x, y = np.minimum(x, 1e4), np.minimum(y, 1e4)
        out[name] = float(np.abs(x - y).mean())
    return out


def table_rows(result: dict, fit_spp: int = 384) -> list[dict]:
    """One row per scene, size, full spp and guide spp: F, G, G/F, (F + G) / 2F; with ``fit_spp`` a fitted F."""
    rows = []
    for scene, sizes in result["times"].items():
        for size, t in sizes.items():
            full = {int(k): v for k, v in t["full"].items()}
            guide = {int(k): v for k, v in t["guide"].items()}
            fulls = [(spp, seconds, False) for spp, seconds in sorted(full.items())]
            if fit_spp and len(full) >= 2:
                spp_list = np.array(sorted(full), np.float64)
                a, b = np.polyfit(spp_list, np.array([full[int(s)] for s in spp_list]), 1)[::-1]
                t["fit"] = {"fixed_seconds": round(float(a), 4), "seconds_per_sample": round(float(b), 5)}
                fulls.append((fit_spp, float(a + b * fit_spp), True))
            half = {int(k): v for k, v in t.get("half", {}).items()}
            for fspp, f, fitted in fulls:
                for gspp, g in sorted(guide.items()):
                    row = {"scene": scene, "size": t["size"], "full_spp": fspp, "fitted": fitted,
                           "full_s": f, "guide_spp": gspp, "guide_s": g, "ratio": g / f,
                           "every_other": (f + g) / (2 * f)}
                    if fspp in half and not fitted:
                        row.update(half_s=half[fspp], half_upres=(half[fspp] + g) / f)
                    rows.append(row)
    return rows


def report(result: dict, rows: list[dict]) -> str:
    cost = markdown_table(
        ["scene", "size", "full spp", "F s/frame", "guide spp", "G s/frame", "G/F", "(F+G)/2F"],
        [[r["scene"], "x".join(map(str, r["size"])), f"{r['full_spp']}" + (" (fit)" if r["fitted"] else ""),
          f"{r['full_s']:.2f}", str(r["guide_spp"]), f"{r['guide_s']:.2f}", f"{r['ratio']:.3f}",
          f"{r['every_other']:.3f}"] for r in rows])
    halves = [r for r in rows if "half_s" in r]
    if halves:
        cost += "\nUp-res workflow: the beauty at half size (F/2) plus a full-size guide render (G) for the guided "\
                "up-res models, against the full-size render\n\n" + markdown_table(
                    ["scene", "size", "spp", "F s/frame", "F/2 s/frame", "guide spp", "G s/frame", "(F/2+G)/F"],
                    [[r["scene"], "x".join(map(str, r["size"])), str(r["full_spp"]), f"{r['full_s']:.2f}",
                      f"{r['half_s']:.2f}", str(r["guide_spp"]), f"{r['guide_s']:.2f}", f"{r['half_upres']:.3f}"]
                     for r in halves])
    check_rows = []
    for scene, by_spp in result["passes"].items():
        own = result["times"][scene]["own"]
        for spp, diffs in by_spp.items():
            check_rows.append([scene, spp, f"{own['guide'][spp]:.3f}", f"{own['own_bounces'][spp]:.3f}",
                               *(f"{diffs[p]:.2e}" for p in GUIDE_PASSES)])
    checks = markdown_table(["scene", "guide spp", "guide s", "own bounces s",
                             *(p.replace("Denoising ", "") + " MAD" for p in GUIDE_PASSES)], check_rows)
    return (f"Guide render cost, best of {result['repeats']}, {result['cpu']} "
            f"(Blender {result['blender']}, frame {result['frame']}):\n\n{cost}\n"
            f"Guide settings ({result['guide_bounces']} bounces) against the shot's own bounces, same seed and "
            f"samples, at the scene's own size: mean abs difference per pass\n\n{checks}")


# ----------------------------------------------------------------------------------------------------------
# The child: bpy renders (never in a process with OpenEXR)
# ----------------------------------------------------------------------------------------------------------
def child(work: Path) -> None:
    from addon import guide_render
    from ml_core import blender, render
    from ml_core.authored import SCENES
    from ml_core.authored.build import Settings, build_scene, sampling_seed, setup

    bpy = blender.import_bpy()
    job = json.loads((work / "job.json").read_text())
    frame, repeats = job["frame"], job["repeats"]
    times, checks = {}, {}

    def timed(key: dict, name: str, seconds: float) -> None:
        key[name] = round(min(key.get(name, float("inf")), seconds), 4)

    for name in job["scenes"]:
        entry = SCENES.get(name)
        if not entry.animated:
            raise ValueError(f"{name}: not an animated authored scene")
        scene = build_scene(entry)
        own = Settings().scene_size(entry)
        times[name] = {}
        for label, width, height, full_spp in job["sizes"]:
            width, height = (width or own), (height or own)
            config = setup(scene, entry, own, job["threads"])
            config = replace(config, width=width, height=height)
            t = times[name][label] = {"size": [width, height], "full": {}, "guide": {}, "own_bounces": {},
                                      "half": {}}
            seed = sampling_seed(name, f"guide_cost/{frame}")
            for rep in range(repeats):
                for spp in full_spp:
                    path = work / f"{name}_{label}_full{spp}_{rep}.exr"
                    with blender.quiet_stdout():
                        seconds = render.render_still(bpy, scene, path, spp=spp, seed=seed, frame=frame,
                                                      config=config)
                    timed(t["full"], str(spp), seconds)
                    path.unlink()
                    if job.get("half"):  # the same shot at half the width and height (render.render_still's scale)
                        path = work / f"{name}_{label}_half{spp}_{rep}.exr"
                        with blender.quiet_stdout():
                            seconds = render.render_still(bpy, scene, path, spp=spp, seed=seed, frame=frame,
                                                          scale=2, config=config)
                        timed(t["half"], str(spp), seconds)
                        path.unlink()
                scene.render.resolution_x, scene.render.resolution_y = width, height
                for spp in job["guide_spp"]:
                    variants = [("guide", True)] + ([("own_bounces", False)] if label == "own" else [])
                    for kind, reduce in variants:
                        path = work / f"{name}_{label}_{kind}{spp}_{rep}.####.exr"
                        with blender.quiet_stdout():
                            r = guide_render.render_guide_frames(scene, [frame], path, samples=spp, seed=seed,
                                                                 reduce_bounces=reduce, bpy=bpy)
                        timed(t[kind], str(spp), next(iter(r["seconds"].values())))
                        written = Path(r["rendered"][0])
                        if label == "own" and rep == 0:
                            checks.setdefault(name, {}).setdefault(str(spp), {})[kind] = written.name
                        else:
                            written.unlink()
            for kind in ("own_bounces", "half"):
                if not t[kind]:
                    del t[kind]
    record = {"scenes": job["scenes"], "frame": frame, "repeats": repeats, "blender": bpy.app.version_string,
              "cpu": f"{os.cpu_count()} CPU cores" + (f", {job['threads']} threads" if job["threads"] else ""),
              "guide_bounces": guide_render.GUIDE_BOUNCES, "default_guide_spp": guide_render.DEFAULT_SAMPLES,
              "times": times, "checks": checks}
    (work / "record.json").write_text(json.dumps(record))


BENCHMARKS.add("guide_cost", Benchmark("guide render cost (issue 28): seconds per frame of full and guide renders "
                                       "of the authored animations, G/F and (F + G) / 2F", main, options,
                                       __doc__))

if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    child(Path(sys.argv[2]))
