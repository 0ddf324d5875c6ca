"""Render one procedural scene with Cycles (CPU) into the multilayer EXRs every task trains on.

One scene folder holds (names are the contract the torch datasets read):

``noisy_spp0004.exr``   noisy input at 4 samples per pixel (one per ``noisy_spp``, each with its own sampling seed)
``target.exr``          the reference: ``target_spp`` samples with adaptive sampling, same integrator settings
``lowres_x2.exr``       the same camera rendered at 1/2 (and 1/4) resolution at target quality, for up-res
``frame_0001.exr`` ...  every animation frame at ``anim_spp`` + OIDN, for inbetweening (frame 2 is t = 1/2)
``scene.json``          the spec that made the scene
``manifest.json``       written last: seed, spp, passes, render seconds, Blender version (marks the scene done)

The ``anim4`` / ``anim5`` presets render only the animation frames (4 or 5 of them: t = 1/3, 2/3 or 1/4, 1/2,
3/4 between the first and the last), with the motion scaled so the first-to-last motion is that of the default
3-frame scenes (``motion_span``: the inbetween benchmark's frames are two steps apart); they go to their own
dataset folder and splits (``anim_train`` ..., see ``ml_core.splits``). The ``palette`` preset renders
natural-palette scenes (``make_spec(palette="natural")``) for the colorizer: one still, ``target.exr`` only, at 64
spp denoised by OIDN, into its own folder and splits (``palette_train`` ...).

Every EXR has the passes Combined, Denoising Albedo, Denoising Normal (camera space), Denoising Depth, Depth
and Vector; the target's Denoising Albedo / Normal are rendered at the target's samples, so they are the clean
guides (the manifest's ``clean_guides`` says so) beside each noisy file's own noisy ones. With ``families`` (the
``v2`` presets, ``ml_core/presets/v2.py``) scenes are drawn from the scene families of
``ml_core.scenes.families`` and the manifest records each scene's ``family`` and ``variant``. Each file is
rendered to a temporary name and renamed, so a killed build never leaves a
half-written file, and a rerun renders only what is missing.

A scene folder appears whole or not at all (:func:`scene_folder`): a scene renders into a hidden sibling
``.<name>.partial-<host>-<pid>`` that is renamed into place once its manifest is written, so a reader (a torch
dataset, a benchmark, a Dask worker on another machine sharing the folder) never sees half a scene. A partial
folder whose process has died is taken over by the next render of that scene on the same host (its finished
files are kept when they were made from the same spec), so a killed build resumes mid-scene; a host cannot
tell whether another host's process is alive, so it never takes over another host's partial folder (it renders
the scene afresh, and :func:`remove_leftover_partials` deletes such leftovers once the scene is complete).

Why a mid-spp adaptive target rather than 1024+ spp: 256x256 costs ~140 s at 1024 spp here; with adaptive
sampling the target's noise stays ~20 dB below a 4 spp input for a fraction of that, and scene variety matters
more than the last dB of target cleanliness. The target is an independent render (its own seed), so what
noise it keeps is uncorrelated with the input's and averages out in training (the noise2noise argument).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from addon.runtime.files import _fsync_folder, atomic_output  # one durable rename, the add-on's

from . import blender
from .registry import Registry, import_submodules
from .scenes import MeshLibrary, build_scene

PASSES = ("Combined", "Denoising Albedo", "Denoising Normal", "Denoising Depth", "Depth", "Vector")
MANIFEST = "manifest.json"
SPEC = "scene.json"
#: marks a scene's private render folder: ``.<scene>.partial-<host>-<pid>`` beside the scene's own folder
PARTIAL = ".partial-"


@dataclass(frozen=True)
class RenderConfig:
    width: int = 128
    height: int = 128
    noisy_spp: tuple[int, ...] = (1, 2, 4, 8, 16)
    target_spp: int = 512
    target_adaptive_threshold: float = 0.004  # 0 turns adaptive sampling off
    lowres_scales: tuple[int, ...] = (2, 4)
    anim_spp: int = 32
    max_bounces: int = 8
    diffuse_bounces: int = 3
    glossy_bounces: int = 4
    transmission_bounces: int = 8
    clamp_indirect: float = 10.0  # Blender's default: farms render with it, so our data does too
    frames: int = 3
    threads: int = 0  # 0: all cores
    passes: tuple[str, ...] = field(default=PASSES)
    #: False: only the animation frames (no noisy / target / low-res stills), for inbetween-only datasets
    stills: bool = True
    #: 0: the drawn motion per frame step; N: motion scaled so frame 1 to ``frames`` moves as N steps would
    motion_span: int = 0
    #: denoise the target with OIDN (Cycles' own, albedo + normal): clean colour for few samples
    target_oidn: bool = False
    #: the scene generator's palette (``ml_core.scenes.make_spec``): "random" hues or "natural" classes
    palette: str = "random"
    #: scene families and their draw weights, ((name, weight), ...) (``ml_core.scenes.families``); empty: the
    #: classic generator exactly as before families (specs without a ``family`` key)
    families: tuple[tuple[str, float], ...] = ()
    #: volume scattering bounces (fog, smoke); 0 = single scattering
    volume_bounces: int = 0
    #: transparent (alpha cut-out) bounces; 0: as many as ``transmission_bounces``
    transparent_bounces: int = 0
    #: keep Cycles' synced scene (BVH, hair) between a scene's renders: same pixels, ~3 s less per render on
    #: heavy scenes (hair)
    persistent_data: bool = False
    #: animated sequences for the temporal denoiser: every frame 1..``frames`` at each of these spp (its own
    #: sampling seed per frame and level, as an animation render has) and a reference at ``target_spp``
    #: (``seq_0001_spp0004.exr``, ``seq_0001_target.exr``) instead of the inbetween frames; empty: none
    sequence_spp: tuple[int, ...] = ()

    @property
    def family_weights(self) -> dict[str, float] | None:
        """``families`` as the dict ``make_spec(families=...)`` takes; None for the classic generator."""
        return dict(self.families) if self.families else None

    def fingerprint(self) -> str:
        # threads and persistent data change speed, not pixels
        data = {k: v for k, v in asdict(self).items() if k not in ("threads", "persistent_data")}
        # added later: the older datasets keep their fingerprints
        for key, default in (("stills", True), ("motion_span", 0), ("target_oidn", False), ("palette", "random"),
                             ("families", ()), ("volume_bounces", 0), ("transparent_bounces", 0),
                         ("sequence_spp", ())):
            if data[key] == default:
                del data[key]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


#: Render settings by name (``python -m ml_core.data build --preset NAME``). The two task-neutral ones are here;
#: a task's own presets live in ``ml_core/presets/<task>.py`` (a new task adds its file, this one is not edited).
PRESETS: Registry[RenderConfig] = Registry("render preset")
# The training dataset: ~128 px scenes, hundreds of them in a few CPU hours (crops are taken from these).
PRESETS.add("default", RenderConfig())
# Tests and CI: tiny and fast, every product still present.
PRESETS.add("tiny", RenderConfig(width=48, height=48, noisy_spp=(1, 4), target_spp=32, target_adaptive_threshold=0.0,
                                 anim_spp=8, max_bounces=4, diffuse_bounces=2, glossy_bounces=2,
                                 transmission_bounces=4))


def motion_scale(config: RenderConfig) -> float:
    """The ``make_spec`` motion scale that gives ``config.motion_span`` (1 when it is 0)."""
    if not config.motion_span or config.frames < 2:
        return 1.0
    return config.motion_span / (config.frames - 1)


def products(config: RenderConfig) -> list[str]:
    """File names one scene folder holds when it is complete (besides scene.json and the manifest)."""
    names = []
    if config.stills:
        names += [f"noisy_spp{spp:04d}.exr" for spp in config.noisy_spp] + ["target.exr"]
        names += [f"lowres_x{s}.exr" for s in config.lowres_scales]
    if config.frames > 1 and config.sequence_spp:
        names += [sequence_name(f, spp) for f in range(1, config.frames + 1) for spp in config.sequence_spp]
        names += [sequence_name(f) for f in range(1, config.frames + 1)]
    elif config.frames > 1:
        names += [f"frame_{f:04d}.exr" for f in range(1, config.frames + 1)]
    return names


def sequence_name(frame: int, spp: int | None = None) -> str:
    """A temporal sequence's file: frame ``frame`` at ``spp`` samples, or its reference (``spp`` None)."""
    return f"seq_{frame:04d}_spp{spp:04d}.exr" if spp else f"seq_{frame:04d}_target.exr"


