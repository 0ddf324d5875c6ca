"""Denoisers against the render's size (issue 30): the same test-split scenes rendered at several sizes.

    python -m bench denoise_sizes --out out/bench_denoise_sizes             # 128, 256 and 512 px, 6 scenes
    python -m bench denoise_sizes --sizes 128 256 --seeds 2000000 2000001   # quicker

The test split renders its scenes at 128 px, the size the shipped denoiser was trained at; artists render at 1080p
and more. A scene rendered at twice the size shows the same things across twice the pixels, with the same noise
per pixel at the same samples, so a denoiser has to average over wider regions and keep detail that is now
several pixels wide. This benchmark holds the scenes fixed and changes only the size: the classic generator's
test seeds (``--seeds``, default the first 6; built without external meshes, as the demo's scene, so every
machine renders the same scenes), each rendered square at every ``--sizes`` at ``--spp`` samples with Cycles'
Denoise on (OIDN, Accurate prefilter: the file holds the raw render as "Noisy Image" and Blender's result as
"Combined") and a reference at ``--reference-spp`` (adaptive, as the training targets). Renders run in a child
process (bpy never shares a process with OpenEXR) into ``--cache`` (default ``CACHE/denoise_sizes``), which is
kept: a rerun renders only what is missing.

Methods, each given the same raw render or the part of its passes it reads: Blender's OIDN (the render's own
result, from colour, albedo and normal), every shipped denoise model of a still (``--models``: colour + albedo +
normal, and issue 25's colour-only, colour + albedo and 8-bit image models; an 8-bit image model reads the raw
render saved as an 8-bit sRGB image at the reference's exposure, as artists save renders, and is scored in
display space against the reference saved the same way), and pyoidn (High), when installed, given each of those
sets of passes (HDR off for the 8-bit image). Table: mean PSNR per size (tone-mapped; display PSNR for the 8-bit
image); each of ours minus Blender's OIDN (the full set) and minus pyoidn given the same passes, per size. Writes
``denoise_sizes.json`` (every scene's figures) and ``denoise_sizes.md`` into ``--out``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ml_core import paths

from . import core, peers
from .core import BENCHMARKS, Benchmark, markdown_table
from .denoise import PEER as BLENDER, PYOIDN, ldr_score
#: the classic generator's first test seeds (the split's seeds start at 2000000; the demo's scene is 2000012)
DEFAULT_SEEDS = tuple(range(2_000_000, 2_000_006))
#: sampling seeds of the noisy render and of the reference (the demo's)
NOISY_SEED, REFERENCE_SEED = 1, 2


def options(p) -> None:
    core.add_options(p, data_set=False, methods=True, hd=False, out=Path("out/bench_denoise_sizes"))
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512], help="square render sizes in pixels "
                   "(default: 128 256 512)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                   help="scene seeds of the classic generator (default: the test split's first 6)")
    p.add_argument("--spp", type=int, default=4, help="samples of the noisy render (default: %(default)s)")
    p.add_argument("--reference-spp", type=int, default=512, help="reference samples (default: %(default)s)")
    p.add_argument("--cache", type=Path, default=paths.cache_dir() / "denoise_sizes",
                   help="render cache, kept between runs (default: %(default)s)")
    p.add_argument("--threads", type=int, default=0, help="Cycles threads (0: all cores)")


def check(args) -> None:
    """ValueError for options that cannot work, before anything renders."""
    if any(size < 16 for size in args.sizes):
        raise ValueError(f"--sizes: each at least 16 pixels, got {args.sizes}")
    if args.spp < 1 or args.reference_spp <= args.spp:
        raise ValueError(f"--spp must be at least 1 and --reference-spp above it, got {args.spp} and "
                         f"{args.reference_spp}")


def folder(cache: Path, seed: int, size: int) -> Path:
    return Path(cache) / f"{seed}_{size}"


def noisy_name(spp: int) -> str:
    return f"noisy_spp{spp:04d}.exr"


def reference_name(spp: int) -> str:
    return f"reference_spp{spp:04d}.exr"


def main(args) -> str:
    check(args)
    methods = makers(args.models)
    core.check_names(methods, args.methods)
    methods = {name: method for name, method in methods.items() if args.methods is None or name in args.methods}
    render(args)
    result = score(args, methods)
    result["command"] = "python -m bench " + " ".join(sys.argv[1:])
    text = report(result)
    core.write_reports(args.out, "denoise_sizes", result, text, log=lambda m: print(m, file=sys.stderr))
    return text


#: the passes a model or peer reads, and the suffix of the pyoidn peer given only those; ``image8``: the raw
#: render saved as an 8-bit sRGB image at the reference's exposure (``display_8bit``), as artists save renders,
#: scored in display space (``bench.denoise.ldr_score``)
INPUT_SETS = {("color", "albedo", "normal"): "", ("color", "albedo"): ", colour + albedo", ("color",): ", colour only",
              ("image8",): ", 8-bit image"}
IMAGE8 = ("image8",)


def makers(models_dir: Path | None) -> dict:
    """{method name: (a function of (colour, albedo, normal, Blender's result) -> the denoised colour, the passes
    it reads)}: Blender's OIDN, every shipped model of a still's passes (issue 25's colour-only, colour + albedo
    and 8-bit image ones too; for an 8-bit image model the colour is the 8-bit image's linear values), and pyoidn
    given each of those sets of passes."""
    from addon.runtime import api

    methods = {BLENDER: (lambda color, albedo, normal, blender: blender, ("color", "albedo", "normal"))}
    models = {}
    for entry in core.models("denoise", models_dir):
        names = tuple(i.name for i in entry.contract.image_inputs)
        srgb = entry.contract.image_inputs[0].color_space == "srgb"
        if names not in INPUT_SETS:
            continue  # a window of frames or Blender's result as an input: other benchmarks

        def run(color, albedo, normal, blender, _name=entry.name, _names=names, _srgb=srgb):
            given = {"albedo": albedo, "normal": normal}
            return np.asarray(api.denoise(color, model=_name, models_dir=models_dir,
                                          source_range="ldr" if _srgb else None,
                                          **{k: v for k, v in given.items() if k in _names}))[..., :3]
        models[f"postpass {entry.name}"] = (run, IMAGE8 if srgb else names)
    if peers.pyoidn_available():
        for names in sorted({n for _, n in models.values()} | {("color", "albedo", "normal")}, key=len, reverse=True):
            methods[PYOIDN + INPUT_SETS[names]] = (
                lambda color, albedo, normal, blender, _names=names: peers.pyoidn_denoise(
                    color, albedo if "albedo" in _names else None, normal if "normal" in _names else None,
                    hdr=_names != IMAGE8), names)
    return {**methods, **models}


def render(args) -> None:
    """Render what the cache lacks, in a child process."""
    missing = [[seed, size] for seed in args.seeds for size in args.sizes
               if not all((folder(args.cache, seed, size) / name).is_file()
                          for name in (noisy_name(args.spp), reference_name(args.reference_spp)))]
    if not missing:
        return
    print(f"rendering {len(missing)} scene sizes into {args.cache}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="postpass-denoise-sizes-") as work:
        job = Path(work) / "job.json"
        job.write_text(json.dumps({"cache": str(args.cache), "renders": missing, "spp": args.spp,
                                   "reference_spp": args.reference_spp, "threads": args.threads}))
        subprocess.run([sys.executable, "-m", "bench.denoise_sizes", "--child", str(job)], check=True,
                       cwd=Path(__file__).resolve().parents[1])


def score(args, methods: dict) -> dict:
    from addon.runtime.color import display_8bit, exposure_scale, srgb_decode
    from addon.runtime.exr import read_exr
    from ml_core.metrics import render_metrics

    image8 = any(reads == IMAGE8 for _, reads in methods.values())
    scenes = []
    for seed in args.seeds:
        for size in args.sizes:
            d = folder(args.cache, seed, size)
            noisy, reference = read_exr(d / noisy_name(args.spp)), read_exr(d / reference_name(args.reference_spp))
            passes = (noisy.get("Noisy Image")[..., :3], noisy.get("Denoising Albedo"),
                      noisy.get("Denoising Normal"), noisy.get("Combined")[..., :3])
            ref = reference.get("Combined")[..., :3]
            psnr = {"noisy": render_metrics(passes[0], ref)["psnr"]}
            if image8:  # the 8-bit image of the raw render, read back as linear [0, 1] values
                exposure = exposure_scale(ref)
                shown, saved = display_8bit(ref, exposure), srgb_decode(display_8bit(passes[0], exposure))
                psnr["noisy, 8-bit image"] = ldr_score(saved, shown)["psnr"]
            for name, (method, reads) in methods.items():
                if reads == IMAGE8:
                    psnr[name] = ldr_score(method(saved, None, None, None), shown)["psnr"]
                else:
                    psnr[name] = render_metrics(method(*passes), ref)["psnr"]
            scenes.append({"seed": seed, "size": size, "psnr": psnr})
    names = ["noisy", *(["noisy, 8-bit image"] if image8 else []), *methods]
    means = {size: {m: float(np.mean([s["psnr"][m] for s in scenes if s["size"] == size])) for m in names}
             for size in args.sizes}
    inputs = {name: list(reads) for name, (_, reads) in methods.items()}
    inputs.update({"noisy": ["color"], **({"noisy, 8-bit image": list(IMAGE8)} if image8 else {})})
    return {"sizes": args.sizes, "seeds": args.seeds, "spp": args.spp, "reference_spp": args.reference_spp,
            "methods": names, "inputs": inputs, "mean_psnr": means, "scenes": scenes}


def report(result: dict) -> str:
    sizes, means, inputs = result["sizes"], result["mean_psnr"], result["inputs"]
    rows = [[name, "8-bit sRGB image (display PSNR)" if inputs[name] == list(IMAGE8)
             else " + ".join(inputs[name]).replace("color", "colour")]
            + [f"{means[size][name]:.2f}" for size in sizes] for name in result["methods"]]
    for name in (m for m in result["methods"] if m.startswith("postpass ")):
        # Blender's OIDN read every pass: only a model of every pass is set against it
        peers_of = [BLENDER] if tuple(inputs[name]) == ("color", "albedo", "normal") else []
        for p in (p for p in peers_of + [PYOIDN + INPUT_SETS[tuple(inputs[name])]] if p in result["methods"]):
            rows.append([f"{name} - {p}", ""] + [f"{means[size][name] - means[size][p]:+.2f}" for size in sizes])
    return (f"Denoise at {result['spp']} spp against the render's size: {len(result['seeds'])} test-split scenes "
            f"rendered at each size, references at {result['reference_spp']} spp; mean tone-mapped PSNR (dB); "
            "every method is given the passes it names\n\n"
            + markdown_table(["method", "passes"] + [f"{size} px" for size in sizes], rows))


# ----------------------------------------------------------------------------------------------------------
# The child: bpy renders (never in a process with OpenEXR)
# ----------------------------------------------------------------------------------------------------------
def child(job_path: Path) -> None:
    from ml_core import blender, render
    from ml_core.scenes import build_scene, make_spec

    bpy = blender.import_bpy()
    job = json.loads(job_path.read_text())
    by_seed: dict[int, list[int]] = {}
    for seed, size in job["renders"]:
        by_seed.setdefault(seed, []).append(size)
    for seed, sizes in by_seed.items():
        scene = build_scene(make_spec(seed, []))
        for size in sizes:
            d = folder(Path(job["cache"]), seed, size)
            d.mkdir(parents=True, exist_ok=True)
            config = render.RenderConfig(width=size, height=size, threads=job["threads"])
            render.setup_render(scene, config)
            renders = {noisy_name(job["spp"]): dict(spp=job["spp"], seed=NOISY_SEED, denoise=True),
                       reference_name(job["reference_spp"]): dict(spp=job["reference_spp"], seed=REFERENCE_SEED,
                                                                  adaptive=config.target_adaptive_threshold)}
            for name, settings in renders.items():
                if not (d / name).is_file():
                    seconds = render.render_still(bpy, scene, d / name, config=config, **settings)
                    print(f"  seed {seed}, {size} px: {name} in {seconds:.1f} s", file=sys.stderr, flush=True)


BENCHMARKS.add("denoise_sizes", Benchmark("denoisers against the render's size (issue 30): the test split's scenes "
                                          "at 128, 256 and 512 px beside Blender's OIDN and pyoidn",
                                          main, options, __doc__))

if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    child(Path(sys.argv[2]))
