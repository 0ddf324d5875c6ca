"""The README's demo: render the built-in demo scene with Cycles and run Postpass on it.

    python -m bench.demo --out out/demo

Writes to the output folder: ``noisy.exr`` (few samples, with albedo/normal/depth/vector passes),
``reference.exr`` (many samples), ``lowres_x2.exr`` (the same at half size, for up-res), ``blender_oidn.exr`` (Blender's built-in denoiser on the same noisy render:
the peer every Blender user already has), ``postpass_<model>.exr`` per shipped Postpass denoiser, render up-res
(guided and image-only HDR) and inbetween model, ``noisy.png`` (the noisy render saved as an 8-bit PNG) and
``postpass_denoise_kpn_ldr.png`` (the 8-bit image denoiser's result), ``frame_0001.exr`` ... ``frame_0003.exr`` (the scene's animation, for inbetweening frame 2
from frames 1 and 3; ``guides.0002.exr``: frame 2's guide render, which the guided inbetweener also reads),
``noisy_frame_0000.exr`` ... ``noisy_frame_0004.exr`` but 2 (the still's neighbouring frames at
its samples, rendered with Cycles' Denoise on: the temporal denoisers read them beside the still, and
``denoise_oidn_temporal`` averages Blender's denoised frames 0-4 on ``blender_oidn.exr``), ``comparison.png``
(one row per task, tone-mapped, with PSNR against the reference; the colorize row colours the reference's grey
from 10 hints sampled from it) and ``summary.json``; and
``shot.blend`` (the demo scene saved as an artist's shot), ``shot_models/`` (``postpass finetune`` on it: the
shipped denoiser fine-tuned on the shot for a minute, its models folder and report), ``postpass_shot.exr``
(that model on the noisy render, shown in the denoise row) and, when the fine-tune kept its correction of
Blender's denoised render, ``postpass_shot_residual.exr`` (that correction on ``blender_oidn.exr``, Blender's
result with the raw render beside it, shown in the denoise row too) and ``postpass_shot_residual_temporal.exr``
(the correction on frames 0-4 inside the average of Blender's frames, what the shot's animations get).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from addon.runtime.registry import sources_read
from ml_core import blender, render
from ml_core.scenes import build_scene, make_spec

from . import core

#: The built-in demo scene: a test-split seed (never trained on), built without external meshes so it is the
#: same on every machine. Chosen for glossy and textured surfaces, a small light and visible depth.
DEMO_SEED = 2_000_012


def run(out: Path, size: int = 256, spp: int = 4, reference_spp: int = 512, models_dir: Path | None = None,
        finetune_minutes: float = 1.0, log=print) -> dict:
    """Render, run Blender's OIDN and every shipped Postpass denoise model (``models_dir``: another registry),
    and the shipped denoiser fine-tuned on the demo scene saved as a shot for ``finetune_minutes`` (0: not)."""
    from addon.runtime import api
    from addon.runtime.color import exposure_scale, tonemap
    from addon.runtime.exr import read_exr
    from ml_core.figures import image_grid
    from ml_core.metrics import render_metrics

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
            "reference": dict(spp=reference_spp, seed=2, adaptive=config.target_adaptive_threshold),
            "lowres_x2": dict(spp=reference_spp, seed=3, scale=2, adaptive=config.target_adaptive_threshold),
            **{f"frame_{f:04d}": dict(spp=config.anim_spp, seed=4, frame=f, denoise=True) for f in (1, 2, 3)},
            # the still's neighbouring frames at its samples, each with its own seed, for the temporal denoisers,
            # with Cycles' Denoise on as Blender renders by default: the raw render is kept as "Noisy Image" (what
            # denoise_kpn_temporal reads), Blender's result as Combined (what denoise_oidn_temporal averages)
            **{f"noisy_frame_{f:04d}": dict(spp=spp, seed=10 + f, frame=f, denoise=True) for f in (0, 1, 3, 4)}}
    for name, job in jobs.items():
        timings[name] = render.render_still(bpy, scene, out / f"{name}.exr", config=config, **job)
        what = f"{job['spp']} spp" + (" + OIDN" if job.get("denoise") else "") + (" at 1/2 size" if job.get("scale") else "")
        what += f" (frame {job['frame']})" if job.get("frame") else ""
        log(f"  {name}.exr: {what} in {timings[name]:.1f} s")

    # frame 2's guide render (issue 28): what a farm renders for a frame it skips, for the guided inbetweener
    from addon.guide_render import render_guide_frames
    with blender.quiet_stdout():
        guides = render_guide_frames(scene, [2], out / "guides.####.exr", seed=4, bpy=bpy)
    timings["guides_0002"] = sum(guides["seconds"].values())
    log(f"  guides.0002.exr: frame 2's guide passes ({guides['samples']} spp) in {timings['guides_0002']:.1f} s "
        f"(the full frame 2: {timings['frame_0002']:.1f} s)")

    shot_model = _finetune(bpy, scene, out, size, spp, finetune_minutes, log) if finetune_minutes else None

    # Blender's OIDN time is the render with denoising minus the same render without it.
    timings["blender_oidn"] = max(timings["blender_oidn"] - timings["noisy"], 0.0)
    labels = {"noisy": f"noisy {spp} spp", "blender_oidn": "Blender OIDN", "reference": f"reference {reference_spp} spp"}
    # Every shipped denoiser runs through the same file path a farm uses (passes found by name, header kept).
    # A temporal model (issue 26) denoises the still (frame 2) with the neighbouring frames of its window (0-4).
    window = {k: out / f"noisy_frame_{f:04d}.exr" for k, f in (("prev2", 0), ("prev", 1), ("next", 3), ("next2", 4))}
    for entry in core.models("denoise", models_dir):
        name = f"postpass_{entry.name}"
        if entry.contract.image_inputs[0].color_space == "srgb":  # an 8-bit image model (issue 25): the PNG
            timings[name] = _denoise_png(out, name, entry.name, models_dir)
            labels[name] = f"Postpass {entry.name} (8-bit PNG)"
            log(f"  {name}.exr: {entry.name} v{entry.version} on noisy.png (the render saved as an 8-bit PNG) "
                f"in {timings[name]:.1f} s")
            continue
        temporal = "vector" in entry.contract.required
        neighbours = dict(temporal=True, **window) if temporal else {}
        frames = sorted(sources_read(entry.contract))  # a window of 5 around frame 2: source s is frame s
        # a model of Blender's denoised frames reads the render Blender denoised (its raw render beside it)
        source = "blender_oidn.exr" if "blender_denoised" in entry.contract.required else "noisy.exr"
        result = api.denoise_file(out / source, out / f"{name}.exr", model=entry.name, models_dir=models_dir,
                                  **neighbours)
        timings[name] = result.seconds
        labels[name] = f"Postpass {entry.name}" + (f" (frames {frames[0]}-{frames[-1]})" if temporal else "")
        log(f"  {name}.exr: {entry.name} v{entry.version} on {source}, {result.provider}, in {result.seconds:.1f} s"
            + (f" with frames {frames[0]}-{frames[-1]}" if temporal else ""))
    if shot_model:  # the fine-tune's model, from its own models folder, on the same noisy render
        model, residual, folder, minutes = shot_model
        result = api.denoise_file(out / "noisy.exr", out / "postpass_shot.exr", model=model, models_dir=folder)
        timings["postpass_shot"] = result.seconds
        labels["postpass_shot"] = f"Postpass {model} ({minutes:g} min on this shot)"
        log(f"  postpass_shot.exr: {model} from {folder} in {result.seconds:.1f} s")
        if residual:  # its correction of Blender's result, on the render Blender denoised (the raw render beside it)
            result = api.denoise_file(out / "blender_oidn.exr", out / "postpass_shot_residual.exr", model=residual,
                                      models_dir=folder)
            timings["postpass_shot_residual"] = result.seconds
            labels["postpass_shot_residual"] = f"Postpass {residual} (Blender OIDN + {minutes:g} min on this shot)"
            log(f"  postpass_shot_residual.exr: {residual} on blender_oidn.exr (Blender's result and the raw "
                f"render) in {result.seconds:.1f} s")
            # and for animations: the correction on the window's frames inside the average of Blender's frames
            report = json.loads((folder / "finetune.json").read_text())
            averaged = report.get("residual_temporal_model")
            if averaged:
                result = api.denoise_file(out / "blender_oidn.exr", out / "postpass_shot_residual_temporal.exr",
                                          model=averaged, models_dir=folder, temporal=True, **window)
                timings["postpass_shot_residual_temporal"] = result.seconds
                labels["postpass_shot_residual_temporal"] = (f"Postpass {averaged} (frames 0-4, Blender OIDN + "
                                                             f"{minutes:g} min on this shot)")
                log(f"  postpass_shot_residual_temporal.exr: {averaged} on blender_oidn.exr with frames 0-4 in "
                    f"{result.seconds:.1f} s")

    reference = read_exr(out / "reference.exr").get("Combined")
    results = {name: read_exr(out / f"{name}.exr").get("Combined") for name in labels if name != "reference"}
    upres = _upres_row(out, reference, models_dir, timings, log)
    metrics = {name: render_metrics(img, reference) for name, img in {**results, **upres}.items()}
    scale = exposure_scale(reference[..., :3])
    rows, row_labels, captions = [], [], []
    for row, kind in ((results, "denoise"), (upres, "up-res x2")):
        columns = list(row) + ["reference"]
        rows.append([tonemap(row.get(c, reference), scale) for c in columns])
        captions.append([f"{labels.get(c, c)}: {metrics[c]['psnr']:.1f} dB" if c in metrics else "reference"
                         for c in columns])
        row_labels.append(kind)
    # Colorize: the reference's displayed grey, coloured from 10 hints sampled from it (RGB PSNR of sRGB).
    colour_row, colour_metrics = _colorize_row(tonemap(reference[..., :3], scale), models_dir, timings, log)
    rows.append(list(colour_row.values()))
    captions.append([f"{c}: {colour_metrics[c]:.1f} dB" if c in colour_metrics else c for c in colour_row])
    row_labels.append("colorize")
    metrics.update({c: {"psnr": v} for c, v in colour_metrics.items()})
    # Inbetween: frame 2 from frames 1 and 3, scored against the rendered frame 2.
    between = _inbetween_row(out, models_dir, timings, log)
    middle = read_exr(out / "frame_0002.exr").get("Combined")
    frame_scale = exposure_scale(middle[..., :3])
    metrics.update({c: render_metrics(img, middle) for c, img in between.items()})
    rows.append([tonemap(img, frame_scale) for img in between.values()] + [tonemap(middle, frame_scale)])
    captions.append([f"{c}: {metrics[c]['psnr']:.1f} dB" for c in between] + ["rendered frame 2"])
    row_labels.append("inbetween")
    grid = image_grid(rows, [""] * max(len(r) for r in rows), out / "comparison.png", cell=size,
                      captions=captions, row_labels=row_labels)
    labels.update({name: name for name in (*upres, *colour_row, *between) if name not in labels})

    summary = {"scene_seed": DEMO_SEED, "size": size, "spp": spp, "reference_spp": reference_spp,
               "blender": bpy.app.version_string, "seconds": {k: round(v, 3) for k, v in timings.items()},
               "metrics": {labels[k]: {m: round(v, 4) for m, v in d.items()} for k, d in metrics.items()},
               "comparison": str(grid)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _denoise_png(out: Path, name: str, model: str, models_dir) -> float:
    """The noisy render saved as an artist saves it (an 8-bit PNG at the reference's exposure: ``noisy.png``),
    denoised by ``model`` through the file path (8-bit in, 8-bit out: ``NAME.png``); its result back in the
    render's linear scale as ``NAME.exr``, to be scored beside the others. Returns the seconds."""
    from addon.runtime import api
    from addon.runtime.color import display_8bit, exposure_scale, srgb_decode
    from addon.runtime.exr import read_exr
    from addon.runtime.imageio import read_image, write_image

    exposure = exposure_scale(read_exr(out / "reference.exr").get("Combined")[..., :3])
    noisy = read_exr(out / "noisy.exr").get("Combined")[..., :3]
    write_image(out / "noisy.png", srgb_decode(display_8bit(noisy, exposure)), bit_depth=8)
    result = api.denoise_file(out / "noisy.png", out / f"{name}.png", model=model, models_dir=models_dir)
    write_image(out / f"{name}.exr", read_image(out / f"{name}.png").get("Combined")[..., :3] / exposure)
    return result.seconds


def _finetune(bpy, scene, out: Path, size: int, spp: int, minutes: float,
              log) -> tuple[str, str | None, Path, float]:
    """Save the demo scene as an artist's shot (``shot.blend``: Cycles at ``spp`` samples, no denoising) and run
    ``postpass finetune`` on it (``python -m export.finetune``, a child process: it opens the .blend itself)
    for ``minutes``; returns (the denoiser it kept, its correction of Blender's result or None when it kept none,
    its models folder, minutes)."""
    import subprocess

    scene.cycles.samples, scene.cycles.use_denoising, scene.cycles.use_adaptive_sampling = spp, False, False
    scene.render.resolution_x = scene.render.resolution_y = size
    shot, models = out / "shot.blend", out / "shot_models"
    bpy.ops.wm.save_as_mainfile(filepath=str(shot), copy=True)
    log(f"fine-tuning the shipped denoiser on the demo scene saved as a shot ({minutes:g} min): postpass finetune "
        f"{shot.name} -o {models.name}")
    command = [sys.executable, "-m", "export.finetune", str(shot), "-o", str(models), "--minutes", f"{minutes:g}",
               "--work", str(out / "shot_work"), "--general", "none", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"postpass finetune failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    log(f"  {done.stdout.strip()}")
    report = json.loads((models / "finetune.json").read_text())
    return report["model"], report.get("residual_model"), models, minutes


def _upres_row(out: Path, reference, models_dir, timings: dict, log) -> dict:
    """The demo scene rendered at half size, up-ressed x2: bicubic and every shipped x2 up-res model. Render
    models up-res the EXR through the file path a farm uses, guided ones with the full-size render's albedo and
    normal (``reference.exr``); image-only sRGB models up-res the displayed image, as for a texture."""
    import numpy as np

    from addon.runtime import api
    from addon.runtime.color import exposure_scale
    from addon.runtime.exr import read_exr

    from .upres import pil_resize

    low = read_exr(out / "lowres_x2.exr").get("Combined")[..., :3]
    row = {"bicubic x2": np.maximum(pil_resize(low, reference.shape[1::-1]), 0)}
    exposure = exposure_scale(reference[..., :3])
    for entry in core.models("upres", models_dir):
        if entry.contract.scale != 2:
            continue
        name = f"Postpass {entry.name}"
        guided = any(i.grid == "output" for i in entry.contract.image_inputs)
        if guided or entry.contract.image_inputs[0].color_space == "linear":  # a render model: the EXR itself
            result = api.upres_file(out / "lowres_x2.exr", out / f"postpass_{entry.name}.exr", scale=2,
                                    guide=out / "reference.exr" if guided else None, model=entry.name,
                                    models_dir=models_dir)
            row[name] = read_exr(out / f"postpass_{entry.name}.exr").get("Combined")[..., :3]
            timings[f"postpass_{entry.name}"] = result.seconds
        else:
            start = time.perf_counter()
            row[name] = api.upres(low * exposure, 2, model=entry.name, models_dir=models_dir) / exposure
            timings[f"postpass_{entry.name}"] = time.perf_counter() - start
        log(f"  {name}: x2 from the half-size render in {timings[f'postpass_{entry.name}']:.1f} s")
    return row


def _colorize_row(truth, models_dir, timings: dict, log) -> tuple[dict, dict]:
    """sRGB images (the grey input, every shipped colorizer from 10 hints sampled from ``truth``, the truth)
    and their RGB PSNRs against the truth."""
    import numpy as np

    from ml_core.metrics import psnr

    from .colorize import colorize_methods, gray_of, sample_hints

    gray = gray_of(truth)
    hints, mask = sample_hints(truth, 10, seed=0)
    row = {"grey input": np.repeat(gray[..., None], 3, -1)}
    for name, method in colorize_methods(models_dir).items():
        if not name.startswith("postpass "):  # the bench's peers (grey, Levin propagation): not in the demo
            continue
        start = time.perf_counter()
        row[f"{name} (10 hints)"] = np.clip(method(gray, hints, mask), 0.0, 1.0)
        timings[name] = time.perf_counter() - start
        log(f"  {name}: colorized the reference's grey from 10 hints in {timings[name]:.1f} s")
    metrics = {name: psnr(img, truth) for name, img in row.items()}
    row["truth"] = truth
    return row, metrics


def _inbetween_row(out: Path, models_dir, timings: dict, log) -> dict:
    """Frame 2 made from frames 1 and 3: the frame blend, and every shipped inbetween model through the file
    path a farm uses (vectors and depth read from the EXR passes when the model takes them)."""
    from addon.runtime import api
    from addon.runtime.exr import read_exr

    first, last = (read_exr(out / f"frame_{f:04d}.exr").get("Combined") for f in (1, 3))
    row = {"frame blend": 0.5 * (first + last)}
    for entry in core.models("inbetween", models_dir):
        dst = out / f"postpass_{entry.name}.exr"
        guided = any(spec.source == 2 for spec in entry.contract.image_inputs)  # reads frame 2's guide render
        result = api.inbetween_file(out / "frame_0001.exr", out / "frame_0003.exr", dst, t=0.5, model=entry.name,
                                    models_dir=models_dir, guides=out / "guides.0002.exr" if guided else None)
        row[f"Postpass {entry.name}"] = read_exr(dst).get("Combined")
        timings[f"postpass_{entry.name}"] = result.seconds
        log(f"  postpass_{entry.name}.exr: frame 2 from frames 1 and 3{' and its guides' if guided else ''} in "
            f"{result.seconds:.1f} s")
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: %(default)s)")
    p.add_argument("--size", type=int, default=256, help="image width and height in pixels")
    p.add_argument("--spp", type=int, default=4, help="samples per pixel of the noisy render")
    p.add_argument("--reference-spp", type=int, default=512, help="samples per pixel of the reference")
    p.add_argument("--models", type=Path, default=None, help="model registry folder (default: the shipped models)")
    p.add_argument("--finetune-minutes", type=float, default=1.0, help="budget of the fine-tune on the demo "
                   "scene saved as a shot (postpass finetune; 0: skip it; default: %(default)s)")
    args = p.parse_args(argv)
    start = time.perf_counter()
    summary = run(args.out, args.size, args.spp, args.reference_spp, args.models, args.finetune_minutes)
    print("\nresult (PSNR / SSIM against the reference: tone-mapped renders, sRGB for colorize):")
    for name, m in summary["metrics"].items():
        print(f"  {name:<34} {m['psnr']:6.2f} dB  " + (f"{m['ssim']:.4f}" if "ssim" in m else ""))
    print(f"\noutputs in {args.out.resolve()}  (comparison: {Path(summary['comparison']).resolve()})")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
