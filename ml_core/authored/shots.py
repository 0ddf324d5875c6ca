"""Authored scenes saved as shots: the ``.blend`` file an artist would hand over, one per scene.

    python -m ml_core.authored shots --out DIR [--only NAME ...] [--spp 4] [--size 256] [--anim-size 0]

``DIR/<name>.blend`` is the scene exactly as the evaluation set renders it (``build.build_scene`` and
``build.setup``): Cycles on the CPU, the scene's camera, lights, materials, animation and frame range (frame
1..N, the current frame its still frame), its render size (the set's: ``--size`` for a still, ``--anim-size``
for an animation, by default 5/8 of ``--size`` as ``build`` renders them), the set's integrator settings and
the scene's own Cycles settings, adaptive sampling off (as the set's noisy files), ``cycles.samples`` =
``--spp`` (the shot's sample count), Cycles' denoising off, the Denoising Data passes on, and multilayer EXR
output beside the file (``//render/<name>.####.exr``). Its sampling seed is the shot's own
(``sampling_seed(name, "shot.blend")``), none of the set's files' seeds: rendering the shot as saved never
repeats the noise of the set's ``noisy_spp*.exr``.

Each file is written by ``bpy.ops.wm.save_as_mainfile(copy=True)`` to a temporary name beside it and renamed
(``addon.runtime.files.atomic_output``), so a killed run never leaves half a ``.blend``; existing shots are
kept (``overwrite`` rewrites them). This is what ``python -m bench finetune`` fine-tunes on
(``export.finetune``). bpy is imported here: run it in a process that has not loaded torch or OpenEXR.
"""
from __future__ import annotations

import time
from pathlib import Path

from addon.runtime.files import atomic_output

from .. import blender
from .base import AuthoredScene
from .build import AuthoredError, Settings, build_scene, sampling_seed, select, setup

#: the product name the shot's own sampling seed is drawn from (the set's files use their file names)
SEED_KEY = "shot.blend"


def shot_size(entry: AuthoredScene, size: int = 256, anim_size: int = 0) -> int:
    """The render size of ``entry``'s shot: the set's size for it (``Settings.scene_size``)."""
    return Settings(size=size, anim_size=anim_size).scene_size(entry)


def save_shot(entry: AuthoredScene, path: Path, size: int, spp: int = 4) -> dict:
    """Build ``entry`` as the set renders it at ``size`` px with ``spp`` samples and save it to ``path``
    (atomically). Returns what was saved: name, path, size, spp, seed, frames, still frame, seconds."""
    if size < 8 or spp < 1:
        raise AuthoredError(f"a shot needs a size >= 8 and spp >= 1, got size {size}, spp {spp}")
    bpy = blender.import_bpy()
    start = time.perf_counter()
    scene = build_scene(entry)  # frame range 1..frames, the still frame current, a camera checked
    setup(scene, entry, size)  # the set's Cycles setup (threads: Blender's automatic), then the scene's own
    cy = scene.cycles
    cy.samples = spp
    cy.seed = sampling_seed(entry.name, SEED_KEY)
    cy.use_adaptive_sampling = False  # the set's noisy renders sample every pixel spp times
    cy.use_denoising = False
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.filepath = f"//render/{entry.name}.####.exr"  # use_file_extension is off: the name as given
    path = Path(path).expanduser().absolute()
    with atomic_output(path) as tmp:
        with blender.quiet_stdout():  # "Info: Saved ..."
            result = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, check_existing=False)
        if "FINISHED" not in result:
            raise AuthoredError(f"{path}: Blender did not save the shot ({sorted(result)})")
    return {"name": entry.name, "path": str(path), "size": [size, size], "spp": spp, "seed": cy.seed,
            "frames": [scene.frame_start, scene.frame_end], "frame": scene.frame_current,
            "seconds": round(time.perf_counter() - start, 3)}


def save_shots(out: Path, only: list[str] | None = None, spp: int = 4, size: int = 256, anim_size: int = 0,
               overwrite: bool = False, log=None) -> dict:
    """Save each scene of ``only`` (every one without) as ``out/<name>.blend``; shots already there are kept
    unless ``overwrite``. Returns {"out", "spp", "saved": [save_shot's records], "kept": [names]}."""
    entries = select(only)  # unknown names fail before anything is written
    if size < 8 or spp < 1 or anim_size < 0:
        raise AuthoredError("--size must be >= 8, --anim-size >= 0 and --spp >= 1")
    out = Path(out).expanduser().absolute()
    saved, kept = [], []
    for entry in entries:
        path = out / f"{entry.name}.blend"
        if path.is_file() and not overwrite:
            kept.append(entry.name)
            continue
        saved.append(save_shot(entry, path, shot_size(entry, size, anim_size), spp))
        if log:
            log(f"{entry.name}: {path} ({saved[-1]['size'][0]} px, {spp} spp) in {saved[-1]['seconds']:.1f} s")
    return {"out": str(out), "spp": spp, "saved": saved, "kept": kept}
