"""An artist's shot as training data: open and check its .blend, render views of it within a time budget, and
the dataset and training config of its fine-tune. ``export.finetune`` (``postpass finetune``) runs the whole
command on top of this: training, export, the held-out evaluation and the models folder.

A *view* is a frame drawn from the shot's frame range, the camera nudged (up to half a degree, up to 2% lens
shift) and a crop of at most 256x256 px at the shot's own resolution, rendered with the shot's own lights,
materials, integrator and motion blur, twice at its sample count (its own adaptive-sampling settings, two other
Cycles seeds) and once as a reference at ``reference_spp`` samples, all with the Denoising passes. The noisy
images are denoised by Blender's OIDN (Accurate, High) as the artist's render is by default, their raw render kept
as "Noisy Image" (the runtime and the datasets read such a file's raw render as its colour, and Blender's result
for a model that improves on it: ``denoise_oidn_residual``). The reference is denoised too by default (``target="denoised"``: a clean target for a few
samples' cost; its raw render stays in the file as "Noisy Image") or kept raw. The plan picks
``reference_spp`` from a probe's timing so that about a dozen views fit (a power of two, at least 4x the shot's
samples, at most 1024), then views are rendered until the render share of the budget is spent. Views 0 and 1
are the shot's own framing (no nudge) at a quarter and three quarters of its frame range: they are held out,
never trained on. Nothing of the artist's file changes: renders use the opened copy, which is never saved.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from addon.runtime import trainer
from addon.runtime.files import atomic_output

from . import blender

REPORT = trainer.REPORT_FILE  # the report a fine-tune's models folder holds
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = (trainer.EXIT_DONE, trainer.EXIT_FAILED, trainer.EXIT_USAGE,
                                                      trainer.EXIT_INTERRUPTED)
#: the smallest render a shot may have (width and height), and the largest crop a view renders
MIN_SIZE, VIEW_SIZE = 64, 256
HELD_OUT_VIEWS = 2
NOISY_PER_VIEW = 2
#: samples of the probe render that times a sample
PROBE_SPP = 32
#: views the plan aims to fit in the render share of the budget
PLANNED_VIEWS = 12
MAX_VIEWS = 96
RENDER_SHARE = 0.5
GENERAL_SHARE = 0.25
#: crops per training epoch: ~30 s at ~6 steps/s of 16 crops (2-core CPU), so checkpoints and validation come that
#: often
EPOCH_CROPS = 16 * 180
#: ``--target``: what the network learns to output for a view's noisy images
TARGETS = ("denoised", "raw")
DEFAULT_GENERAL = "~/.cache/postpass/data_v2"


class FinetuneError(Exception):
    """A one-line problem; ``exit_code`` 2 for bad input found before any work, else 1."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


def usage_error(path, problem: str) -> FinetuneError:
    return FinetuneError(f"{path}: {problem}", EXIT_USAGE)


# --------------------------------------------------------------------------------------------------
# Arguments and the shot
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shot:
    """What the plan needs from the opened .blend (read once, on the main thread)."""

    path: Path
    sha256: str
    width: int
    height: int
    spp: int
    frame_start: int
    frame_end: int
    camera: str
    view_layer: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_arguments(shot: Path, out: Path, minutes: float) -> None:
    """Everything that can be checked without Blender (the add-on's checks, which ``postpass finetune`` runs
    before it starts the training Python): exit 2 before any work."""
    if not math.isfinite(minutes) or minutes <= 0:
        raise usage_error("--minutes", f"must be a positive number of minutes, got {minutes:g}")
    try:
        trainer.check_shot(shot)
        trainer.check_models_dir(out)
    except trainer.TrainerError as exc:
        raise FinetuneError(str(exc), EXIT_USAGE) from None


def open_shot(path: Path, sha256: str):
    """Open the .blend with bpy and check it; returns (bpy, scene, Shot)."""
    bpy = blender.import_bpy()
    try:
        with blender.quiet_stdout():
            bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise usage_error(path, f"does not open in Blender {bpy.app.version_string} ({detail})") from None
    scene = bpy.context.scene
    if scene.render.engine != "CYCLES":
        raise usage_error(path, f"renders with {scene.render.engine.replace('BLENDER_', '').replace('_', ' ')}, "
                                "not Cycles: the denoiser is for Cycles renders")
    if scene.camera is None:
        raise usage_error(path, f"scene {scene.name!r} has no camera")
    pct = scene.render.resolution_percentage / 100.0
    width, height = int(scene.render.resolution_x * pct), int(scene.render.resolution_y * pct)
    if min(width, height) < MIN_SIZE:
        raise usage_error(path, f"renders at {width}x{height} px; at least {MIN_SIZE}x{MIN_SIZE} is needed")
    layers = [vl for vl in scene.view_layers if vl.use] or list(scene.view_layers)
    shot = Shot(path=path.resolve(), sha256=sha256, width=width, height=height, spp=int(scene.cycles.samples),
                frame_start=int(scene.frame_start), frame_end=int(max(scene.frame_end, scene.frame_start)),
                camera=scene.camera.name, view_layer=layers[0].name)
    return bpy, scene, shot


