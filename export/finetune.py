"""Fine-tune the shipped denoiser on an artist's own shot, within a time budget (issue 27).

    python -m export.finetune SHOT.blend -o MODELS_DIR [--minutes 15] [--work DIR] [--general DIR|none]
                               [--target denoised|raw] [--seed 0] [--threads 0] [--json] [--quiet]
    postpass finetune ...      (the add-on's command and Blender's button: they run this in the training Python)

Within ``--minutes`` of wall time, start-up, rendering, training, export and evaluation all counted:

1. **Open and check** SHOT.blend with bpy: it must open, have a camera, render with Cycles and be at least
   64x64 px. Nothing of the artist's file changes: renders use an in-memory copy and it is never saved.
2. **Render views of the shot** (about half the budget; :mod:`ml_core.shot`): frames across its range, the
   camera nudged, crops of at most 256 px at its own resolution, each twice at the shot's samples (other
   Cycles seeds), denoised by Blender's OIDN (Accurate, High) as the artist's render is by default, the raw
   render kept beside it, and once as a reference at ``reference_spp`` samples (picked from a probe's timing so
   about a dozen views fit), denoised by Blender's OIDN (``--target denoised``, the default: a cleaner target
   than the raw pixels of a few dozen samples, +0.13 dB measured) or raw. Views 0 and 1, the shot's own
   framing, are **held out**: never trained on, they decide whether the results are kept.
3. **Train two models** for the time the budget leaves after a reserve for the last two steps
   (``train.seconds``: the learning rate follows the elapsed share), each exported from its last
   weight-averaged checkpoint as a parity-checked ONNX model:

   - ``denoise_oidn_residual_shot`` first (:data:`RESIDUAL_SHARE` of the time): a correction of Blender's own
     denoised render learned on the shot's views (``ml_core.models.denoise_oidn_residual``: a fresh network
     that starts as Blender's result and learns what OIDN gets wrong on this shot). It runs on renders with
     Cycles' Denoise and Denoising Data on (Combined is Blender's result, "Noisy Image" the raw render);
   - ``denoise_kpn_shot``: ``denoise_kpn`` fine-tuned from the shipped weights, a quarter of each batch drawn
     from the general v2 dataset when it is on this machine (``--general``; so the model keeps what it knew):
     for renders without Blender's result, and inside the temporal model.
4. **Evaluate honestly** on the held-out views' whole images, tone-mapped PSNR against their raw references:
   the fine-tuned ``denoise_kpn_shot`` against the shipped ``denoise_kpn``; the correction against Blender's
   own result and against the denoiser the folder runs otherwise on a render that holds Blender's result (the
   kept one of those two). Each is kept only when it gains at least :data:`MIN_GAIN_DB` over a baseline;
   otherwise the report says so and the baseline stays. So a render with Blender's result never gets a
   denoiser that did worse than Blender's own on the held-out views when the correction (which starts as
   Blender's result) did better than that denoiser.
5. **Write MODELS_DIR whole** (built beside it, renamed into place): a complete models folder
   (``registry.json``) that ``postpass denoise --models-dir MODELS_DIR`` and the add-on read: the models kept,
   their metadata naming the shot file, its sha256, the base model, the minutes, the pairs and the held-out
   gain; with the fine-tuned ``denoise_kpn_shot``, the same network inside the shipped temporal model's pooling
   of neighbouring frames as ``denoise_kpn_shot_temporal`` (what ``--temporal`` and Blender's animations then
   run); with the kept correction, the same correction on every frame of the window inside the shipped average of
   Blender's denoised frames as ``denoise_oidn_residual_shot_temporal`` (in place of ``denoise_oidn_temporal``:
   what ``--temporal`` runs on Blender-denoised frames); copies of every other shipped model; and
   ``finetune.json``, the report. A render with Blender's
   result gets the correction (the registry picks the model that reads the most of a file's passes), one
   without it the fine-tuned ``denoise_kpn_shot``. A MODELS_DIR that holds something other than an earlier
   fine-tune is refused, never overwritten.

Interrupted (Ctrl-C, SIGTERM: exit 130), the same command resumes: renders are written atomically into the
work folder (``--work``, default ``~/.cache/postpass/finetune/<shot sha256>-m<minutes>-s<seed>-<target>``), training
resumes from its last epoch, and the time already spent counts against the budget. ``--json`` prints one JSON
object per line on stdout (``{"event": "progress", "stage", "fraction", "elapsed_s", "remaining_s",
"message"}``, then ``{"event": "done", "report"}`` or ``{"event": "error", "message", "exit_code"}``) for the
add-on's progress bar; otherwise a progress bar shows the time left.

Exit codes: 0 finished (a model kept either way), 1 failed, 2 bad input before any work, 130 interrupted.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from addon.runtime.files import _fsync_folder, atomic_output
from addon.runtime.interrupts import interrupted
from addon.runtime.registry import DEFAULT_MODELS_DIR, REGISTRY_FILE, Registry
from ml_core import paths
from ml_core.shot import (DEFAULT_GENERAL, EXIT_INTERRUPTED, EXIT_OK, HELD_OUT_VIEWS, NOISY_PER_VIEW, REPORT,
                          TARGETS, VIEW_SIZE, Clock, FinetuneError, Shot, ShotRenderer, check_arguments,
                          dataset_from_views, file_sha256, general_mix, noisy_name, open_shot, render_views,
                          residual_config, stop_handler, training_config, usage_error, write_json)

BASE_MODEL = "denoise_kpn"
SHOT_MODEL = "denoise_kpn_shot"
#: the shipped temporal denoiser, and the fine-tuned network in its place: its architecture pools frames f-1 and
#: f+1 into frame f and runs the per-frame network (``denoise_kpn_accumulate``), so the shot's animations get
#: the fine-tune and the pooling together, with no training of their own
SHIPPED_TEMPORAL, SHOT_TEMPORAL_MODEL = "denoise_kpn_temporal", "denoise_kpn_shot_temporal"
#: the shot's correction of Blender's own denoised render (``ml_core.models.denoise_oidn_residual``): what a
#: render with Cycles' Denoise and Denoising Data on (Blender's defaults, plus the passes) gets
RESIDUAL_MODEL = "denoise_oidn_residual_shot"
#: the shipped average of Blender's denoised frames along the Vector pass (issue 26), and the shot's correction
#: applied to each of the three frames before it (``denoise_oidn_residual_pool``): what ``--temporal`` and
#: Blender's animations run on the shot's Blender-denoised renders when the correction is kept
SHIPPED_OIDN_TEMPORAL, RESIDUAL_TEMPORAL_MODEL = "denoise_oidn_temporal", "denoise_oidn_residual_shot_temporal"
#: what the correction is measured against and starts from: Blender's denoiser as the views rendered it
BLENDER_OIDN = "Blender OIDN (Accurate, High)"
#: the correction's share of the training time (trained first). Its gain grows with training time (room_lamp at
#: 256 px, 13 views: +0.08 dB over Blender's result on the held-out views after 250 s, +0.43 after 600 s) and it
#: is what a default render gets, so it takes most of it; the fine-tuned denoise_kpn, which stays below Blender's
#: result on the shots measured, serves renders without Blender's result and the temporal model (issue 27)
RESIDUAL_SHARE = 0.85
#: seconds kept back for export, evaluation and writing the folder (plus a share of the budget)
RESERVE_SECONDS, RESERVE_SHARE = 10.0, 0.03
#: the held-out gain a fine-tuned model must show to be kept: less is within the noise of four images
MIN_GAIN_DB = 0.05


class Progress:
    """Progress lines for people (a tqdm bar over the budget's seconds) or for the add-on (``--json``)."""

    def __init__(self, clock: Clock, as_json: bool, quiet: bool):
        self.clock, self.as_json, self.quiet = clock, as_json, quiet
        self.bar = None
        if not as_json and not quiet:
            from tqdm import tqdm

            # disable=None: no bar where stderr is not a terminal (a farm's log, the add-on's pipe)
            self.bar = tqdm(total=round(clock.budget), unit="s", desc="finetune", dynamic_ncols=True, disable=None,
                            bar_format="{desc:8} {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s  {postfix}")

    def __call__(self, message: str) -> None:
        elapsed, budget = self.clock.elapsed(), self.clock.budget
        if self.as_json:
            emit({"event": "progress", "stage": self.clock.stage, "fraction": round(min(1.0, elapsed / budget), 4),
                  "elapsed_s": round(elapsed, 1), "remaining_s": round(max(0.0, budget - elapsed), 1),
                  "message": message})
        elif self.bar is not None:
            self.bar.n = min(elapsed, budget)
            self.bar.set_description_str(self.clock.stage or "finetune", refresh=False)
            self.bar.set_postfix_str(f"{max(0.0, budget - elapsed) / 60:.1f} min left: {message[:60]}",
                                     refresh=False)
            self.bar.refresh()

    def say(self, line: str) -> None:
        """A line of the human report (stderr beside the bar; nothing in JSON mode)."""
        if self.as_json or self.quiet:
            return
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.n = min(self.clock.elapsed(), self.clock.budget)
            self.bar.close()


#: where ``--json`` lines go: the process's stdout, which :func:`json_stdout` keeps for them alone
_json_out = sys.stdout


def json_stdout() -> None:
    """Reserve stdout for the JSON lines: whatever else writes to file descriptor 1 (Blender's and Cycles'
    messages, libraries) goes to stderr from now on."""
    global _json_out
    sys.stdout.flush()
    _json_out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)


