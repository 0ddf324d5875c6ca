"""Dataset command: render procedural scenes into a resumable cache, and report on it.

    python -m ml_core.data build --split train --count 400 --out ~/.cache/postpass/data
    python -m ml_core.data stats ~/.cache/postpass/data
    python -m ml_core.data build --preset anim5 --split anim_test --count 16 --out ~/.cache/postpass/data_anim5

The ``anim4`` / ``anim5`` presets render animation frames only (4 or 5 of them, for inbetweening at t = 1/3,
2/3 or 1/4, 1/2, 3/4), each preset into its own folder (a folder holds one render config); use their own
splits ``anim_train`` / ``anim_val`` / ``anim_test``. The ``palette`` preset renders natural-palette stills (the
target only) for the colorizer, into its own folder, with splits ``palette_train`` / ``palette_val`` /
``palette_test``:

    python -m ml_core.data build --preset palette --split palette_train --count 200 --out ~/.cache/postpass/data_palette

The ``denoise`` preset renders the default's noisy stills and target only (no low-res or animation frames), for
more denoiser scenes per CPU hour; give it train seeds the default folder does not hold (``--start``).

The ``v2`` preset draws every scene from the scene families (``ml_core.scenes.families``: interiors, studio,
outdoor, glass, depth of field, skin, hair, thin, volumes, neon, grazing, motion, classic) at 256x256, denoise
stills with clean guides; ``--families`` overrides its weights (another config, so another folder);
``sheet --per-family`` shows one scene of each family:

    python -m ml_core.data build --preset v2 --split train --count 2000 --out ~/.cache/postpass/data_v2
    python -m ml_core.data sheet ~/.cache/postpass/data_v2 --split train --per-family

On a Dask distributed cluster, one task per scene, each worker rendering with Cycles into the same dataset
folder (shared storage, at the same path on every machine):

    dask scheduler --scheduler-file /shared/sched.json              # once, on the head node
    dask worker --scheduler-file /shared/sched.json --nworkers 1 --nthreads 1    # on each render machine
    python -m ml_core.data build --preset v2 --split train --count 2000 --out /shared/data_v2 \
        --scheduler /shared/sched.json --threads 0                  # or --scheduler tcp://head:8786

``--threads`` is each scene's Cycles threads (0: every core of the worker's machine, right for one worker per
machine; with several workers on one machine give each its share). The submitting process checks its arguments, connects, writes
``dataset.json`` (with the Blender version a worker reports) and submits the scenes that are not complete yet;
a scene that raises is retried ``--retries`` times (2), one whose worker dies is rescheduled by Dask. It
exits 1 when scenes failed (the summary's ``failed`` names each seed and why; they are printed on stderr too),
2 on a bad argument (an unreachable scheduler, a bad scheduler file) before anything renders. Without
``--scheduler`` the same tasks run in this process, one after the other, with the same retries and report
(``ml_core.cluster``): a failing scene no longer stops the build.

Layout: ``OUT/dataset.json`` (render config, mesh library, Blender version), ``OUT/<split>/<seed>/`` one folder
per scene (see ``ml_core.render``), ``OUT/contact_sheet_<split>.png``. A scene folder appears whole or not at
all: a scene renders into the hidden ``OUT/<split>/.<seed>.partial-<host>-<pid>/`` and is renamed into place
with its manifest (``ml_core.render.scene_folder``). A rerun skips complete scenes, so a build can grow over
several runs. An interrupted scene is resumed, not discarded, when the next render of that seed runs on the same
host after its process died (a killed local build, a Dask worker lost and its task rescheduled on the same
machine): its finished files are kept, because a v2 scene is one to several minutes of render and a partial
folder is reused only when its ``scene.json`` equals the spec being rendered. Another host's partial folder is
never taken over (whether its process lives cannot be seen from here); leftovers of complete scenes are deleted
at the end of a build.

Models that improve on Blender's own denoised render (issue 26's ``denoise_oidn_temporal``) train and validate
on Blender's copy of each noisy sequence frame, made after the build (resumable) into
``OUT/<split>/<seed>/blender_oidn/``:

    python -m ml_core.data blender-oidn ~/.cache/postpass/data_temporal --split val

A split that only evaluates (the test split) can get longer references of its sequence frames, which ``bench
temporal`` scores against in place of the preset's targets (their noise, new in every frame, is most of a
temporal error measured against them), into ``OUT/<split>/<seed>/references/``:

    python -m ml_core.data references ~/.cache/postpass/data_temporal --split test --spp 1024
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from . import cluster, paths, render, splits
from .scenes import MeshLibrary, SceneError, make_spec

DATASET_FILE = "dataset.json"


class DataError(ValueError):
    """A problem with the command's input; printed as one line."""