# --------------------------------------------------------------------------------------------------
# The clock, progress and the work folder's state
# --------------------------------------------------------------------------------------------------
class Clock:
    """Seconds spent on this fine-tune, an interrupted run's included (``state.json`` in the work folder)."""

    def __init__(self, budget: float, state_path: Path):
        self.budget, self.state_path = budget, state_path
        self.state = json.loads(state_path.read_text()) if state_path.is_file() else {"spent": 0.0, "stages": {}}
        self.start = time.monotonic() - self.state["spent"]
        self.stage, self.stage_start = None, time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.budget - self.elapsed()

    def enter(self, stage: str) -> None:
        self.leave()
        self.stage, self.stage_start = stage, time.monotonic()

    def stage_seconds(self, stage: str) -> float:
        """Seconds spent in ``stage`` so far, the running stage's current stint included."""
        running = time.monotonic() - self.stage_start if stage == self.stage else 0.0
        return self.state["stages"].get(stage, 0.0) + running

    def leave(self) -> None:
        if self.stage is not None:
            stages = self.state["stages"]
            stages[self.stage] = round(stages.get(self.stage, 0.0) + time.monotonic() - self.stage_start, 3)
            self.stage_start = time.monotonic()
        self.save()

    def save(self) -> None:
        self.state["spent"] = round(self.elapsed(), 3)
        write_json(self.state_path, self.state)


def write_json(path: Path, data) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1, sort_keys=True))


# --------------------------------------------------------------------------------------------------
# Rendering views
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    index: int
    frame: int
    x0: int  # crop, in pixels of the shot's render
    y0: int
    size_x: int
    size_y: int
    pitch: float  # camera nudge, radians (delta rotation about its local x and y)
    yaw: float
    shift_x: float  # lens shift nudge
    shift_y: float

    @property
    def held_out(self) -> bool:
        return self.index < HELD_OUT_VIEWS


def draw_view(shot: Shot, index: int, seed: int) -> View:
    """View ``index``: deterministic per shot, index and seed. The held-out views are the shot's own framing."""
    rng = np.random.default_rng([int(shot.sha256[:8], 16), seed, index])
    size_x, size_y = min(VIEW_SIZE, shot.width), min(VIEW_SIZE, shot.height)
    x0 = int(rng.integers(0, shot.width - size_x + 1))
    y0 = int(rng.integers(0, shot.height - size_y + 1))
    span = shot.frame_end - shot.frame_start
    if index < HELD_OUT_VIEWS:
        frame = shot.frame_start + round(span * (1 + 2 * index) / 4)
        return View(index, frame, x0, y0, size_x, size_y, 0.0, 0.0, 0.0, 0.0)
    nudge = math.radians(0.5)
    return View(index, int(rng.integers(shot.frame_start, shot.frame_end + 1)), x0, y0, size_x, size_y,
                float(rng.uniform(-nudge, nudge)), float(rng.uniform(-nudge, nudge)),
                float(rng.uniform(-0.02, 0.02)), float(rng.uniform(-0.02, 0.02)))