def emit(obj: dict) -> None:
    try:
        _json_out.write(json.dumps(obj) + "\n")
        _json_out.flush()
    except (BrokenPipeError, ValueError):  # the reader (Blender) is gone: the run goes on, its folder is the result
        pass


# --------------------------------------------------------------------------------------------------
# Evaluation, export and the models folder
# --------------------------------------------------------------------------------------------------
def held_out_scores(work: Path, shot: Shot, models: dict[str, Path]) -> dict:
    """Tone-mapped PSNR on every held-out image of each model (name -> models folder), of the noisy input and,
    where the views hold it, of Blender's denoised render (:data:`BLENDER_OIDN`). Each model gets what a render
    file gives it: the raw render, albedo and normal, and Blender's result when it reads one."""
    from addon.runtime import api
    from addon.runtime.contract import BLENDER_DENOISED_PASS, as_raw_render
    from addon.runtime.exr import read_exr
    from addon.runtime.registry import Registry

    from ml_core.metrics import render_metrics

    reads_blender = {name: "blender_denoised" in {i.name for i in Registry(folder).get(name).contract.inputs}
                     for name, folder in models.items()}
    scores = {name: [] for name in ["noisy", BLENDER_OIDN, *models]}
    for index in range(HELD_OUT_VIEWS):
        folder = work / "views" / f"{index:04d}"
        # a denoised reference keeps its raw render: the unbiased one to score against
        reference = as_raw_render(read_exr(folder / "reference.exr").passes)["Combined"][..., :3]
        for k in range(NOISY_PER_VIEW):
            passes = as_raw_render(read_exr(folder / noisy_name(shot.spp, k)).passes)
            color, blender = passes["Combined"][..., :3], passes.get(BLENDER_DENOISED_PASS)
            scores["noisy"].append(render_metrics(color, reference)["psnr"])
            if blender is not None:
                scores[BLENDER_OIDN].append(render_metrics(blender, reference)["psnr"])
            for name, folder_of in models.items():
                if reads_blender[name] and blender is None:
                    continue
                out = api.denoise(color, albedo=passes["Denoising Albedo"], normal=passes["Denoising Normal"],
                                  blender_denoised=blender if reads_blender[name] else None, model=name,
                                  models_dir=folder_of)
                scores[name].append(render_metrics(out, reference)["psnr"])
    return {name: float(np.mean(values)) for name, values in scores.items() if values}