def scene_dir(out: Path, seed: int) -> Path:
    return out / splits.split_of(seed) / f"{seed:07d}"


def complete_scenes(out: Path, split: str) -> list[Path]:
    folder = Path(out) / split
    if not folder.is_dir():
        return []
    # hidden: a partial folder (its manifest is written just before it is renamed into place)
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p / render.MANIFEST).is_file())


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise DataError(f"{out}: output folder is not writable ({exc.strerror or type(exc).__name__})") from None


def _dataset_record(out: Path, config: render.RenderConfig, meshes: MeshLibrary, mesh_fingerprint: str | None,
                    blender: str) -> dict:
    """Create ``dataset.json``, or check an existing one was made with the same config and meshes."""
    record = {"render_config": asdict(config), "config_fingerprint": config.fingerprint(),
              "meshes": meshes.names, "mesh_fingerprint": mesh_fingerprint, "blender": blender}
    path = out / DATASET_FILE
    if path.exists():
        old = json.loads(path.read_text())
        for key in ("config_fingerprint", "mesh_fingerprint"):
            if old.get(key) != record[key]:
                raise DataError(f"{out}: holds a dataset made with another {key.split('_')[0]} "
                                f"({old.get(key)} != {record[key]}); use another --out")
        return old
    render.write_json(path, record)
    return record


def build(out: Path, split: str, count: int, start: int = 0, config: render.RenderConfig | None = None,
          mesh_dir: Path | None = None, progress: bool = True, sheet: bool = True, scheduler: str | None = None,
          retries: int = 2) -> dict:
    """Render ``count`` scenes of ``split`` into ``out`` (skipping complete ones): in this process, or one Dask
    task per scene on the cluster at ``scheduler`` (an address or a scheduler file). A scene that raises is
    tried ``retries`` more times. Returns a summary; when scenes failed, raises ``cluster.TasksFailed`` (the
    others are done) with the summary, whose ``failed`` lists the seeds that failed and why."""
    seeds = splits.split_seeds(split, count, start)  # validates split / count first: cheap errors first
    config = config or render.PRESETS.get("default")
    if retries < 0:
        raise DataError(f"--retries must be >= 0, got {retries}")
    out = Path(out).expanduser().absolute()  # workers get this path: the same one on every machine
    _check_writable(out)
    meshes = MeshLibrary(mesh_dir)
    meshes.validate()
    mesh_folder = str(meshes.folder.absolute()) if meshes.folder else None
    mesh_fingerprint = meshes.fingerprint() if meshes.names else None

    with cluster.runner(scheduler, name=f"scene-{split}") as run:
        # written once, here, before any scene task: the Blender version is the renderers' (a worker's)
        _dataset_record(out, config, meshes, mesh_fingerprint, run.call(blender_version))
        pending = [seed for seed in seeds if not (scene_dir(out, seed) / render.MANIFEST).is_file()]
        tasks = {seed: (str(out), seed, config, mesh_folder, mesh_fingerprint) for seed in pending}
        start_time = time.perf_counter()
        outcomes = list(run.map(render_seed, tasks, retries=retries, desc=f"render {split}", progress=progress))
        wall = time.perf_counter() - start_time
    render.remove_leftover_partials(out / split)
    rendered = [o.result for o in outcomes if not o.failed and not o.result["skipped"]]
    failed = sorted((o for o in outcomes if o.failed), key=lambda o: o.label)
    done = len(rendered)
    summary = {"split": split, "requested": len(seeds), "rendered": done,
               "skipped": len(seeds) - len(pending) + sum(1 for o in outcomes if not o.failed and o.result["skipped"]),
               "failed": [{"seed": o.label, "reason": o.reason} for o in failed],
               "seconds": round(wall, 1), "scenes_per_hour": round(3600 * done / wall, 1) if done else None,
               "scheduler": scheduler or None, "workers": sorted({r["worker"] for r in rendered})}
    if sheet and complete_scenes(out, split):
        summary["contact_sheet"] = str(contact_sheet(out, split))
    if failed:
        raise cluster.TasksFailed(summary, [(f"seed {o.label}", o.reason) for o in failed], len(pending))
    return summary


