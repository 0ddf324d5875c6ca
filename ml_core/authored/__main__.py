"""The authored evaluation set's command (never used for training or model selection).

    python -m ml_core.authored list
    python -m ml_core.authored build --out ~/.cache/postpass/authored [--size 256] [--reference-spp 1024]
                                     [--only NAME ...] [--threads N] [--scheduler ADDRESS|FILE] [--retries N]
    python -m ml_core.authored sheet --out docs/authored_set.png       # render previews (OIDN) and grid them
    python -m ml_core.authored preview --out /tmp/authored_preview --size 256 --spp 64 --no-denoise
    python -m ml_core.authored estimate /tmp/authored_preview            # the full build's time from a preview
    python -m ml_core.authored shots --out DIR [--only NAME ...] [--spp 4] [--size 256]   # scenes as .blend shots
    python -m ml_core.authored guides --out ~/.cache/postpass/authored [--only NAME ...] [--spp 1]  # guide frames
    python -m ml_core.authored lowres --out ~/.cache/postpass/authored [--only NAME ...] [--spp N]  # 1/2, 1/4 size

``build`` is resumable: complete scenes are skipped and an interrupted one renders only its missing files.
Stills render at ``--size`` (256), animated scenes (5 frames) at 5/8 of it (160) with 1536-spp per-frame
references; about 1.6 hours on 2 cores. With ``--scheduler`` (a Dask scheduler's address or scheduler file)
each scene is one task on the cluster, rendered into ``--out`` (a folder every worker sees at the same path);
as with ``python -m ml_core.data build --scheduler``, scenes that fail are retried ``--retries`` times and named
at the end (exit 1), a bad argument exits 2 before anything renders. See ``ml_core.authored.build``.

``shots`` saves each scene as the ``.blend`` an artist would hand over (``DIR/<name>.blend``: Cycles, the
scene's camera, lights, materials, animation and frame range at the set's size and integrator, ``--spp``
samples, no denoising), what ``python -m export.finetune`` takes; see ``ml_core.authored.shots``.

``guides`` renders each built animation's frames as guide renders (``frame_000K_guides.exr`` beside
``frame_000K_reference.exr``: Denoising Albedo / Normal / Depth and Vector as ``addon.guide_render`` makes them,
issue 28), resumable; see ``ml_core.authored.guides``.

``lowres`` renders each built scene's still at 1/2 and 1/4 size (``lowres_x2.exr``, ``lowres_x4.exr`` beside
``reference.exr``, at the reference's samples unless ``--spp``: up-res's deployment case, issue 25), resumable;
see ``ml_core.authored.lowres``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from .. import cluster, paths
from ..registry import UnknownName
from . import SCENES
from .base import ordered
from .build import AuthoredError, Settings, build, estimate, hours, log_stderr, preview, select


def list_scenes() -> str:
    lines = []
    for e in ordered():
        name = e.name
        kind = f"{e.frames} frames" if e.animated else "still"
        families = e.family if len(e.families) == 1 else f"mixed ({', '.join(e.families)})"
        lines.append(f"{name:24s} {families:28s} {kind:9s} {e.description}")
    return "\n".join(lines) + f"\n{len(SCENES)} scenes, {sum(SCENES.get(n).animated for n in SCENES)} animated"


def sheet(out: Path, size: int, spp: int, work: Path | None, only: list[str] | None, threads: int) -> Path:
    """Render previews in a child process (bpy never shares a process with OpenEXR), then grid them."""
    import tempfile

    work = Path(work or tempfile.mkdtemp(prefix="postpass-authored-preview-"))
    command = [sys.executable, "-m", "ml_core.authored", "preview", "--out", str(work), "--size", str(size),
               "--spp", str(spp), "--threads", str(threads)] + (["--only", *only] if only else [])
    subprocess.run(command, check=True, cwd=paths.REPO_ROOT)
    return grid(work, out, only)


def grid(work: Path, out: Path, only: list[str] | None = None, columns: int = 5) -> Path:
    """A labelled PNG grid of a preview folder: each scene's still, an animation's still and last frame, each
    tone-mapped as the benchmarks do (its own exposure), in the set's order."""
    import numpy as np

    from addon.runtime.color import exposure_scale, tonemap
    from addon.runtime.exr import read_exr

    from ..figures import image_grid

    record = json.loads((Path(work) / "preview.json").read_text())
    times = record["times"]
    stems = [stem for e in select(only) for stem in (e.name, f"{e.name}_last") if stem in times]  # set order
    tiles, captions = [], []
    for stem in stems:
        rgb = read_exr(Path(work) / f"{stem}.exr").get("Combined")[..., :3]
        tiles.append(tonemap(rgb, exposure_scale(rgb)))
        entry = SCENES.get(stem.removesuffix("_last"))
        frame = entry.frames if stem.endswith("_last") else entry.still_frame
        # an animation's frame as "f3/5" (its name without "anim_": 128 px cells)
        captions.append(f"{entry.name.removeprefix('anim_')} f{frame}/{entry.frames}" if entry.animated else entry.name)
    blank = np.ones_like(tiles[0])
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    caps = [captions[i:i + columns] for i in range(0, len(captions), columns)]
    rows[-1] += [blank] * (columns - len(rows[-1]))
    caps[-1] += [""] * (columns - len(caps[-1]))
    how = f"{record['size']} px, {record['spp']} spp" + (" + OIDN" if record["denoise"] else "")
    labels = ["authored eval set", how, "never trained on"]
    labels = (labels + [""] * columns)[:columns]
    return image_grid(rows, labels, out, cell=record["size"], captions=caps)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ml_core.authored", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print the scenes: name, family, still or frames, description")
    b = sub.add_parser("build", help="render the set into a cache folder (resumable)")
    b.add_argument("--out", type=Path, default=paths.cache_dir() / "authored",
                   help="cache folder (default: %(default)s)")
    b.add_argument("--size", type=int, default=256, help="still size in pixels, square (default: 256)")
    b.add_argument("--anim-size", type=int, default=0,
                   help="animated scenes' size (default: 5/8 of --size, 160 for 256)")
    b.add_argument("--reference-spp", type=int, default=1024, help="reference samples, no adaptive sampling")
    b.add_argument("--frame-reference-spp", type=int, default=0,
                   help="per-frame reference samples of animated scenes "
                        "(default: 3/2 of --reference-spp, 1536 for 1024)")
    b.add_argument("--only", nargs="+", metavar="NAME", help="render only these scenes")
    b.add_argument("--threads", type=int, default=0,
                   help="Cycles threads of each render (0: all cores; with several Dask workers on one machine, "
                        "give each its share)")
    b.add_argument("--scheduler", metavar="ADDRESS|FILE",
                   help="render on a Dask distributed cluster, one task per scene: the scheduler's address "
                        "(tcp://head:8786) or its scheduler file; workers must see --out at the same path")
    b.add_argument("--retries", type=int, default=2, metavar="N",
                   help="run a scene that fails up to N more times (default: %(default)s)")
    b.add_argument("--quiet", action="store_true", help="no progress bar, no line per rendered file on stderr")
    v = sub.add_parser("preview", help="render each scene once (still frame, and an animation's last) for a look")
    v.add_argument("--out", type=Path, required=True)
    v.add_argument("--size", type=int, default=128)
    v.add_argument("--spp", type=int, default=64)
    v.add_argument("--no-denoise", action="store_true", help="no OIDN (timings for `estimate`)")
    v.add_argument("--only", nargs="+", metavar="NAME")
    v.add_argument("--threads", type=int, default=0)
    s = sub.add_parser("sheet", help="render previews and write a labelled grid PNG")
    s.add_argument("--out", type=Path, default=paths.REPO_ROOT / "docs" / "authored_set.png")
    s.add_argument("--size", type=int, default=128)
    s.add_argument("--spp", type=int, default=64)
    s.add_argument("--work", type=Path, default=None, help="folder for the preview EXRs (default: a temporary one)")
    s.add_argument("--only", nargs="+", metavar="NAME")
    s.add_argument("--threads", type=int, default=0)
    e = sub.add_parser("estimate", help="the full build's render time, extrapolated from a --no-denoise preview")
    e.add_argument("preview", type=Path, help="a preview folder (holds preview.json)")
    e.add_argument("--size", type=int, default=256)
    e.add_argument("--anim-size", type=int, default=0)
    e.add_argument("--reference-spp", type=int, default=1024)
    e.add_argument("--frame-reference-spp", type=int, default=0)
    e.add_argument("--cores", type=int, default=0, help="cores the build will use (default: the preview's)")
    h = sub.add_parser("shots", help="save each scene as a .blend shot (what an artist hands over)")
    h.add_argument("--out", type=Path, required=True, help="folder for <name>.blend")
    h.add_argument("--only", nargs="+", metavar="NAME", help="only these scenes")
    h.add_argument("--spp", type=int, default=4, help="the shot's Cycles samples (default: %(default)s)")
    h.add_argument("--size", type=int, default=256, help="stills' render size, square (default: %(default)s)")
    h.add_argument("--anim-size", type=int, default=0,
                   help="animated scenes' size (default: 5/8 of --size, as the set renders them)")
    h.add_argument("--overwrite", action="store_true", help="save shots already there again")
    h.add_argument("--quiet", action="store_true", help="no line per saved shot on stderr")
    g = sub.add_parser("guides", help="render the built animations' frames as guide renders (resumable)")
    g.add_argument("--out", type=Path, default=paths.cache_dir() / "authored",
                   help="the built set's folder (default: %(default)s)")
    g.add_argument("--only", nargs="+", metavar="NAME", help="only these animated scenes")
    g.add_argument("--spp", type=int, default=None,
                   help="guide samples (default: addon.guide_render.DEFAULT_SAMPLES)")
    g.add_argument("--threads", type=int, default=0, help="Cycles threads (0: all cores)")
    g.add_argument("--quiet", action="store_true", help="no line per rendered file on stderr")
    w = sub.add_parser("lowres", help="render the built scenes' stills at 1/2 and 1/4 size (resumable)")
    w.add_argument("--out", type=Path, default=paths.cache_dir() / "authored",
                   help="the built set's folder (default: %(default)s)")
    w.add_argument("--only", nargs="+", metavar="NAME", help="only these scenes")
    w.add_argument("--spp", type=int, default=None, help="samples (default: the set's reference samples)")
    w.add_argument("--threads", type=int, default=0, help="Cycles threads (0: all cores)")
    w.add_argument("--quiet", action="store_true", help="no line per rendered file on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            print(list_scenes())
        elif args.command == "build":
            settings = Settings(size=args.size, anim_size=args.anim_size, reference_spp=args.reference_spp,
                                frame_reference_spp=args.frame_reference_spp, threads=args.threads)
            print(json.dumps(build(args.out, settings, args.only, log=None if args.quiet else log_stderr,
                                   scheduler=args.scheduler, retries=args.retries,
                                   progress=not args.quiet and sys.stderr.isatty())))
        elif args.command == "preview":
            preview(args.out, args.size, args.spp, not args.no_denoise, args.only, args.threads)
            print(args.out / "preview.json")
        elif args.command == "sheet":
            print(sheet(args.out, args.size, args.spp, args.work, args.only, args.threads))
        elif args.command == "estimate":
            record = json.loads((args.preview / "preview.json").read_text())
            if record["denoise"]:
                raise AuthoredError(f"{args.preview}: a denoised preview; time one with --no-denoise")
            settings = Settings(size=args.size, anim_size=args.anim_size, reference_spp=args.reference_spp,
                                frame_reference_spp=args.frame_reference_spp)
            cores = args.cores or record.get("threads") or 1
            result = estimate(record["times"], record["spp"], record["size"], settings, cores)
            for name, seconds in result.items():
                print(f"{name:24s} {seconds:8.0f} s")
            print(f"total: {hours(result['total'])} on {cores} cores with the machine to itself")
        elif args.command == "shots":
            from .shots import save_shots

            print(json.dumps(save_shots(args.out, args.only, args.spp, args.size, args.anim_size, args.overwrite,
                                        log=None if args.quiet else log_stderr)))
        elif args.command == "guides":
            from addon.guide_render import DEFAULT_SAMPLES

            from .guides import render_guides

            spp = DEFAULT_SAMPLES if args.spp is None else args.spp
            print(json.dumps(render_guides(args.out, args.only, spp, args.threads,
                                           log=None if args.quiet else log_stderr)))
        elif args.command == "lowres":
            from .lowres import render_lowres

            print(json.dumps(render_lowres(args.out, args.only, args.spp, args.threads,
                                           log=None if args.quiet else log_stderr)))
    except cluster.TasksFailed as exc:  # the other scenes are done: the summary, then what failed and why
        print(json.dumps(exc.summary))
        print(exc.report("postpass-authored"), file=sys.stderr)
        return cluster.EXIT_FAILED
    except (AuthoredError, UnknownName, cluster.ClusterError) as exc:
        print(f"postpass-authored: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