def stamp_metadata(folder: Path, name: str, record: dict) -> None:
    """Add the fine-tune's record to model ``name``'s ONNX metadata (``finetune``, and ``metrics.benchmark``)
    and republish it in ``folder``'s registry with its new sha256."""
    import onnx

    registry = Registry(folder)
    entry = registry.get(name)
    proto = onnx.load(str(entry.path))
    meta = {p.key: p.value for p in proto.metadata_props}
    metrics = json.loads(meta.get("metrics") or "{}")
    metrics["benchmark"] = {**metrics.get("benchmark", {}), "finetune_held_out": record["held_out"]}
    meta["metrics"] = json.dumps(metrics)
    meta["finetune"] = json.dumps(record, sort_keys=True)
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    data = proto.SerializeToString()
    with atomic_output(entry.path) as tmp:
        Path(tmp).write_bytes(data)
    registry.publish(name, entry.path.name, hashlib.sha256(data).hexdigest(), meta)


def export_temporal(checkpoint: Path, staging: Path, shot: Shot) -> bool:
    """Publish :data:`SHOT_TEMPORAL_MODEL` in ``staging``: the shipped temporal model with the fine-tuned
    per-frame weights of ``checkpoint`` (its pooling parameters kept). False, and nothing written, when the
    shipped temporal model does not run the per-frame network inside (another architecture or size)."""
    from ml_core.checkpoint import load_checkpoint, save_checkpoint
    from ml_core.shipped import model_from_onnx

    from . import export_checkpoint

    per_frame, config = load_checkpoint(checkpoint)
    temporal, _ = model_from_onnx(Registry(DEFAULT_MODELS_DIR).get(SHIPPED_TEMPORAL).path)
    if temporal.architecture != "denoise_kpn_accumulate" or temporal.params != per_frame.params:
        return False
    temporal.load_state_dict({**temporal.state_dict(), **per_frame.state_dict()})
    pooled = checkpoint.with_name("temporal.pt")
    save_checkpoint(pooled, temporal, name=SHOT_TEMPORAL_MODEL, version=config["version"],
                    training=config["training"])
    export_checkpoint(pooled, staging, name=SHOT_TEMPORAL_MODEL,
                      note=f"the per-frame network fine-tuned on the shot {shot.path.name} (sha256 "
                           f"{shot.sha256[:12]}) inside the shipped {SHIPPED_TEMPORAL}'s pooling of frames f-1, f+1")
    return True