def render_seed(shot: Shot, view: int, product: str) -> int:
    digest = hashlib.sha256(f"finetune/{shot.sha256}/{view}/{product}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class Stop:
    """Ctrl-C and SIGTERM while a view renders: Blender catches an exception raised in any Python callback of its
    own (it prints it and goes on): the render engine's, and those a setting runs (switching Cycles' denoising
    re-creates the engine to update the passes), so the signal handler (:func:`stop_handler`) only records the
    request during :meth:`ShotRenderer.render`, every bpy call of it, and the render raises KeyboardInterrupt
    once Blender returns."""

    rendering = False
    requested = False


def stop_handler(signum, frame) -> None:
    if Stop.rendering:
        Stop.requested = True
    else:
        raise KeyboardInterrupt


class ShotRenderer:
    """Renders views of the opened shot: its own settings, with the Denoising passes, into multilayer EXRs."""

    def __init__(self, bpy, scene, shot: Shot, threads: int = 0, target: str = "denoised"):
        self.bpy, self.scene, self.shot, self.target = bpy, scene, shot, target
        cy = scene.cycles
        self.adaptive = (bool(cy.use_adaptive_sampling), float(cy.adaptive_threshold), int(cy.adaptive_min_samples))
        camera = scene.camera
        self.rest = (tuple(camera.delta_rotation_euler), camera.data.shift_x, camera.data.shift_y)
        cy.use_denoising = False
        # the reference, when denoised: Blender's OIDN at its best settings on many samples; its raw render is
        # kept beside it (the "Noisy Image" pass), which the held-out evaluation scores against
        cy.denoiser, cy.denoising_input_passes = "OPENIMAGEDENOISE", "RGB_ALBEDO_NORMAL"
        cy.denoising_prefilter, cy.denoising_quality = "ACCURATE", "HIGH"
        cy.use_animated_seed = False
        cy.time_limit = 0.0
        r = scene.render
        r.use_compositing = r.use_sequencer = False
        r.use_file_extension = False
        r.use_border = r.use_crop_to_border = True
        # keep Cycles' synced scene (BVH, textures, hair) between renders: only the camera, frame and samples
        # change, and a sync costs about a second per render on a modest scene (more than its samples at 4 spp)
        r.use_persistent_data = True
        if threads:
            r.threads_mode, r.threads = "FIXED", threads
        for vl in scene.view_layers:
            vl.use = vl.name == shot.view_layer
        layer = scene.view_layers[shot.view_layer]
        layer.cycles.denoising_store_passes = True
        layer.name = "ViewLayer"  # the name the datasets and the runtime read (this copy is never saved)
        img = r.image_settings
        img.media_type = "MULTI_LAYER_IMAGE"
        img.color_depth = "32"
        img.exr_codec = "ZIP"

    def render(self, view: View, path: Path, *, spp: int, seed: int, reference: bool) -> float:
        """Render ``view`` to ``path`` atomically; the seconds it took. A stop asked meanwhile (:class:`Stop`)
        raises KeyboardInterrupt once Blender returns: before the file is kept when it came during the render."""
        Stop.rendering = True
        try:
            return self._render(view, path, spp=spp, seed=seed, reference=reference)
        finally:
            Stop.rendering = False
            if Stop.requested:
                raise KeyboardInterrupt

    def _render(self, view: View, path: Path, *, spp: int, seed: int, reference: bool) -> float:
        scene, cy, r, camera = self.scene, self.scene.cycles, self.scene.render, self.scene.camera
        cy.samples, cy.seed = spp, seed
        use, threshold, min_samples = self.adaptive
        cy.use_adaptive_sampling = use and not reference  # the reference: every sample everywhere
        # the noisy images as the artist's render has them (Blender's result beside the raw render); the
        # reference denoised or raw as ``target`` says
        cy.use_denoising = not reference or self.target == "denoised"
        cy.adaptive_threshold, cy.adaptive_min_samples = threshold, min_samples
        rot, sx, sy = self.rest
        camera.delta_rotation_euler = (rot[0] + view.pitch, rot[1] + view.yaw, rot[2])
        camera.data.shift_x, camera.data.shift_y = sx + view.shift_x, sy + view.shift_y
        w, h = self.shot.width, self.shot.height
        # border in 0..1 of the frame, y up; the crop is whole pixels of the shot's render
        r.border_min_x, r.border_max_x = view.x0 / w, (view.x0 + view.size_x) / w
        r.border_max_y, r.border_min_y = 1 - view.y0 / h, 1 - (view.y0 + view.size_y) / h
        scene.frame_set(view.frame)
        with atomic_output(path) as tmp:
            scene.render.filepath = tmp
            start = time.perf_counter()
            with blender.quiet_stdout():
                self.bpy.ops.render.render(write_still=True, scene=scene.name)
            if Stop.requested:  # before the rename: an interrupted render is not kept
                raise KeyboardInterrupt
            return time.perf_counter() - start


def noisy_name(spp: int, k: int) -> str:
    return f"noisy{k}_spp{spp:04d}.exr"


def plan_reference_spp(shot: Shot, plan: dict, render_seconds: float) -> int:
    """The largest power of two of references (4x the shot's samples at least, 1024 at most, or 4x the shot's
    when that is more) that lets about :data:`PLANNED_VIEWS` views fit in ``render_seconds``."""
    low = max(4 * shot.spp, 16)
    best = spp = low
    while spp <= max(1024, low):
        if PLANNED_VIEWS * view_cost({**plan, "reference_spp": spp}) <= render_seconds:
            best = spp
        spp *= 2
    return best


def view_cost(plan: dict) -> float:
    """Predicted seconds of one view: its noisy images and its reference."""
    return NOISY_PER_VIEW * plan["noisy_seconds"] + plan["fixed"] + plan["per_sample"] * plan["reference_spp"]


def render_views(renderer: ShotRenderer, shot: Shot, work: Path, seed: int, clock: Clock,
                 progress: Callable[[str], None]) -> dict:
    """Render views until the render share of the budget is spent; returns the plan (with the views done)."""
    views_dir = work / "views"
    plan_path = work / "plan.json"
    plan = json.loads(plan_path.read_text()) if plan_path.is_file() else None
    render_until = clock.budget * RENDER_SHARE
    if plan is None:
        # the probe: view 0 at the shot's samples (its first noisy image, kept; it also pays Cycles' first sync of
        # the scene), then rendered as a reference at 1 and at PROBE_SPP samples: the cost per sample from
        # many samples, as a few are too quick to time against a render's fixed cost
        view = draw_view(shot, 0, seed)
        folder = views_dir / "0000"
        folder.mkdir(parents=True, exist_ok=True)
        progress("timing renders of the shot")
        t_spp = renderer.render(view, folder / noisy_name(shot.spp, 0), spp=shot.spp,
                                seed=render_seed(shot, 0, "noisy0"), reference=False)
        probe = work / "probe.exr"
        t_one = renderer.render(view, probe, spp=1, seed=render_seed(shot, 0, "probe1"), reference=True)
        t_many = renderer.render(view, probe, spp=PROBE_SPP, seed=render_seed(shot, 0, "probe"), reference=True)
        probe.unlink()
        per_sample = max((t_many - t_one) / (PROBE_SPP - 1), 1e-4)
        fixed = max(t_one - per_sample, 0.0)
        plan = {"per_sample": per_sample, "fixed": fixed, "spp": shot.spp, "views": 0, "noisy_denoised": True,
                "noisy_seconds": min(t_spp, t_one + per_sample * (shot.spp - 1)),
                "probe_seconds": {"spp": round(t_spp, 3), "one": round(t_one, 3), "many": round(t_many, 3)}}
        left = render_until - clock.elapsed()
        plan["reference_spp"] = reference_spp = plan_reference_spp(shot, plan, left)
        cost = view_cost(plan)
        if (HELD_OUT_VIEWS + 1) * cost > left + 0.5 * cost:  # not even the held-out views and one more fit
            needed = (clock.elapsed() + (HELD_OUT_VIEWS + 1) * cost) / RENDER_SHARE / 60
            raise FinetuneError(f"{shot.path}: --minutes {clock.budget / 60:g} is too short for this shot: a view "
                                f"(2 images at {shot.spp} and a reference at {reference_spp} samples, "
                                f"{VIEW_SIZE} px at most) takes about {cost:.0f} s here; give at least "
                                f"{math.ceil(needed)} minutes", EXIT_USAGE)
        write_json(plan_path, plan)
    index = plan["views"]
    while index < MAX_VIEWS:
        cost = view_cost(plan)
        if index >= HELD_OUT_VIEWS + 1 and clock.elapsed() + 0.5 * cost > render_until:
            break
        view = draw_view(shot, index, seed)
        folder = views_dir / f"{index:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        products = [(noisy_name(shot.spp, k), shot.spp, f"noisy{k}", False) for k in range(NOISY_PER_VIEW)]
        products.append(("reference.exr", plan["reference_spp"], "reference", True))
        for name, spp, product, reference in products:
            if not (folder / name).is_file():
                progress(f"view {index + 1}: {name.removesuffix('.exr')} ({spp} spp)")
                renderer.render(view, folder / name, spp=spp, seed=render_seed(shot, index, product),
                                reference=reference)
        write_json(folder / "view.json", view.__dict__ | {"held_out": view.held_out})
        index += 1
        plan["views"] = index
        write_json(plan_path, plan)
        clock.save()
    return plan


def dataset_from_views(work: Path, shot: Shot, plan: dict) -> Path:
    """The rendered views as a dataset folder ``ml_core.datasets`` reads: one scene per (view, noisy image),
    the reference hard-linked (or copied) beside each; held-out views in ``val``, the others in ``train``."""
    from .splits import split_range

    root = work / "data"
    for index in range(plan["views"]):
        view_dir = work / "views" / f"{index:04d}"
        split = "val" if index < HELD_OUT_VIEWS else "train"
        for k in range(NOISY_PER_VIEW):
            seed = split_range(split).start + index * 10 + k
            folder = root / split / str(seed)
            if (folder / "manifest.json").is_file():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            _link(view_dir / noisy_name(shot.spp, k), folder / f"noisy_spp{shot.spp:04d}.exr")
            _link(view_dir / "reference.exr", folder / "target.exr")
            write_json(folder / "manifest.json", {"seed": seed, "config": f"finetune-{shot.sha256[:16]}",
                                                  "view": index, "noisy": k, "spp": shot.spp,
                                                  "reference_spp": plan["reference_spp"]})
    return root


def _link(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------
def general_mix(general: str | None, spp: int, say: Callable[[str], None]) -> list[dict]:
    """The general dataset's share of each epoch (:data:`GENERAL_SHARE` of :data:`EPOCH_CROPS`), when its folder
    is here and has the shot's sample count."""
    from . import data

    if not general or general == "none":
        return []
    root = Path(general).expanduser()
    scenes = data.complete_scenes(root, "train")
    if not scenes:
        say(f"no general dataset at {root} (build it with `python -m ml_core.data build --preset v2 "
            f"--split train --count N --out {general}`): training on the shot alone")
        return []
    if not (scenes[0] / f"noisy_spp{spp:04d}.exr").is_file():
        say(f"the general dataset at {root} has no {spp}-spp renders: training on the shot alone")
        return []
    return [{"root": str(root), "split": "train", "scenes": len(scenes),
             "crops_per_scene": max(1, round(EPOCH_CROPS * GENERAL_SHARE / len(scenes)))}]


def training_config(shot: Shot, name: str, root: Path, base: Path, base_meta: dict, seed: int,
                    seconds: float, train_scenes: int, mix: list[dict], crop: int) -> dict:
    architecture = json.loads(base_meta["architecture"])
    shot_crops = round(EPOCH_CROPS * (1 - GENERAL_SHARE)) if mix else EPOCH_CROPS
    return {
        "task": "denoise", "name": name, "run": "finetune", "seed": seed,
        "version": f"{base_meta.get('version', '0')}+shot.{shot.sha256[:8]}",
        "config_path": "", "model": {"architecture": architecture["name"], "params": architecture["params"]},
        "data": {"root": str(root), "train_split": "train", "val_split": "val", "crop": crop,
                 "crops_per_scene": max(1, round(shot_crops / train_scenes)), "val_crops_per_scene": 8,
                 "options": {"spp": [shot.spp]}, "mix": mix},
        "train": {"init": str(base), "epochs": 1000, "seconds": round(seconds, 1), "batch_size": 16, "lr": 1e-4,
                  "ema": 0.99, "weight_decay": 0.0, "loss": "hdr_l1_display_psnr"},
    }


#: the correction of Blender's denoised render (``denoise_oidn_residual``): its size and training, as measured on
#: two authored shots (docs/benchmarks.md, issue 27): a fresh network (seeded), L1 in the log domain, Adam at 5e-4
RESIDUAL_ARCHITECTURE = {"architecture": "denoise_oidn_residual", "params": {"widths": [32, 48, 64, 96]}}


def residual_config(shot: Shot, name: str, root: Path, seed: int, seconds: float, train_scenes: int,
                    crop: int) -> dict:
    """The training config of the shot's correction of Blender's denoised render: its views alone (the general
    dataset holds no Blender-denoised renders, and what this model learns is the shot's)."""
    return {
        "task": "denoise", "name": name, "run": "finetune-residual", "seed": seed,
        "version": f"1.0.0+shot.{shot.sha256[:8]}", "config_path": "", "model": RESIDUAL_ARCHITECTURE,
        "data": {"root": str(root), "train_split": "train", "val_split": "val", "crop": crop,
                 "crops_per_scene": max(1, round(EPOCH_CROPS / train_scenes)), "val_crops_per_scene": 8,
                 "options": {"spp": [shot.spp], "blender_denoised": True}, "mix": []},
        "train": {"epochs": 1000, "seconds": round(seconds, 1), "batch_size": 16, "lr": 5e-4, "ema": 0.99,
                  "weight_decay": 0.0, "loss": "hdr_l1"},
    }
