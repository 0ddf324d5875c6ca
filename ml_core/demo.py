"""The README's demo: render the built-in demo scene with Cycles and run Postpass on it.

    python -m ml_core.demo --out out/demo

Writes to the output folder: ``noisy.exr`` (few samples, with albedo/normal/depth/vector passes),
``reference.exr`` (many samples), ``blender_oidn.exr`` (Blender's built-in denoiser on the same noisy render:
the peer every Blender user already has), ``postpass_<model>.exr`` per shipped Postpass denoiser, ``comparison.png``
(side by side, tone-mapped, with PSNR against the reference) and ``summary.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import blender, render
from .scenes import build_scene, make_spec

#: The built-in demo scene: a test-split seed (never trained on), built without external meshes so it is the
#: same on every machine. Chosen for glossy and textured surfaces, a small light and visible depth.
DEMO_SEED = 2_000_012


def run(out: Path, size: int = 256, spp: int = 4, reference_spp: int = 512, models_dir: Path | None = None,
        log=print) -> dict:
    """Render, run Blender's OIDN and every shipped Postpass denoise model (``models_dir``: another registry)."""
    from addon.runtime import api
    from addon.runtime.color import exposure_scale, tonemap
    from addon.runtime.exr import read_exr
    from addon.runtime.registry import Registry

    from .figures import image_grid
    from .metrics import render_metrics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bpy = blender.import_bpy()
    spec = make_spec(DEMO_SEED, [])
    scene = build_scene(spec)
    config = render.RenderConfig(width=size, height=size)
    render.setup_render(scene, config)
    timings = {}
    log(f"rendering the demo scene (seed {DEMO_SEED}, {size}x{size}) with Cycles on the CPU")
    jobs = {"noisy": dict(spp=spp, seed=1), "blender_oidn": dict(spp=spp, seed=1, denoise=True),
            "reference": dict(spp=reference_spp, seed=2, adaptive=config.target_adaptive_threshold)}
    for name, job in jobs.items():
        timings[name] = render.render_still(bpy, scene, out / f"{name}.exr", config=config, **job)
        log(f"  {name}.exr: {job['spp']} spp{' + OIDN' if job.get('denoise') else ''} in {timings[name]:.1f} s")

    # Blender's OIDN time is the render with denoising minus the same render without it.
    timings["blender_oidn"] = max(timings["blender_oidn"] - timings["noisy"], 0.0)
    labels = {"noisy": f"noisy {spp} spp", "blender_oidn": "Blender OIDN", "reference": f"reference {reference_spp} spp"}
    # Every shipped denoiser runs through the same file path a farm uses (passes found by name, header kept).
    for entry in Registry(models_dir).entries.values():
        if entry.contract.task == "denoise" and entry.precision == "fp32":
            name = f"postpass_{entry.name}"
            result = api.denoise_file(out / "noisy.exr", out / f"{name}.exr", model=entry.name, models_dir=models_dir)
            timings[name], labels[name] = result.seconds, f"Postpass {entry.name}"
            log(f"  {name}.exr: {entry.name} v{entry.version} on {result.provider} in {result.seconds:.1f} s")

    reference = read_exr(out / "reference.exr").get("Combined")
    results = {name: read_exr(out / f"{name}.exr").get("Combined") for name in labels if name != "reference"}
    metrics = {name: render_metrics(img, reference) for name, img in results.items()}
    scale = exposure_scale(reference[..., :3])
    columns = list(results) + ["reference"]
    images = [tonemap(results.get(c, reference), scale) for c in columns]
    captions = [f"{metrics[c]['psnr']:.1f} dB" if c in metrics else "" for c in columns]
    grid = image_grid([images], [labels[c] for c in columns], out / "comparison.png", cell=size,
                      captions=[captions])

    summary = {"scene_seed": DEMO_SEED, "size": size, "spp": spp, "reference_spp": reference_spp,
               "blender": bpy.app.version_string, "seconds": {k: round(v, 3) for k, v in timings.items()},
               "metrics": {labels[k]: {m: round(v, 4) for m, v in d.items()} for k, d in metrics.items()},
               "comparison": str(grid)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ml_core.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: %(default)s)")
    p.add_argument("--size", type=int, default=256, help="image width and height in pixels")
    p.add_argument("--spp", type=int, default=4, help="samples per pixel of the noisy render")
    p.add_argument("--reference-spp", type=int, default=512, help="samples per pixel of the reference")
    p.add_argument("--models", type=Path, default=None, help="model registry folder (default: the shipped models)")
    args = p.parse_args(argv)
    start = time.perf_counter()
    summary = run(args.out, args.size, args.spp, args.reference_spp, args.models)
    print("\nresult (tone-mapped PSNR / SSIM against the reference):")
    for name, m in summary["metrics"].items():
        print(f"  {name:<24} {m['psnr']:6.2f} dB  {m['ssim']:.4f}")
    print(f"\noutputs in {args.out.resolve()}  (comparison: {Path(summary['comparison']).resolve()})")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