def _sampling_seed(scene_seed: int, product: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{scene_seed}/{product}".encode()).digest()[:4], "little") & 0x7FFFFFFF


def setup_render(scene, config: RenderConfig) -> None:
    """Cycles on the CPU, no denoising, fixed integrator, every pass the datasets read, multilayer EXR out."""
    scene.render.engine = "CYCLES"
    cy = scene.cycles
    cy.device = "CPU"
    cy.use_denoising = False
    cy.use_animated_seed = False
    cy.max_bounces = config.max_bounces
    cy.diffuse_bounces = config.diffuse_bounces
    cy.glossy_bounces = config.glossy_bounces
    cy.transmission_bounces = config.transmission_bounces
    cy.transparent_max_bounces = config.transparent_bounces or config.transmission_bounces
    cy.volume_bounces = config.volume_bounces
    cy.sample_clamp_indirect = config.clamp_indirect
    cy.sample_clamp_direct = 0.0
    scene.render.use_motion_blur = False  # the Vector pass needs it off
    scene.render.use_persistent_data = config.persistent_data
    scene.render.resolution_percentage = 100
    scene.render.use_file_extension = False
    scene.render.use_compositing = False
    scene.render.use_sequencer = False
    if config.threads:
        scene.render.threads_mode, scene.render.threads = "FIXED", config.threads
    vl = scene.view_layers[0]
    vl.use_pass_z = True
    vl.use_pass_vector = True
    vl.cycles.denoising_store_passes = True
    img = scene.render.image_settings
    img.media_type = "MULTI_LAYER_IMAGE"
    img.color_depth = "32"  # vectors and depth need full float
    img.exr_codec = "ZIP"


def render_still(bpy, scene, path: Path, *, spp: int, seed: int, scale: int = 1, frame: int | None = None,
               adaptive: float = 0.0, denoise: bool = False, config: RenderConfig) -> float:
    """Render one still to ``path`` atomically; return the seconds it took."""
    cy = scene.cycles
    cy.samples = spp
    cy.seed = seed
    cy.use_adaptive_sampling = adaptive > 0
    if adaptive > 0:
        cy.adaptive_threshold = adaptive
        cy.adaptive_min_samples = max(16, spp // 16)
    cy.use_denoising = denoise
    if denoise:
        cy.denoiser = "OPENIMAGEDENOISE"
        cy.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        cy.denoising_prefilter = "ACCURATE"
    scene.render.resolution_x = config.width // scale
    scene.render.resolution_y = config.height // scale
    scene.frame_set(frame if frame is not None else scene.frame_current)
    with atomic_output(path) as tmp:  # a rename: no half-written EXR, and a missing one raises
        scene.render.filepath = tmp
        start = time.perf_counter()
        with blender.quiet_stdout():
            bpy.ops.render.render(write_still=True, scene=scene.name)
        seconds = time.perf_counter() - start
    return seconds


def render_scene(spec: dict, folder: Path, config: RenderConfig, meshes: MeshLibrary | None = None,
                 log=None) -> dict:
    """Render every missing product of ``spec`` into ``folder`` and write its manifest. Returns the manifest."""
    bpy = blender.import_bpy()
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.tmp.*"):  # left by a build killed mid-render
        stale.unlink()
    manifest_path = folder / MANIFEST
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())

    write_json(folder / SPEC, spec)
    scene = build_scene(spec, meshes)
    setup_render(scene, config)
    still = spec["frame_still"]
    jobs = []
    if config.stills:
        jobs += [(f"noisy_spp{spp:04d}.exr", dict(spp=spp, frame=still)) for spp in config.noisy_spp]
        jobs.append(("target.exr", dict(spp=config.target_spp, frame=still,
                                        adaptive=config.target_adaptive_threshold, denoise=config.target_oidn)))
        jobs += [(f"lowres_x{s}.exr", dict(spp=config.target_spp, frame=still, scale=s,
                                           adaptive=config.target_adaptive_threshold)) for s in config.lowres_scales]
    if config.frames > 1 and config.sequence_spp:
        for f in range(1, config.frames + 1):
            jobs += [(sequence_name(f, spp), dict(spp=spp, frame=f)) for spp in config.sequence_spp]
            jobs.append((sequence_name(f), dict(spp=config.target_spp, frame=f,
                                                adaptive=config.target_adaptive_threshold)))
    elif config.frames > 1:
        jobs += [(f"frame_{f:04d}.exr", dict(spp=config.anim_spp, frame=f, denoise=True))
                 for f in range(1, config.frames + 1)]
    files = {}
    for name, job in jobs:
        path = folder / name
        if path.exists():
            files[name] = {"seconds": None, "resumed": True, **_job_summary(job)}
            continue
        seconds = render_still(bpy, scene, path, seed=_sampling_seed(spec["seed"], name), config=config, **job)
        files[name] = {"seconds": round(seconds, 3), **_job_summary(job)}
        if log:
            log(f"scene {spec['seed']}: {name} in {seconds:.2f} s")
    manifest = {
        "seed": spec["seed"], "spec_version": spec["version"], "width": config.width, "height": config.height,
        "config": config.fingerprint(), "passes": list(config.passes), "blender": bpy.app.version_string,
        "render_seconds": round(sum(f["seconds"] or 0.0 for f in files.values()), 3), "files": files,
        "wall_seconds": round(time.perf_counter() - started, 3),  # scene build + renders + IO
    }
    if "family" in spec:
        manifest["family"] = spec["family"]
        if "variant" in spec:
            manifest["variant"] = spec["variant"]
    if config.stills:
        # target.exr carries Denoising Albedo / Normal / Depth rendered at the target's samples: clean guides
        # beside every noisy level's own (noisy) ones
        manifest["clean_guides"] = {"file": "target.exr", "passes": ["Denoising Albedo", "Denoising Normal",
                                                                     "Denoising Depth"],
                                    "spp": config.target_spp, "adaptive_threshold": config.target_adaptive_threshold}
    write_json(manifest_path, manifest)
    return manifest


# --------------------------------------------------------------------------------------------------
# Whole scene folders: render in a private hidden folder, rename it into place when complete
# --------------------------------------------------------------------------------------------------
@contextmanager
def scene_folder(final: Path, spec: dict):
    """Yield the private folder to render the scene ``final`` in; when the block ends without an error, move
    it into place whole (its manifest must be in it by then). On an error the private folder stays, so a
    retry or a rerun in this process, or after this process died one on this host, resumes it.

    ``spec`` is what the scene's ``scene.json`` holds: a partial folder made from another spec (other scene
    code) is emptied first, so a scene never mixes files of two versions of itself."""
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "something that is not a scene folder is in the way", str(final))
    partial = _claim_partial(final)
    spec_path = partial / SPEC
    if spec_path.is_file() and json.loads(spec_path.read_text()) != json.loads(json.dumps(spec)):
        shutil.rmtree(partial)
        partial.mkdir()
    yield partial
    _publish(partial, final)