def blender_version() -> str:
    """The version of the Blender this process renders with (a task: asked of a worker on a cluster)."""
    from . import blender

    return blender.import_bpy().app.version_string


def render_seed(out: str, seed: int, config: render.RenderConfig, mesh_dir: str | None,
                mesh_fingerprint: str | None) -> dict:
    """Render the scene of ``seed`` into the dataset ``out``, whole (``render.scene_folder``): the task of one
    seed, run in this process or on a Dask worker. Returns ``{seed, skipped, seconds, worker}``."""
    folder = scene_dir(Path(out), seed)
    if (folder / render.MANIFEST).is_file():  # another build (or a twin of this task) completed it meanwhile
        return {"seed": seed, "skipped": True, "seconds": 0.0, "worker": cluster.worker_name()}
    meshes = _mesh_library(mesh_dir, mesh_fingerprint)
    spec = make_spec(seed, meshes.names, frames=config.frames, motion_scale=render.motion_scale(config),
                     palette=config.palette, families=config.family_weights)
    with render.scene_folder(folder, spec) as partial:
        manifest = render.render_scene(spec, partial, config, meshes)
    return {"seed": seed, "skipped": False, "seconds": manifest["wall_seconds"], "worker": cluster.worker_name()}


@functools.lru_cache(maxsize=4)
def _mesh_library(folder: str | None, fingerprint: str | None) -> MeshLibrary:
    """The mesh library of ``folder``, loaded once per process, checked to be the submitting machine's."""
    meshes = MeshLibrary(folder)
    if meshes.names and meshes.fingerprint() != fingerprint:
        raise SceneError(f"{folder}: holds other meshes here than where the build was started "
                         f"({meshes.fingerprint()} != {fingerprint})")
    return meshes


def stats(out: Path) -> dict:
    """Scenes, disk, render time and a fingerprint per split (also written to ``OUT/stats.json``)."""
    out = Path(out).expanduser()
    if not (out / DATASET_FILE).is_file():
        raise DataError(f"{out}: not a dataset folder (no {DATASET_FILE})")
    record = json.loads((out / DATASET_FILE).read_text())
    result = {"dataset": str(out), "blender": record["blender"], "config": record["config_fingerprint"],
              "splits": {}}
    for split in splits.SPLITS:
        folders = complete_scenes(out, split)
        if not folders:
            continue
        manifests = [json.loads((f / render.MANIFEST).read_text()) for f in folders]
        disk = sum(p.stat().st_size for f in folders for p in f.iterdir() if p.is_file())
        wall = [m.get("wall_seconds") or m["render_seconds"] for m in manifests]
        result["splits"][split] = {
            "scenes": len(folders), "disk_mb": round(disk / 2**20, 1),
            "mb_per_scene": round(disk / 2**20 / len(folders), 2),
            "seconds_per_scene": round(float(np.mean(wall)), 2),
            "scenes_per_hour": round(3600 / float(np.mean(wall)), 1),
            "fingerprint": scenes_fingerprint(folders),
        }
        families: dict[str, list[float]] = {}
        for m, seconds in zip(manifests, wall):
            if "family" in m:
                families.setdefault(m["family"], []).append(seconds)
        if families:  # v2 datasets: scenes and seconds per scene of each family
            result["splits"][split]["families"] = {
                name: {"scenes": len(v), "seconds_per_scene": round(float(np.mean(v)), 2)}
                for name, v in sorted(families.items())}
    render.write_json(out / "stats.json", result)
    return result


