"""Render authored scenes into the evaluation cache, one folder per scene, resumable.

``OUT/<name>/`` holds (every EXR multilayer with Combined, Denoising Albedo/Normal/Depth, Depth and Vector;
each file its own sampling seed; no denoising):

``noisy_spp0001.exr`` ``noisy_spp0004.exr`` ``noisy_spp0016.exr``   the still frame at 1, 4 and 16 spp
``reference.exr``                                                   the still frame at ``reference_spp`` (1024),
                                                                    adaptive sampling off: a true reference
``frame_0001_spp0004.exr`` ... ``frame_0005_reference.exr``         animated scenes: every frame at 4 and 16 spp
                                                                    and a reference at ``frame_reference_spp``
                                                                    (1536), adaptive sampling off

Animated scenes render every file at ``anim_size`` (160 px for ``--size 256``). With these defaults the whole
set takes about 1.6 hours on 2 CPU cores (``python -m ml_core.authored estimate`` extrapolates a timing
preview; see the README).
``scene.json``      name, family, description, frames, size, spp (written first)
``manifest.json``   written last: render seconds and settings per file, Blender version, integrator

``OUT/authored.json`` records the settings; a rerun with other settings into the same folder is refused. A scene
folder appears whole or not at all: it renders into the hidden ``OUT/.<name>.partial-<host>-<pid>/`` and is
renamed into place with its manifest (``ml_core.render.scene_folder``: the rules, and why an interrupted scene
is resumed on the same host and not discarded, are there and in ``ml_core.data``). A rerun skips scenes with a
manifest and renders only the missing files of an interrupted one, unless it was made by other scene code (its
``scene.json`` differs): that one renders afresh.

``build(..., scheduler=ADDRESS)`` renders one Dask task per scene on a cluster (``ml_core.cluster``); a scene
that raises is retried ``retries`` times, and when scenes failed the build raises ``cluster.TasksFailed`` after
the others are done.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .. import blender, cluster, render
from .base import SCENES, AuthoredScene, ordered

SET_FILE = "authored.json"
SCENE_FILE = render.SPEC  # scene.json
MANIFEST = render.MANIFEST
VERSION = 1
#: The integrator of the training data (``ml_core.render``'s default preset): the set measures scene content,
#: not a change of integrator. A scene adds what it needs (``AuthoredScene.cycles``).
INTEGRATOR = render.PRESETS.get("default")
MESHES = "none: Blender primitives and numpy-built geometry only (every checkout renders the same pixels)"
#: Cycles settings each manifest records, as the scene had them when it rendered
INTEGRATOR_KEYS = ("max_bounces", "diffuse_bounces", "glossy_bounces", "transmission_bounces",
                   "transparent_max_bounces", "volume_bounces", "volume_biased", "sample_clamp_direct",
                   "sample_clamp_indirect", "caustics_reflective", "caustics_refractive", "blur_glossy")


def source_fingerprint() -> str:
    """A hash of the code that builds the scenes (``kit``, ``base``, ``scenes/``): an interrupted render only
    resumes with the code that began it."""
    here = Path(__file__).parent
    files = [here / "kit.py", here / "base.py"] + sorted((here / "scenes").glob("*.py"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


class AuthoredError(ValueError):
    """A problem with the command's input; printed as one line."""