def _partial_name(final: Path) -> Path:
    return final.parent / f".{final.name}{PARTIAL}{socket.gethostname()}-{os.getpid()}"


def _claim_partial(final: Path) -> Path:
    """This process's partial folder of ``final``: its own from an earlier try, else one it takes over (an
    incomplete visible folder left by code older than partial folders, or a partial folder of a dead process
    on this host, the fullest first), else a new empty one. Taking over is a rename, which only one of several
    processes trying at once can win."""
    own = _partial_name(final)
    if own.is_dir():
        return own
    final.parent.mkdir(parents=True, exist_ok=True)
    dead = [p for p in final.parent.glob(f".{final.name}{PARTIAL}*") if p.is_dir() and _owner_died(p, final)]
    candidates = ([final] if final.is_dir() and not (final / MANIFEST).exists() else [])
    candidates += sorted(dead, key=lambda p: -sum(1 for _ in p.iterdir()))
    for candidate in candidates:
        try:
            os.rename(candidate, own)
            return own
        except OSError:  # another process took it first, or it is gone
            continue
    own.mkdir(exist_ok=True)
    return own


def _owner_died(partial: Path, final: Path) -> bool:
    """Whether the process named in a partial folder's name is known to be dead: on this host only."""
    host, _, pid = partial.name[len(f".{final.name}{PARTIAL}"):].rpartition("-")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not _alive(int(pid))