def scenes_fingerprint(folders: list[Path]) -> str:
    """Identifies a set of rendered scenes: their seeds and render configs (what a model was trained on)."""
    manifests = [json.loads((f / render.MANIFEST).read_text()) for f in folders]
    return hashlib.sha256(json.dumps(sorted((m["seed"], m["config"]) for m in manifests)).encode()).hexdigest()[:16]


def _scene_label(folder: Path) -> str:
    """``seed N``, with the scene's family and variant when it has one (v2 datasets)."""
    manifest = json.loads((folder / render.MANIFEST).read_text())
    label = f"seed {int(folder.name)}"
    if "family" in manifest:
        label += f" {manifest['family']}" + (f"/{manifest['variant']}" if manifest.get("variant") else "")
    return label


def first_scene_per_family(out: Path, split: str) -> list[Path]:
    """The first complete scene of each scene family in ``split`` (families in name order)."""
    first: dict[str, Path] = {}
    for folder in complete_scenes(out, split):
        family = json.loads((folder / render.MANIFEST).read_text()).get("family", "classic")
        first.setdefault(family, folder)
    return [first[name] for name in sorted(first)]


def contact_sheet(out: Path, split: str, count: int = 8, path: Path | None = None, cell: int = 128,
                  per_family: bool = False) -> Path:
    """A PNG grid, one row per scene: noisy (lowest spp >= 4), target, albedo, normal, 1/4-res render, frame 1.

    ``per_family``: one row per scene family (its first scene in the split) instead of the first ``count``
    scenes; rows are labelled with the seed, family and variant."""
    from addon.runtime.color import exposure_scale, srgb_encode, tonemap
    from addon.runtime.exr import read_exr

    from .figures import image_grid

    folders = (first_scene_per_family(out, split) if per_family else complete_scenes(out, split))[:count]
    if not folders:
        raise DataError(f"{out}: no complete scenes in split {split!r}")
    rows, labels = [], []
    for folder in folders:
        frames = sorted(folder.glob("frame_*.exr"))
        if not frames:  # a temporal sequence: its noisy frames at the level shown (4 spp), then the references
            sequence = sorted(folder.glob("seq_*_spp*.exr"))
            level = next((f.stem[-7:] for f in sequence if int(f.stem[-4:]) >= 4), sequence[-1].stem[-7:]) \
                if sequence else ""
            frames = [f for f in sequence if f.stem.endswith(level)] + sorted(folder.glob("seq_*_target.exr"))
        if not (folder / "target.exr").is_file():  # an animation-only dataset: its frames
            shown = [read_exr(f).get("Combined") for f in frames]
            scale = exposure_scale(shown[0])
            tiles = {f"frame {i + 1}": tonemap(c, scale) for i, c in enumerate(shown)}
            rows.append(list(tiles.values()))
            labels = labels if len(labels) >= len(tiles) else list(tiles)
            continue
        target = read_exr(folder / "target.exr")
        scale = exposure_scale(target.get("Combined"))  # one exposure per row, so columns compare
        noisy_files = sorted(folder.glob("noisy_spp*.exr"))
        tiles = {}
        if noisy_files:  # a palette (colorize) dataset has the target only
            noisy = next((f for f in noisy_files if int(f.stem[-4:]) >= 4), noisy_files[-1])
            tiles[f"noisy {int(noisy.stem[-4:])} spp"] = tonemap(read_exr(noisy).get("Combined"), scale)
        lowres = sorted(folder.glob("lowres_x*.exr"))
        tiles |= {
            "target": tonemap(target.get("Combined"), scale),
            "albedo": srgb_encode(target.get("Denoising Albedo")),
            "normal": np.clip(target.get("Denoising Normal") * 0.5 + 0.5, 0, 1),
        }
        if lowres:
            tiles[lowres[-1].stem.replace("lowres_", "low-res ")] = tonemap(read_exr(lowres[-1]).get("Combined"), scale)
        if frames:
            tiles["frame 1"] = tonemap(read_exr(frames[0]).get("Combined"), scale)
        rows.append(list(tiles.values()))
        labels = labels if len(labels) >= len(tiles) else list(tiles)
    default = Path(out) / f"contact_sheet_{split}{'_families' if per_family else ''}.png"
    return image_grid(rows, labels, Path(path) if path else default, cell,
                      row_labels=[_scene_label(f) for f in folders])