@dataclass(frozen=True)
class Settings:
    size: int = 256
    #: animated scenes' size (0: 5/8 of ``size`` in multiples of 8, 160 px for 256): each of their 5 frames
    #: has its own reference, so an animation at full size would cost as much as four stills
    anim_size: int = 0
    reference_spp: int = 1024
    #: per-frame references of animated scenes (0: 3/2 of ``reference_spp``, 1536 for 1024). The temporal error
    #: (``bench.temporal``) compares frame-to-frame changes, so a reference's own noise, new in every frame,
    #: counts in every method's error: at 384 spp it was about half of Blender OIDN's on these scenes and
    #: hid most of what a temporal denoiser removes (docs/benchmarks.md, issue 26)
    frame_reference_spp: int = 0
    noisy_spp: tuple[int, ...] = (1, 4, 16)
    frame_noisy_spp: tuple[int, ...] = (4, 16)
    #: 0: all cores. Speed, not pixels, in all but anim_neon_walk, whose noisy frames differ a little from
    #: build to build at any thread count (Cycles' choice among its many emitters; docs/benchmarks.md)
    threads: int = 0

    def resolved(self) -> "Settings":
        anim = self.anim_size or max(8, int(round(self.size * 5 / 8 / 8)) * 8)
        frame_reference = self.frame_reference_spp or max(1, self.reference_spp * 3 // 2)
        return replace(self, anim_size=anim, frame_reference_spp=frame_reference)

    def record(self) -> dict:
        """The settings that change pixels, as JSON stores them (lists, not tuples): comparable with a file's."""
        data = asdict(self.resolved())
        del data["threads"]
        return json.loads(json.dumps(data))

    def scene_size(self, entry: AuthoredScene) -> int:
        s = self.resolved()
        return s.anim_size if entry.animated else s.size


def products(entry: AuthoredScene, settings: Settings) -> list[tuple[str, dict]]:
    """(file name, render job) of every file a complete folder of ``entry`` holds."""
    s = settings.resolved()
    jobs = [(f"noisy_spp{spp:04d}.exr", {"spp": spp, "frame": entry.still_frame}) for spp in s.noisy_spp]
    jobs.append(("reference.exr", {"spp": s.reference_spp, "frame": entry.still_frame}))
    if entry.animated:
        for f in range(1, entry.frames + 1):
            jobs += [(f"frame_{f:04d}_spp{spp:04d}.exr", {"spp": spp, "frame": f}) for spp in s.frame_noisy_spp]
            jobs.append((f"frame_{f:04d}_reference.exr", {"spp": s.frame_reference_spp, "frame": f}))
    return jobs


def scene_record(entry: AuthoredScene, settings: Settings) -> dict:
    s = settings.resolved()
    size = settings.scene_size(entry)
    return {"set_version": VERSION, "name": entry.name, "family": entry.family, "families": list(entry.families),
            "description": entry.description, "frames": entry.frames, "still_frame": entry.still_frame,
            "size": [size, size],
            "spp": {"noisy": list(s.noisy_spp), "reference": s.reference_spp,
                    **({"frame_noisy": list(s.frame_noisy_spp), "frame_reference": s.frame_reference_spp}
                       if entry.animated else {})},
            "reference_adaptive_threshold": 0.0, "cycles": dict(entry.cycles), "passes": list(render.PASSES),
            "source": source_fingerprint(),
            "files": [name for name, _ in products(entry, settings)]}


def sampling_seed(name: str, product: str) -> int:
    """Each file's own Cycles seed, from the scene name and file name (``ml_core.render``'s hash)."""
    return render._sampling_seed(f"authored/{name}", product)  # the hash formats its key: a name works


def build_scene(entry: AuthoredScene):
    """Reset Blender and build ``entry`` into the scene; returns it, with frames set and a camera checked."""
    scene = blender.reset_scene()
    scene.frame_start, scene.frame_end = 1, entry.frames
    entry.build()
    if scene.camera is None:
        raise AuthoredError(f"authored scene {entry.name!r} built no camera")
    scene.frame_set(entry.still_frame)
    return scene


def setup(scene, entry: AuthoredScene, size: int, threads: int = 0) -> render.RenderConfig:
    """``ml_core.render``'s Cycles setup at ``size``, then the scene's own Cycles settings."""
    config = replace(INTEGRATOR, width=size, height=size, threads=threads)
    render.setup_render(scene, config)
    for key, value in entry.cycles.items():
        setattr(scene.cycles, key, value)
    return config


def _write_set_record(out: Path, settings: Settings) -> None:
    record = {"what": "Postpass authored evaluation set: never used for training or model selection",
              "set_version": VERSION, "settings": settings.record()}
    path = out / SET_FILE
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("settings") != record["settings"] or old.get("set_version") != VERSION:
            raise AuthoredError(f"{out}: holds an authored set rendered with other settings "
                                f"({old.get('settings')}); use another --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    render.write_json(path, record)


def render_scene(entry: AuthoredScene, folder: Path, settings: Settings, log=None) -> dict:
    """Render every missing file of ``entry`` into ``folder`` (whole: ``render.scene_folder``), then its manifest.
    Returns a summary: name, files rendered, skipped (already complete), seconds, worker."""
    if (folder / MANIFEST).exists():
        return {"name": entry.name, "rendered": 0, "skipped": True, "worker": cluster.worker_name()}
    record = scene_record(entry, settings)
    with render.scene_folder(folder, record) as partial:
        if (partial / MANIFEST).exists():  # complete, but its process died before renaming it into place
            manifest, rendered = json.loads((partial / MANIFEST).read_text()), 0
        else:
            manifest, rendered = _render_files(entry, partial, settings, record, log)
    return {"name": entry.name, "rendered": rendered, "skipped": False, "seconds": manifest["render_seconds"],
            "worker": cluster.worker_name()}


def _render_files(entry: AuthoredScene, folder: Path, settings: Settings, record: dict, log=None) -> tuple[dict, int]:
    """Render the files of ``entry`` missing from ``folder`` and write its manifest; (manifest, files rendered)."""
    bpy = blender.import_bpy()
    started = time.perf_counter()
    for stale in folder.glob(".*.tmp.*"):  # left by a render killed mid-file
        stale.unlink()
    render.write_json(folder / SCENE_FILE, record)
    scene = build_scene(entry)
    size = settings.scene_size(entry)
    config = setup(scene, entry, size, settings.threads)
    files, rendered = {}, 0
    for name, job in products(entry, settings):
        path = folder / name
        seed = sampling_seed(entry.name, name)
        summary = {"spp": job["spp"], "frame": job["frame"], "seed": seed, "adaptive_threshold": 0.0}
        if path.exists():
            files[name] = {"seconds": None, "resumed": True, **summary}
            continue
        seconds = render.render_still(bpy, scene, path, spp=job["spp"], seed=seed, frame=job["frame"], config=config)
        files[name] = {"seconds": round(seconds, 3), **summary}
        rendered += 1
        if log:
            log(f"{entry.name}: {name} in {seconds:.1f} s")
    manifest = {"name": entry.name, "set_version": VERSION, "width": size, "height": size, "frames": entry.frames,
                "blender": bpy.app.version_string, "passes": list(render.PASSES), "meshes": MESHES,
                "integrator": {k: getattr(scene.cycles, k) for k in INTEGRATOR_KEYS},
                "render_seconds": round(sum(f["seconds"] or 0.0 for f in files.values()), 3), "files": files,
                "wall_seconds": round(time.perf_counter() - started, 3)}
    render.write_json(folder / MANIFEST, manifest)
    return manifest, rendered


def render_named(out: str, name: str, settings: Settings, log=None) -> dict:
    """The task of one scene: :func:`render_scene` of the scene ``name`` into ``out/name`` (in this process or
    on a Dask worker, which looks the scene up in its own registry)."""
    return render_scene(SCENES.get(name), Path(out) / name, settings, log)


def select(only: list[str] | None) -> list[AuthoredScene]:
    """The scenes named in ``only`` (all when empty), in registry order; unknown names raise."""
    if not only:
        return ordered()
    return [SCENES.get(n) for n in dict.fromkeys(only)]


def build(out: Path, settings: Settings | None = None, only: list[str] | None = None, log=None,
          scheduler: str | None = None, retries: int = 2, progress: bool = False) -> dict:
    """Render the set (or the ``only`` scenes) into ``out``, complete scenes skipped: in this process, or one
    Dask task per scene on the cluster at ``scheduler`` (an address or a scheduler file; ``log`` is this
    process's only). A scene that raises is tried ``retries`` more times. Returns a summary; when scenes
    failed, raises ``cluster.TasksFailed`` (the others are done) with the summary, whose ``failed`` names them."""
    settings = settings or Settings()
    entries = select(only)  # unknown names fail before anything is written
    if settings.size < 8 or settings.reference_spp < 1:
        raise AuthoredError("--size must be >= 8 and --reference-spp >= 1")
    if retries < 0:
        raise AuthoredError(f"--retries must be >= 0, got {retries}")
    out = Path(out).expanduser().absolute()  # workers get this path: the same one on every machine
    started = time.perf_counter()
    with cluster.runner(scheduler, name="authored") as run:
        _write_set_record(out, settings)
        pending = [e.name for e in entries if not (out / e.name / MANIFEST).exists()]
        tasks = {name: (str(out), name, settings, None if scheduler else log) for name in pending}
        outcomes = list(run.map(render_named, tasks, retries=retries, desc="render authored", progress=progress))
    render.remove_leftover_partials(out)
    done = [o.result for o in outcomes if not o.failed]
    failed = sorted((o for o in outcomes if o.failed), key=lambda o: o.label)
    summary = {"out": str(out), "scenes": len(entries),
               "skipped": len(entries) - len(pending) + sum(r["skipped"] for r in done),
               "rendered_files": sum(r["rendered"] for r in done),
               "failed": [{"name": o.label, "reason": o.reason} for o in failed],
               "seconds": round(time.perf_counter() - started, 1), "scheduler": scheduler or None,
               "workers": sorted({r["worker"] for r in done if not r["skipped"]})}
    if failed:
        raise cluster.TasksFailed(summary, [(o.label, o.reason) for o in failed], len(pending))
    return summary


def preview(out: Path, size: int = 128, spp: int = 64, denoise: bool = True, only: list[str] | None = None,
            threads: int = 0, last_frame: bool = True) -> dict:
    """A quick look: each scene's still frame (and an animated scene's last frame) at ``size`` px and ``spp``
    (with Cycles' OIDN when ``denoise``) into ``out/<name>.exr``. Returns {file stem: seconds}; without
    ``denoise`` (a timing run for :func:`estimate`) each still is also rendered at 1 spp first, which times the
    fixed cost of a render (scene sync, BVH, the sky's importance map), and process CPU seconds are recorded,
    which other processes on the machine do not inflate."""
    bpy = blender.import_bpy()
    out = Path(out).expanduser()
    times = {}
    for entry in select(only):
        start = time.perf_counter()
        scene = build_scene(entry)
        config = setup(scene, entry, size, threads)
        built = time.perf_counter() - start
        frames = [("", entry.still_frame)] + ([("_last", entry.frames)] if entry.animated and last_frame else [])
        for suffix, frame in frames:
            record = {"build_seconds": round(built, 3)}
            for label, samples in ([("one", 1)] if not denoise and not suffix else []) + [("", spp)]:
                cpu = time.process_time()
                seconds = render.render_still(bpy, scene, out / f"{entry.name}{suffix}{label and '_' + label}.exr",
                                              spp=samples, frame=frame, seed=sampling_seed(entry.name, "preview"),
                                              denoise=denoise, config=config)
                key = f"{label}_" if label else ""
                record[f"{key}render_seconds"] = round(seconds, 3)
                record[f"{key}cpu_seconds"] = round(time.process_time() - cpu, 3)
            times[entry.name + suffix] = record
    render.write_json(out / "preview.json", {"size": size, "spp": spp, "denoise": denoise, "times": times,
                                             "threads": threads or os.cpu_count()})
    return times


def each_built(out: Path, entries, spp: int, step) -> dict:
    """``step(entry, folder)`` for each of ``entries`` whose folder in ``out`` is complete (a later step over
    the built set: guide renders, low-res renders); returns {"out", "spp", "scenes": [step's results],
    "missing": [names of scenes not built], "seconds"}."""
    started = time.perf_counter()
    done, missing = [], []
    for entry in entries:
        folder = Path(out) / entry.name
        if not (folder / MANIFEST).is_file():
            missing.append(entry.name)
            continue
        done.append(step(entry, folder))
    return {"out": str(out), "spp": spp, "scenes": done, "missing": missing,
            "seconds": round(time.perf_counter() - started, 1)}


def log_stderr(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)  # above a progress bar, if one is shown


def estimate(times: dict, spp: int, size: int, settings: Settings, cores: int = 1) -> dict:
    """Extrapolate a timing preview (no OIDN) to the full build: wall seconds per scene on ``cores`` cores
    (CPU seconds / cores: what the build takes with the machine to itself), and the total.

    A render costs a fixed part (the 1-spp render's time) plus a part per sample and pixel (the rest of the
    ``spp`` render's time); where no 1-spp timing exists the whole time counts as per sample (an overestimate)."""
    s = settings.resolved()
    result = {}
    for entry in select(None):
        t = times.get(entry.name)
        if t is None:
            continue
        total = t["cpu_seconds"] if "cpu_seconds" in t else t["render_seconds"] * cores
        fixed = t.get("one_cpu_seconds", 0.0)
        per_sample_px = max(total - fixed, 0.0) / ((spp - (1 if "one_cpu_seconds" in t else 0)) * size * size)
        side = settings.scene_size(entry)
        samples = sum(s.noisy_spp) + s.reference_spp
        if entry.animated:
            samples += entry.frames * (sum(s.frame_noisy_spp) + s.frame_reference_spp)
        renders = len(products(entry, settings))
        cpu = per_sample_px * samples * side * side + renders * fixed
        result[entry.name] = round(cpu / cores + t["build_seconds"], 1)
    result["total"] = round(sum(result.values()), 1)
    return result


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