def _alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate it on Windows: never take over there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:  # a killed worker not yet reaped by its parent (a Dask nanny) is a zombie: dead all the same
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _publish(partial: Path, final: Path) -> None:
    """Rename the complete ``partial`` to ``final``. When another process completed the scene first (a task
    Dask ran twice), its folder stands and this one is discarded."""
    if not (partial / MANIFEST).is_file():
        raise FileNotFoundError(errno.ENOENT, f"no {MANIFEST} after rendering (not published)", str(partial))
    try:
        os.rename(partial, final)
    except OSError as exc:
        if (final / MANIFEST).is_file():
            shutil.rmtree(partial, ignore_errors=True)
            return
        if not final.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "something that is not a scene folder is in the way",
                                     str(final)) from exc
        # an incomplete folder appeared meanwhile (a process of older code): this complete one replaces it
        _remove(final)
        os.rename(partial, final)
    _fsync_folder(final.parent)


def remove_leftover_partials(folder: Path) -> int:
    """Delete the partial folders in ``folder`` whose scene is complete (left by processes killed mid-scene
    whose scene another process rendered, on any host); returns how many. Each is first renamed to a name
    of this process, so one that another process is taking over at the same moment is never deleted."""
    removed = 0
    if not Path(folder).is_dir():
        return 0
    for partial in Path(folder).iterdir():
        name, sep, _ = partial.name.partition(PARTIAL)
        if sep and name.startswith(".") and (partial.parent / name[1:] / MANIFEST).is_file():
            removed += _remove(partial)
    return removed


def _remove(folder: Path) -> bool:
    doomed = folder.parent / f".discard-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(folder, doomed)
    except OSError:
        return False
    shutil.rmtree(doomed, ignore_errors=True)
    return True


def _job_summary(job: dict) -> dict:
    return {"spp": job["spp"], "frame": job.get("frame"), "scale": job.get("scale", 1),
            "adaptive_threshold": job.get("adaptive", 0.0), "oidn": job.get("denoise", False)}


def write_json(path: Path, data) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1, sort_keys=True))


def preset(name: str, **overrides) -> RenderConfig:
    """The preset ``name`` with some fields changed; an unknown name raises ``UnknownName`` (a ValueError)."""
    return replace(PRESETS.get(name), **overrides)


import_submodules(f"{__package__}.presets")  # noqa: E305  (each task's presets register themselves)