#: where :func:`blender_oidn` writes Blender's denoised copy of a scene's noisy files (a folder inside the scene's,
#: so the split's file globs and the scene's fingerprint files stay as rendered)
BLENDER_OIDN_DIR = "blender_oidn"


def blender_oidn(out: Path, split: str, progress: bool = False) -> dict:
    """Blender's own denoised copy of every noisy sequence frame (``seq_*_spp*.exr``) of ``split``'s complete
    scenes, beside it under :data:`BLENDER_OIDN_DIR` with the same name: the compositor's Denoise node
    (OpenImageDenoise, Accurate prefilter, High, albedo and normal), what an artist's render with Cycles' Denoise on
    holds as Combined. A model that improves on Blender's result (``denoise_oidn_pool``) trains and validates on
    them. Resumable (files there are kept; each appears atomically); returns counts."""
    from addon.runtime.exr import read_exr, write_exr

    from .blender import BlenderOIDN

    scenes = complete_scenes(out, split)
    if not scenes:
        raise DataError(f"{out}: no complete scene in split {split!r} (build it first)")
    files = [f for scene in scenes for f in sorted(scene.glob("seq_*_spp*.exr"))]
    if not files:
        raise DataError(f"{out}: split {split!r} has no noisy sequence frames (seq_*_spp*.exr): build it with "
                        "a sequence preset (temporal, guided)")
    oidn, made, start = None, 0, time.time()
    todo = [f for f in files if not (f.parent / BLENDER_OIDN_DIR / f.name).is_file()]
    for i, source in enumerate(todo):
        oidn = oidn or BlenderOIDN("Accurate", "High")
        passes = read_exr(source)
        result = oidn(passes.get("Combined")[..., :3], passes.get("Denoising Albedo"), passes.get("Denoising Normal"))
        (source.parent / BLENDER_OIDN_DIR).mkdir(exist_ok=True)
        write_exr(source.parent / BLENDER_OIDN_DIR / source.name, {"Combined": result})
        made += 1
        if progress:
            print(f"{i + 1}/{len(todo)} {source}", file=sys.stderr)
    return {"split": split, "scenes": len(scenes), "frames": len(files), "made": made,
            "seconds": round(time.time() - start, 1)}


#: where :func:`references` writes longer references of a scene's sequence frames (evaluation only)
REFERENCES_DIR = "references"
REFERENCES_FILE = "references.json"


def dataset_config(out: Path) -> render.RenderConfig:
    """The render config ``out``'s scenes were built with (``dataset.json``), checked by its fingerprint."""
    record = json.loads((Path(out) / DATASET_FILE).read_text()) if (Path(out) / DATASET_FILE).is_file() else None
    if record is None:
        raise DataError(f"{out}: no {DATASET_FILE} (not a dataset folder; build it first)")
    fields = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
              for k, v in record["render_config"].items()}
    config = render.RenderConfig(**fields)
    if config.fingerprint() != record["config_fingerprint"]:
        raise DataError(f"{out}: its {DATASET_FILE} does not give back its render config (made by other code)")
    return config


