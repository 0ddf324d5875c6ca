"""Guide renders of the authored animations (issue 28): each frame's Denoising Albedo / Normal / Depth and Vector
passes as the farm's guide render gives them (``addon.guide_render``), beside the frame's reference.

    python -m ml_core.authored guides --out ~/.cache/postpass/authored [--only NAME ...] [--spp 1]

For every complete animated scene folder (``OUT/anim_*/manifest.json``) it renders the missing
``frame_000K_guides.exr`` (K = 1..frames) at the folder's size (its manifest's width and height, the size of its
references), the scene built and set up as ``build`` renders it (the set's integrator and the scene's own
light-path settings), then ``addon.guide_render.apply_guide_settings``: ``spp`` samples (default
``addon.guide_render.DEFAULT_SAMPLES``), diffuse and volume bounces 0, Denoising Data and Vector passes, 32-bit
multilayer EXR. Each file has its own deterministic sampling seed (``build.sampling_seed(name, file name)``), is
written atomically (temporary name, fsync, rename), and a file already there is skipped, so a rerun resumes.
``OUT/<name>/guides.json`` records the settings and the seconds per file, written last; a rerun with another
``spp`` into a folder whose guides were made at other samples is refused (the file names do not say the spp).
The scene's own files (references, noisy renders, manifest) are never touched. Scenes without a complete folder
are listed as missing (build them first). bpy is imported here: run it in a process that has not loaded torch
or OpenEXR.
"""
from __future__ import annotations

import json
from pathlib import Path

from addon import guide_render

from .. import blender, render
from .build import MANIFEST, AuthoredError, build_scene, each_built, sampling_seed, select, setup

GUIDES_FILE = "guides.json"
PATTERN = "frame_####_guides.exr"


def guide_name(frame: int) -> str:
    """The guide file of ``frame`` in a scene folder: ``frame_000K_guides.exr``."""
    return guide_render.guide_path(PATTERN, frame).name


def render_scene_guides(entry, folder: Path, spp: int = guide_render.DEFAULT_SAMPLES, threads: int = 0,
                        log=None) -> dict:
    """Render the missing guide frames of the animated scene ``entry`` into its complete folder ``folder``;
    returns {"name", "rendered", "skipped", "seconds"}."""
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    record_path = folder / GUIDES_FILE
    record = json.loads(record_path.read_text()) if record_path.exists() else None
    if record and record.get("spp") != spp:
        raise AuthoredError(f"{folder}: its guides were rendered at {record.get('spp')} spp, not {spp}; "
                            f"delete frame_*_guides.exr and {GUIDES_FILE} to render them again")
    frames = list(range(1, entry.frames + 1))
    names = {f: guide_name(f) for f in frames}
    todo = [f for f in frames if not guide_render.is_guide_file(folder / names[f])]
    files = dict((record or {}).get("files", {}))
    if todo:
        bpy = blender.import_bpy()
        scene = build_scene(entry)
        width, height = manifest["width"], manifest["height"]
        setup(scene, entry, width, threads)
        scene.render.resolution_x, scene.render.resolution_y = width, height
        for frame in todo:  # one call per frame: each file its own seed
            seed = sampling_seed(entry.name, names[frame])
            with blender.quiet_stdout():
                result = guide_render.render_guide_frames(scene, [frame], folder / PATTERN, samples=spp, seed=seed,
                                                          bpy=bpy)
            for path, seconds in result["seconds"].items():
                files[Path(path).name] = {"frame": frame, "seed": seed, "seconds": seconds}
                if log:
                    log(f"{entry.name}: {Path(path).name} in {seconds:.2f} s")
        settings = result["settings"]
    else:
        settings = (record or {}).get("changed", {})
    if todo or record is None:
        render.write_json(record_path, {
            "name": entry.name, "spp": spp, "width": manifest["width"], "height": manifest["height"],
            "passes": list(guide_render.GUIDE_PASSES), "guide_bounces": guide_render.GUIDE_BOUNCES,
            "changed": settings, "files": {n: files.get(n) for n in names.values()},
            "render_seconds": round(sum((f or {}).get("seconds") or 0.0 for f in files.values()), 3)})
    return {"name": entry.name, "rendered": len(todo), "skipped": len(frames) - len(todo),
            "seconds": round(sum(files[names[f]]["seconds"] for f in todo), 3)}


def render_guides(out: Path, only: list[str] | None = None, spp: int = guide_render.DEFAULT_SAMPLES,
                  threads: int = 0, log=None) -> dict:
    """Guide frames of every animated scene of ``only`` (all animated scenes without) whose folder in ``out`` is
    complete. Returns {"out", "spp", "scenes": [render_scene_guides' results], "missing": [names]}."""
    if spp < 1:
        raise AuthoredError(f"--spp must be >= 1, got {spp}")
    entries = [e for e in select(only) if e.animated]
    if only and not entries:
        raise AuthoredError(f"no animated scene among {only}: only animations get guide frames")
    return each_built(Path(out).expanduser().absolute(), entries, spp,
                      lambda entry, folder: render_scene_guides(entry, folder, spp, threads, log))