def export_residual_temporal(checkpoint: Path, staging: Path, shot: Shot) -> bool:
    """Publish :data:`RESIDUAL_TEMPORAL_MODEL` in ``staging``: the shot's correction of ``checkpoint`` on
    every frame of the window inside the shipped :data:`SHIPPED_OIDN_TEMPORAL`'s average (its window and gains
    kept). False, and nothing written, when that shipped model is not the average of Blender's frames."""
    from ml_core.checkpoint import load_checkpoint, save_checkpoint
    from ml_core.models import build
    from ml_core.shipped import model_from_onnx

    from . import export_checkpoint

    registry = Registry(DEFAULT_MODELS_DIR)
    if SHIPPED_OIDN_TEMPORAL not in registry.entries:
        return False
    pool, _ = model_from_onnx(registry.get(SHIPPED_OIDN_TEMPORAL).path)
    correction, config = load_checkpoint(checkpoint)
    if pool.architecture != "denoise_oidn_pool" or correction.architecture != "denoise_oidn_residual":
        return False
    both = build("denoise_oidn_residual_pool", **correction.params, radius=pool.radius)
    both.init_from(correction)
    both.init_from(pool)
    path = checkpoint.with_name("residual_temporal.pt")
    save_checkpoint(path, both, name=RESIDUAL_TEMPORAL_MODEL, version=config["version"], training=config["training"])
    export_checkpoint(path, staging, name=RESIDUAL_TEMPORAL_MODEL,
                      note=f"the correction of Blender's denoised render fine-tuned on the shot {shot.path.name} "
                           f"(sha256 {shot.sha256[:12]}) on frames f-{pool.radius} .. f+{pool.radius}, inside the shipped "
                           f"{SHIPPED_OIDN_TEMPORAL}'s average along the Vector pass")
    return True