def references(out: Path, split: str, spp: int, threads: int = 0, mesh_dir: Path | None = None,
               progress: bool = False) -> dict:
    """Longer references of every sequence frame of ``split``'s complete scenes, for evaluation: the scene rebuilt
    from its ``scene.json`` with the dataset's render config, each frame rendered at ``spp`` samples, adaptive
    sampling off, a sampling seed of its own, into ``<scene>/references/`` under the target's name
    (``seq_0001_target.exr``). The preset's targets (fewer samples, adaptive) stay what models train on; their
    noise, new in every frame, is most of a temporal error measured against them (``bench temporal`` reads these
    in their place where a scene has them all). Resumable (each file atomic; ``references.json`` records the
    samples, and a rerun with other samples is refused). Returns counts."""
    out = Path(out).expanduser()
    if spp < 1:
        raise DataError(f"--spp must be >= 1, got {spp}")
    scenes = [s for s in complete_scenes(out, split) if any(s.glob("seq_*_target.exr"))]
    if not scenes:
        raise DataError(f"{out}: no complete scene with sequence frames in split {split!r} (build it first with a "
                        "sequence preset: temporal, guided)")
    config = dataset_config(out)
    record = json.loads((out / DATASET_FILE).read_text())
    mesh_dir = mesh_dir or paths.default_mesh_dir()
    if record.get("meshes") and mesh_dir is None:
        raise DataError(f"{out}: built with meshes ({', '.join(record['meshes'])}); give their folder: --meshes DIR")
    for scene in scenes:  # every refusal before any render
        old = scene / REFERENCES_DIR / REFERENCES_FILE
        if old.is_file() and json.loads(old.read_text())["spp"] != spp:
            raise DataError(f"{old}: references at {json.loads(old.read_text())['spp']} spp are there; "
                            f"remove {old.parent} to render them at {spp}")
    from . import blender

    bpy, made, start = None, 0, time.time()
    for scene in scenes:
        spec = json.loads((scene / render.SPEC).read_text())
        folder = scene / REFERENCES_DIR
        names = [render.sequence_name(f) for f in range(1, spec["frames"] + 1)]
        done_record = folder / REFERENCES_FILE
        if done_record.is_file():
            continue
        if bpy is None:
            bpy = blender.import_bpy()
            try:
                meshes = _mesh_library(str(mesh_dir) if record.get("meshes") else None, record.get("mesh_fingerprint"))
            except SceneError as exc:  # the default library is not the build's
                raise DataError(f"{exc}; give the mesh folder {out} was built with: --meshes DIR") from None
        built = render.build_scene(spec, meshes)
        cfg = replace(config, threads=threads)
        render.setup_render(built, cfg)
        folder.mkdir(exist_ok=True)
        files = {}
        for frame, name in enumerate(names, 1):
            seed = render._sampling_seed(spec["seed"], f"{REFERENCES_DIR}/{spp}/{name}")
            if not (folder / name).is_file():
                seconds = render.render_still(bpy, built, folder / name, spp=spp, seed=seed, frame=frame, config=cfg)
                made += 1
                if progress:
                    print(f"{scene.name}: {REFERENCES_DIR}/{name} at {spp} spp in {seconds:.1f} s", file=sys.stderr)
            files[name] = {"frame": frame, "seed": seed}
        render.write_json(done_record, {"spp": spp, "adaptive_threshold": 0.0, "files": files})
    return {"split": split, "scenes": len(scenes), "made": made, "spp": spp, "seconds": round(time.time() - start, 1)}


