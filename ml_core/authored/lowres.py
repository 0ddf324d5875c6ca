"""Low-resolution renders of the authored stills (issue 25): the up-res benchmark's deployment case, the same
camera rendered at 1/2 and 1/4 size, beside the full-size reference.

    python -m ml_core.authored lowres --out ~/.cache/postpass/authored [--only NAME ...] [--spp N]

For every complete scene folder (``OUT/<name>/manifest.json``) it renders the missing ``lowres_x2.exr`` and
``lowres_x4.exr`` of the still frame at the folder's size divided by the scale, the scene built and set up as
``build`` renders it (the set's integrator and the scene's own light-path settings), ``spp`` samples without
adaptive sampling (default: the set's reference samples, as ``reference.exr``). Each file has its own
deterministic seed (``build.sampling_seed``), is written atomically, and a file already there is skipped, so a
rerun resumes. ``OUT/<name>/lowres.json`` records the samples and seconds; a rerun at other samples is refused.
The scene's own files are never touched. bpy is imported here: run it in a process that has not loaded torch or
OpenEXR.
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import blender, render
from .build import MANIFEST, SET_FILE, AuthoredError, build_scene, each_built, sampling_seed, select, setup

LOWRES_FILE = "lowres.json"
SCALES = (2, 4)


def lowres_name(scale: int) -> str:
    return f"lowres_x{scale}.exr"


def render_scene_lowres(entry, folder: Path, spp: int, threads: int = 0, log=None) -> dict:
    """Render the missing low-res stills of ``entry`` into its complete folder; {"name", "rendered", "seconds"}."""
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    record_path = folder / LOWRES_FILE
    record = json.loads(record_path.read_text()) if record_path.exists() else {"spp": spp, "files": {}}
    if record["spp"] != spp:
        raise AuthoredError(f"{folder}: its low-res renders were made at {record['spp']} spp, not {spp}; "
                            f"delete lowres_x*.exr and {LOWRES_FILE} to render them again")
    todo = [s for s in SCALES if not (folder / lowres_name(s)).is_file()]
    if not todo:
        return {"name": entry.name, "rendered": 0, "seconds": 0.0}
    bpy = blender.import_bpy()
    scene = build_scene(entry)
    size = manifest["width"]
    config = setup(scene, entry, size, threads)
    seconds = 0.0
    for scale in todo:
        if size % scale:
            raise AuthoredError(f"{folder}: its size {size} is not a multiple of {scale}")
        name = lowres_name(scale)
        seed = sampling_seed(entry.name, name)
        took = render.render_still(bpy, scene, folder / name, spp=spp, seed=seed, scale=scale,
                                   frame=entry.still_frame, config=config)
        record["files"][name] = {"scale": scale, "seed": seed, "seconds": round(took, 3)}
        seconds += took
        if log:
            log(f"{entry.name}: {name} in {took:.1f} s")
        render.write_json(record_path, record)
    return {"name": entry.name, "rendered": len(todo), "seconds": round(seconds, 3)}


def render_lowres(out: Path, only: list[str] | None = None, spp: int | None = None, threads: int = 0,
                  log=None) -> dict:
    """Low-res stills of every scene of ``only`` (all without) whose folder in ``out`` is complete. Returns
    {"out", "spp", "scenes": [render_scene_lowres' results], "missing": [names]}."""
    out = Path(out).expanduser().absolute()
    if spp is None:
        set_file = out / SET_FILE
        if not set_file.is_file():
            raise AuthoredError(f"{out}: no {SET_FILE} (build the set first)")
        spp = json.loads(set_file.read_text())["settings"]["reference_spp"]
    if spp < 1:
        raise AuthoredError(f"--spp must be >= 1, got {spp}")
    return each_built(out, select(only), spp,
                      lambda entry, folder: render_scene_lowres(entry, folder, spp, threads, log))