def add_shipped_models(folder: Path, skip: set[str]) -> list[str]:
    """Copy every shipped model except ``skip`` into ``folder`` and list it in the folder's registry."""
    shipped = json.loads((DEFAULT_MODELS_DIR / REGISTRY_FILE).read_text())["models"]
    path = folder / REGISTRY_FILE
    raw = json.loads(path.read_text()) if path.is_file() else {"format": 1, "models": {}}
    copied = []
    for name, entry in shipped.items():
        if name in skip:
            continue
        shutil.copyfile(DEFAULT_MODELS_DIR / entry["file"], folder / entry["file"])
        raw["models"][name] = entry
        copied.append(name)
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(raw, indent=1) + "\n")
    registry = Registry(folder)
    for name in registry.entries:
        problem = registry.verify(name)
        if problem:
            raise FinetuneError(f"{folder}: model {name}: {problem}")
    return copied


def publish_folder(staging: Path, out: Path) -> None:
    """Put the complete ``staging`` folder at ``out``; an earlier fine-tune's folder there is replaced."""
    for path in staging.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    _fsync_folder(staging)
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out, old)
    os.rename(staging, out)
    _fsync_folder(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------
def finetune(shot_path: Path, out: Path, minutes: float, work: Path | None = None, general: str | None = DEFAULT_GENERAL,
             seed: int = 0, threads: int = 0, target: str = "denoised", as_json: bool = False,
             quiet: bool = False) -> dict:
    """Run the whole fine-tune; returns the report (also written to ``out/finetune.json``)."""
    started = time.monotonic()
    shot_path, out = Path(shot_path).expanduser(), Path(out).expanduser().absolute()
    check_arguments(shot_path, out, minutes)
    sha = file_sha256(shot_path)
    if target not in TARGETS:
        raise usage_error("--target", f"must be one of {', '.join(TARGETS)}, got {target!r}")
    work = Path(work).expanduser() if work else \
        paths.cache_dir() / "finetune" / f"{sha[:16]}-m{minutes:g}-s{seed}-{target}"
    work.mkdir(parents=True, exist_ok=True)
    budget = minutes * 60.0
    clock = Clock(budget, work / "state.json")
    if not clock.state["spent"]:
        clock.start = started  # the check and the hash count too
    clock.enter("render")
    bpy, scene, shot = open_shot(shot_path, sha)  # a shot that fails its checks exits 2 before any output
    progress = Progress(clock, as_json, quiet)
    try:
        progress(f"opened {shot.path.name}: {shot.width}x{shot.height} px, {shot.spp} spp, frames "
                 f"{shot.frame_start}-{shot.frame_end}")
        if threads:
            import torch

            torch.set_num_threads(threads)
        renderer = ShotRenderer(bpy, scene, shot, threads, target)
        plan = render_views(renderer, shot, work, seed, clock, progress)
        progress.say(f"rendered {plan['views']} views of {shot.path.name} ({shot.width}x{shot.height}, "
                     f"{shot.spp} spp; references at {plan['reference_spp']} spp) in "
                     f"{clock.stage_seconds('render'):.0f} s")
        root = dataset_from_views(work, shot, plan)

        clock.enter("train")
        from ml_core.shipped import model_from_onnx
        from ml_core.train import train

        base = Registry(DEFAULT_MODELS_DIR).get(BASE_MODEL).path
        _, base_meta = model_from_onnx(base)
        train_scenes = (plan["views"] - HELD_OUT_VIEWS) * NOISY_PER_VIEW
        crop = min(64, (min(VIEW_SIZE, shot.width, shot.height) // 16) * 16)
        mix = general_mix(general, shot.spp, progress.say)
        run_dir, residual_dir = work / "run", work / "run_residual"
        # views rendered before the noisy images were Blender-denoised too (an older work folder) train no correction
        with_residual = bool(plan.get("noisy_denoised"))
        # the training time left, an interrupted run's training so far included, split between the two models
        trained = sum(_train_seconds(d) for d in (run_dir, residual_dir))
        seconds = trained + clock.remaining() - RESERVE_SECONDS * (1 + with_residual) - RESERVE_SHARE * budget
        residual_seconds = RESIDUAL_SHARE * seconds if with_residual else 0.0
        if with_residual:
            progress("training the correction of Blender's denoised render")
            train(residual_config(shot, RESIDUAL_MODEL, root, seed, max(residual_seconds, 1.0), train_scenes, crop),
                  run_dir=residual_dir, command=" ".join(sys.argv), log=lambda line: progress(line), progress=False)
        config = training_config(shot, SHOT_MODEL, root, base, base_meta, seed, max(seconds - residual_seconds, 1.0),
                                 train_scenes, mix, crop)
        history = train(config, run_dir=run_dir, command=" ".join(sys.argv), log=lambda line: progress(line),
                        progress=False)
        clock.enter("export")
        progress("exporting the fine-tuned models")
        from . import export_checkpoint

        staging = out.parent / f".{out.name}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        sample = work / "views" / "0000" / noisy_name(shot.spp, 0)
        export_checkpoint(run_dir / "last.pt", staging, name=SHOT_MODEL, samples=[str(sample)],
                          note=f"fine-tuned on the shot {shot.path.name} (sha256 {shot.sha256[:12]})")
        candidates = {BASE_MODEL: DEFAULT_MODELS_DIR, SHOT_MODEL: staging}
        if with_residual:
            export_checkpoint(residual_dir / "last.pt", staging, name=RESIDUAL_MODEL, samples=[str(sample)],
                              note=f"a correction of Blender's denoised render (OpenImageDenoise, Accurate, High) "
                                   f"learned on the shot {shot.path.name} (sha256 {shot.sha256[:12]})")
            candidates[RESIDUAL_MODEL] = staging

        clock.enter("evaluate")
        progress("evaluating on the held-out views")
        scores = held_out_scores(work, shot, candidates)
        # decided on the figure the report gives (3 decimals): a raw 0.04996 read as "+0.050 dB, not kept" before
        gain = round(scores[SHOT_MODEL] - scores[BASE_MODEL], 3)
        kept = "finetuned" if gain >= MIN_GAIN_DB else "shipped"
        held_out = {"noisy_psnr": round(scores["noisy"], 3), "base_psnr": round(scores[BASE_MODEL], 3),
                    "finetuned_psnr": round(scores[SHOT_MODEL], 3), "gain_db": gain}
        residual_kept = False
        if with_residual:
            # kept when it beats Blender's result, or what this folder runs otherwise on a render that holds
            # Blender's result (the raw render denoised by the kept denoise_kpn): it starts as Blender's result,
            # so a render with Blender's result is never handed to a denoiser that does worse than Blender's own
            residual_gain = round(scores[RESIDUAL_MODEL] - scores[BLENDER_OIDN], 3)
            otherwise = SHOT_MODEL if kept == "finetuned" else BASE_MODEL
            over_otherwise = round(scores[RESIDUAL_MODEL] - scores[otherwise], 3)
            residual_kept = residual_gain >= MIN_GAIN_DB or over_otherwise >= MIN_GAIN_DB
            held_out.update({"blender_oidn_psnr": round(scores[BLENDER_OIDN], 3),
                             "residual_psnr": round(scores[RESIDUAL_MODEL], 3), "residual_gain_db": residual_gain,
                             "residual_over_denoiser_db": over_otherwise})
        record = {
            "shot": str(shot.path), "shot_sha256": shot.sha256, "base_model": BASE_MODEL,
            "base_version": base_meta.get("version", ""), "minutes": minutes, "seed": seed,
            "spp": shot.spp, "reference_spp": plan["reference_spp"], "target": target,
            "size": [shot.width, shot.height],
            "pairs": {"train": train_scenes, "held_out": HELD_OUT_VIEWS * NOISY_PER_VIEW},
            "views": plan["views"], "general_mix": bool(mix),
            "epochs": len(history.get("epochs", [])),
            "seconds_trained": {"finetuned": round(_train_seconds(run_dir), 1),
                                **({"residual": round(_train_seconds(residual_dir), 1)} if with_residual else {})},
            "held_out": held_out,
        }
        temporal = None
        if kept == "finetuned":
            stamp_metadata(staging, SHOT_MODEL, record)
            if export_temporal(run_dir / "last.pt", staging, shot):
                temporal = SHOT_TEMPORAL_MODEL
                stamp_metadata(staging, SHOT_TEMPORAL_MODEL, record)
        residual_temporal = None
        if residual_kept:  # its record names what it corrects and starts from
            stamp_metadata(staging, RESIDUAL_MODEL, {**record, "base_model": BLENDER_OIDN, "base_version": ""})
            if export_residual_temporal(residual_dir / "last.pt", staging, shot):
                residual_temporal = RESIDUAL_TEMPORAL_MODEL
                stamp_metadata(staging, RESIDUAL_TEMPORAL_MODEL,
                               {**record, "base_model": SHIPPED_OIDN_TEMPORAL, "base_version": ""})
        dropped = [name for name, keep in ((SHOT_MODEL, kept == "finetuned"), (RESIDUAL_MODEL, residual_kept))
                   if not keep and name in candidates]
        if dropped:
            registry_path = staging / REGISTRY_FILE
            raw = json.loads(registry_path.read_text())
            for name in dropped:
                (staging / raw["models"].pop(name)["file"]).unlink()
            with atomic_output(registry_path) as tmp:
                Path(tmp).write_text(json.dumps(raw, indent=1) + "\n")
        add_shipped_models(staging, skip=(({BASE_MODEL} | ({SHIPPED_TEMPORAL} if temporal else set()))
                                          if kept == "finetuned" else set())
                           | ({SHIPPED_OIDN_TEMPORAL} if residual_temporal else set()))
        clock.leave()
        report = {**record, "kept": kept, "model": SHOT_MODEL if kept == "finetuned" else BASE_MODEL,
                  "temporal_model": temporal or SHIPPED_TEMPORAL,
                  "residual_model": RESIDUAL_MODEL if residual_kept else None,
                  "residual_temporal_model": residual_temporal,
                  "models_dir": str(out),
                  "seconds": {**{k: round(v, 1) for k, v in clock.state["stages"].items()},
                              "total": round(clock.elapsed(), 1)}}
        write_json(staging / REPORT, report)
        publish_folder(staging, out)
        clock.save()
        progress("done")
    except BaseException as exc:
        if interrupted(exc):
            clock.leave()
        raise
    finally:
        progress.close()
    return report


def _train_seconds(run_dir: Path) -> float:
    """The training seconds a run folder's history records (an interrupted run's so far; 0 before any)."""
    path = run_dir / "history.json"
    return json.loads(path.read_text()).get("train_seconds", 0.0) if path.is_file() else 0.0


def summary(report: dict) -> str:
    h, s = report["held_out"], report["seconds"]
    verdict = (f"kept {SHOT_MODEL}: {h['gain_db']:+.2f} dB over {BASE_MODEL} on held-out frames"
               if report["kept"] == "finetuned" else
               f"the fine-tune did not help on held-out frames ({h['gain_db']:+.2f} dB): kept the shipped {BASE_MODEL}")
    verdict += f" ({h['finetuned_psnr']:.2f} vs {h['base_psnr']:.2f} dB, noisy {h['noisy_psnr']:.2f})"
    if "residual_gain_db" in h:
        otherwise = SHOT_MODEL if report["kept"] == "finetuned" else BASE_MODEL
        verdict += (f"; {'kept' if report.get('residual_model') else 'did not keep'} {RESIDUAL_MODEL} for renders "
                    f"with Cycles' Denoise and Denoising Data: {h['residual_gain_db']:+.2f} dB against Blender's own "
                    f"denoiser ({h['residual_psnr']:.2f} vs {h['blender_oidn_psnr']:.2f} dB), "
                    f"{h.get('residual_over_denoiser_db', float('nan')):+.2f} dB against {otherwise}")
    return (f"postpass finetune: {verdict}; {report['pairs']['train']} training pairs from {report['views']} views, "
            f"references at {report['reference_spp']} spp; {s['total'] / 60:.1f} of {report['minutes']:g} minutes "
            f"(render {s.get('render', 0):.0f} s, train {s.get('train', 0):.0f} s, export {s.get('export', 0):.0f} s, "
            f"evaluate {s.get('evaluate', 0):.0f} s) -> {report['models_dir']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="postpass finetune", description=__doc__.split("\n\n")[0],
                                epilog="Resume an interrupted run with the same command. Exit codes: 0 done, "
                                       "1 failed, 2 bad input, 130 interrupted.")
    p.add_argument("shot", type=Path, help="the shot's .blend file (Cycles, with a camera)")
    p.add_argument("-o", "--out", type=Path, required=True,
                   help="models folder to write (registry.json, the models, finetune.json)")
    p.add_argument("--minutes", type=float, default=15.0, help="wall-clock budget, everything included "
                   "(default: %(default)s)")
    p.add_argument("--work", type=Path, default=None, help="renders and training run (default: "
                   "~/.cache/postpass/finetune/<shot sha256>-m<minutes>-s<seed>-<target>)")
    p.add_argument("--general", default=DEFAULT_GENERAL, help="general dataset mixed into training, or 'none' "
                   "(default: %(default)s, when it exists)")
    p.add_argument("--target", choices=TARGETS, default="denoised", help="training targets: the references "
                   "denoised by Blender's OIDN (Accurate, High) or raw (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads for rendering and training (0: all)")
    p.add_argument("--json", action="store_true", help="one JSON object per line on stdout (for the add-on)")
    p.add_argument("--quiet", action="store_true", help="no progress bar; only the summary line")
    args = p.parse_args(argv)
    if args.json:
        json_stdout()

    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):  # SIGBREAK: Windows' CTRL_BREAK_EVENT, which the add-on sends
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop_handler)
    try:
        report = finetune(args.shot, args.out, args.minutes, work=args.work, general=args.general,
                          seed=args.seed, threads=args.threads, target=args.target, as_json=args.json,
                          quiet=args.quiet)
    except FinetuneError as exc:
        return _fail(str(exc), exc.exit_code, args.json)
    except BaseException as exc:
        if not interrupted(exc):
            raise
        return _fail("interrupted; run the same command again to resume", EXIT_INTERRUPTED, args.json)
    if args.json:
        emit({"event": "done", "report": report})
    else:
        print(summary(report))
    return EXIT_OK


def _fail(message: str, code: int, as_json: bool) -> int:
    if as_json:
        emit({"event": "error", "message": message, "exit_code": code})
    print(f"postpass finetune: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