# --------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ml_core.data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="render scenes of one split into the dataset folder (resumable)")
    b.add_argument("--split", required=True, help=f"one of {', '.join(splits.SPLITS)}")
    b.add_argument("--count", type=int, required=True, help="number of scenes (seeds) to have in the split")
    b.add_argument("--start", type=int, default=0, help="offset of the first seed within the split")
    b.add_argument("--out", type=Path, default=paths.cache_dir() / "data", help="dataset folder (default: %(default)s)")
    b.add_argument("--preset", default="default", help=f"render settings: {', '.join(render.PRESETS)}")
    b.add_argument("--meshes", default=None,
                   help="folder of OBJ/PLY/GLB meshes to mix into scenes ('none' for none; default: ../shared/assets/meshes if present)")
    b.add_argument("--families", default=None,
                   help="scene families and weights overriding the preset's, e.g. 'interior=2,glass=1' or 'hair' "
                        "(a family-only folder: another config, so another --out)")
    b.add_argument("--threads", type=int, default=0,
                   help="Cycles threads of each scene's render (0: all cores; with several Dask workers on one "
                        "machine, give each its share)")
    b.add_argument("--scheduler", metavar="ADDRESS|FILE",
                   help="render on a Dask distributed cluster, one task per scene: the scheduler's address "
                        "(tcp://head:8786) or its scheduler file (dask scheduler --scheduler-file); workers "
                        "must see --out at the same path")
    b.add_argument("--retries", type=int, default=2, metavar="N",
                   help="run a scene that fails up to N more times (default: %(default)s)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    o = sub.add_parser("blender-oidn", help="Blender's denoised copy (Denoise node: OIDN, Accurate, High) of every "
                                            "noisy sequence frame of a split, for models that improve on it "
                                            "(resumable)")
    o.add_argument("out", type=Path)
    o.add_argument("--split", required=True)
    o.add_argument("--quiet", action="store_true", help="no progress lines")
    r = sub.add_parser("references", help="longer references of every sequence frame of a split, for evaluation "
                                          "(bench temporal reads them in place of the targets; resumable)")
    r.add_argument("out", type=Path)
    r.add_argument("--split", required=True)
    r.add_argument("--spp", type=int, default=1024, help="samples, adaptive sampling off (default: %(default)s)")
    r.add_argument("--threads", type=int, default=0, help="Cycles threads (0: all cores)")
    r.add_argument("--meshes", type=Path, default=None,
                   help="the mesh library the dataset was built with (default: ../shared/assets/meshes)")
    r.add_argument("--quiet", action="store_true", help="no progress lines")
    s = sub.add_parser("stats", help="scenes, disk and render time per split; writes stats.json")
    s.add_argument("out", type=Path)
    c = sub.add_parser("sheet", help="write a contact-sheet PNG of a split's first scenes")
    c.add_argument("out", type=Path)
    c.add_argument("--split", default="train")
    c.add_argument("--count", type=int, default=8)
    c.add_argument("--per-family", action="store_true", help="one row per scene family (its first scene)")
    c.add_argument("--out-png", type=Path, default=None, help="where to write the PNG (default: in the dataset folder)")
    c.add_argument("--cell", type=int, default=128, help="tile size in pixels")
    return p


def parse_families(text: str) -> tuple[tuple[str, float], ...]:
    """``'interior=2,glass=1'`` or ``'hair'`` -> ((name, weight), ...), names checked."""
    from .scenes.families import FAMILIES

    pairs = []
    for item in text.split(","):
        name, _, weight = item.strip().partition("=")
        FAMILIES.get(name)
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise DataError(f"--families: weight of {name!r} is not a number: {weight!r}") from None
        if not value >= 0:
            raise DataError(f"--families: weight of {name!r} must be >= 0, got {weight!r}")
        pairs.append((name, value))
    if not any(w > 0 for _, w in pairs):
        raise DataError("--families: give at least one family a weight > 0")
    return tuple(sorted(pairs))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "build":
            mesh_dir = (None if args.meshes == "none" else Path(args.meshes) if args.meshes
                        else paths.default_mesh_dir())
            config = render.preset(args.preset, threads=args.threads)
            if args.families:
                config = render.preset(args.preset, threads=args.threads, families=parse_families(args.families))
            summary = build(args.out, args.split, args.count, args.start, config, mesh_dir,
                            progress=not args.quiet and sys.stderr.isatty(), scheduler=args.scheduler,
                            retries=args.retries)
            print(json.dumps(summary))
        elif args.command == "blender-oidn":
            print(json.dumps(blender_oidn(args.out, args.split, progress=not args.quiet)))
        elif args.command == "references":
            print(json.dumps(references(args.out, args.split, args.spp, args.threads, args.meshes,
                                        progress=not args.quiet)))
        elif args.command == "stats":
            print(json.dumps(stats(args.out), indent=1))
        elif args.command == "sheet":
            print(contact_sheet(args.out, args.split, 100 if args.per_family and args.count == 8 else args.count,
                                path=args.out_png, cell=args.cell, per_family=args.per_family))
    except cluster.TasksFailed as exc:  # the other scenes are done: the summary, then what failed and why
        print(json.dumps(exc.summary))
        print(exc.report("postpass-data"), file=sys.stderr)
        return cluster.EXIT_FAILED
    except (DataError, SceneError, splits.SplitError, ValueError) as exc:
        print(f"postpass-data: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # the main of the module imported by its name, so Dask sends its tasks (render_seed) to workers by name
    # (ml_core.data.render_seed) rather than as copies of this __main__ module's functions
    from ml_core.data import main as _main

    sys.exit(_main())
