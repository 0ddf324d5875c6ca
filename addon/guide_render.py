"""Guide renders: the cheap passes a skipped frame is inbetweened from (issue 28).

A farm renders every Nth frame in full and the frames between as *guide renders*: Cycles' Denoising Data passes
(Denoising Albedo, Normal, Depth) and the Vector pass at a few samples, in a multilayer EXR with Blender's pass
names. The inbetween model was trained on these passes as ordinary low-sample renders (1 and 4 spp, the shot's
own light-path settings) give them, so a guide render changes only what leaves those passes as they are:

* the samples (``DEFAULT_SAMPLES``), adaptive sampling off, Cycles' denoising off, motion blur off (with it
  Cycles writes zero vectors), compositing and sequencer off (the file holds the raw passes);
* ``diffuse_bounces`` and ``volume_bounces`` 0 (``GUIDE_BOUNCES``): Cycles writes the denoising features at the
  first hit that is not (mostly) specular and only follows glossy, glass and transparent bounces to find it, so
  a diffuse or volume bounce never changes them; those bounces only light the Combined pass, which a guide does
  not need. Glossy, transmission and transparent bounces are kept: the albedo and normal seen through glass
  and in mirrors come from them. Measured (same seed and samples, 160 px, frame 3 of anim_room_lamp and
  anim_turntable, glass_caustics, liquid_glass at 1 and 4 spp): with ``GUIDE_BOUNCES`` every pass is
  bit-identical to the shot's own bounces (mean abs difference 0) and the render 0-50% faster (room 4 spp:
  0.57 s vs 1.05 s); with *every* bounce 0 Vector stays the same but Denoising Albedo / Normal / Depth change
  on 4-15% of the pixels (glass, chrome: mean abs 0.016-0.064), so bounces are not zeroed. Hiding lights from
  diffuse rays (less next-event estimation) left the passes equal but saved nothing measurable; not done;
* the Denoising Data and Vector passes on every rendered view layer, multilayer EXR at 32-bit float (vectors
  and depth keep their precision), ZIP.

This module runs inside Blender (the add-on, ``blender -b``, or the ``bpy`` module): it takes bpy objects as
arguments and imports ``bpy`` only inside :func:`render_guides`. It never imports ml_core or torch.

    changed = apply_guide_settings(scene, samples=1)    # the scene becomes a guide render (old values back)
    restore_settings(scene, changed)                    # ... and back
    render_guide_frames(scene, [2, 4, 6], "/out/guides.####.exr")        # the current scene, frames listed
    render_guides("/shots/shot.blend", [2, 4, 6], "/out/guides.####.exr")  # open a saved .blend, then the same

Files are written atomically (a temporary name beside the file, fsync, rename), existing complete guide files
are skipped (a rerun resumes), and nothing else is ever overwritten: a path that holds another file, or the
.blend itself, raises :class:`GuideError`.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from .runtime.files import atomic_output

#: The passes a guide render gives (Blender's names, as the multilayer EXR holds them).
GUIDE_PASSES = ("Denoising Albedo", "Denoising Normal", "Denoising Depth", "Vector")
#: Samples per pixel of a guide render. 4: what the made frames gain from cleaner guides is worth far more than
#: their cost (``python -m bench inbetween_guided``, authored animations, every other frame, the hand-made blend:
#: 1 / 4 / 16-spp guides +2.0 / +3.6 / +4.2 dB over the vector-pass warp), while a 4-spp guide costs 8.0-8.6 s
#: at 960x540 (1 spp: 2.4-2.8 s; ``python -m bench guide_cost``), 0.15-0.22 of a 16-spp key frame and under
#: 0.05 of a 64-spp one.
DEFAULT_SAMPLES = 4
#: Light-path settings a guide render lowers: bounces that never change the guide passes (they only light Combined).
GUIDE_BOUNCES = {"diffuse_bounces": 0, "volume_bounces": 0}
#: File name pattern of guide frames: ``#`` runs are the zero-padded frame number.
GUIDE_PATTERN = "guides.####.exr"
#: An OpenEXR file starts with these 4 bytes.
EXR_MAGIC = b"\x76\x2f\x31\x01"


class GuideError(RuntimeError):
    """A guide render that cannot be made as asked (a path that holds another file, no camera, ...)."""


def apply_guide_settings(scene, samples: int = DEFAULT_SAMPLES, reduce_bounces: bool = True) -> dict:
    """Turn ``scene``'s Cycles settings into a guide render, in place: ``samples`` samples, adaptive sampling,
    denoising, motion blur, compositing and sequencer off, the Denoising Data and Vector passes on every rendered
    view layer, multilayer 32-bit EXR output, and (``reduce_bounces``) :data:`GUIDE_BOUNCES`. The render engine
    becomes Cycles. Returns what it changed, {setting: old value} in the order it changed them, for
    :func:`restore_settings`; settings already right are left out."""
    if samples < 1:
        raise GuideError(f"a guide render needs at least 1 sample, got {samples}")
    changed: dict = {}

    def put(owner, key: str, attr: str, value) -> None:
        old = getattr(owner, attr)
        if old != value:
            changed[key] = old
            setattr(owner, attr, value)

    render, cy = scene.render, scene.cycles
    put(render, "render.engine", "engine", "CYCLES")
    put(cy, "cycles.samples", "samples", int(samples))
    put(cy, "cycles.use_adaptive_sampling", "use_adaptive_sampling", False)
    put(cy, "cycles.use_denoising", "use_denoising", False)
    put(render, "render.use_motion_blur", "use_motion_blur", False)
    put(render, "render.use_compositing", "use_compositing", False)
    put(render, "render.use_sequencer", "use_sequencer", False)
    if reduce_bounces:
        for attr, value in GUIDE_BOUNCES.items():
            put(cy, f"cycles.{attr}", attr, value)
    for vl in scene.view_layers:
        if not vl.use:
            continue
        put(vl, f"view_layers/{vl.name}/use_pass_vector", "use_pass_vector", True)
        put(vl.cycles, f"view_layers/{vl.name}/cycles.denoising_store_passes", "denoising_store_passes", True)
    img = render.image_settings
    # The format, depth and codec follow the media type: all recorded before it changes, restored after it.
    wanted = {"media_type": "MULTI_LAYER_IMAGE", "file_format": "OPEN_EXR_MULTILAYER", "color_depth": "32",
              "exr_codec": "ZIP"}
    old = {attr: getattr(img, attr) for attr in wanted}
    if old != wanted:
        changed.update({f"render.image_settings.{attr}": value for attr, value in old.items()})
        img.media_type = "MULTI_LAYER_IMAGE"
        img.color_depth, img.exr_codec = "32", "ZIP"
    return changed


def restore_settings(scene, changed: dict) -> None:
    """Put back what :func:`apply_guide_settings` changed (its returned dict), in the order it changed them (the
    image format before its depth and codec). A value the scene no longer takes is skipped."""
    for key, value in changed.items():
        owner, attr = _resolve(scene, key)
        try:
            setattr(owner, attr, value)
        except (TypeError, ValueError, AttributeError):
            pass  # e.g. a colour depth the restored format offers no more


def _resolve(scene, key: str):
    """(owner, attribute) of a key of :func:`apply_guide_settings`' dict."""
    owner = scene
    if key.startswith("view_layers/"):
        _, name, key = key.split("/", 2)
        owner = scene.view_layers[name]
    *path, attr = key.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, attr


def guide_path(pattern: str | os.PathLike, frame: int) -> Path:
    """The file of ``frame`` in ``pattern``: its last run of ``#`` replaced by the zero-padded frame number
    (``guides.####.exr`` -> ``guides.0007.exr``). A pattern without ``#`` raises."""
    text = str(pattern)
    runs = list(re.finditer(r"#+", os.path.basename(text)))
    if not runs:
        raise GuideError(f"{text}: a guide file pattern needs a run of '#' for the frame number")
    run = runs[-1]
    start = len(text) - len(os.path.basename(text)) + run.start()
    width = run.end() - run.start()
    sign = "-" if frame < 0 else ""
    return Path(text[:start] + sign + f"{abs(frame):0{width}d}" + text[start + width:])


def is_guide_file(path: str | os.PathLike, passes=GUIDE_PASSES) -> bool:
    """Whether ``path`` is a complete guide EXR: an OpenEXR file whose header names every pass of ``passes``.
    Files are only ever renamed into place whole, so this tells a finished guide from any other file."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)  # multi-part headers (one part per pass) come first
    except OSError:
        return False
    return head.startswith(EXR_MAGIC) and all(p.encode() in head for p in passes)


def render_guide_frames(scene, frames, pattern: str | os.PathLike = GUIDE_PATTERN, *,
                        samples: int = DEFAULT_SAMPLES, seed: int | None = None, reduce_bounces: bool = True,
                        protect=(), bpy=None, log=None) -> dict:
    """Render ``scene``'s guide frames ``frames`` to ``pattern`` (see :func:`guide_path`; a relative pattern is
    relative to the working folder), one multilayer EXR per frame, atomically; complete guide files already
    there are skipped (a rerun resumes). A path that holds any other file, or one of ``protect`` (the .blend,
    the inputs), raises :class:`GuideError` before anything renders. ``seed``: Cycles' sampling seed (None: the
    scene's own, animated or not as the scene says). The scene's settings are restored afterwards, and its
    current frame. ``log(message)`` is called once per rendered file, in frame order, as
    ``"guide frame N: PATH in S.SS s"`` (``addon/cli/render_guides.py`` parses it: keep the format). Returns {"rendered": [paths], "skipped": [paths],
    "seconds": {path: render seconds}, "settings": what :func:`apply_guide_settings` changed, "samples"}."""
    if bpy is None:
        import bpy
    if scene.camera is None:
        raise GuideError(f"scene {scene.name!r} has no camera")
    frames = [int(f) for f in frames]
    paths = {f: Path(guide_path(pattern, f)).absolute() for f in frames}
    guarded = {os.path.realpath(p) for p in protect}
    todo = {}
    for frame, path in paths.items():
        if os.path.realpath(path) in guarded:
            raise GuideError(f"{path}: is an input of this render; guide files never overwrite one")
        if path.suffix.lower() != ".exr":
            raise GuideError(f"{path}: guide files are multilayer EXRs; give a pattern ending in .exr")
        if os.path.lexists(path) and not is_guide_file(path):
            raise GuideError(f"{path}: exists and is not a guide render; not overwriting it")
    for frame, path in paths.items():
        if not os.path.lexists(path):
            todo[frame] = path
    result = {"rendered": [], "skipped": [str(p) for f, p in paths.items() if f not in todo], "seconds": {},
              "samples": samples, "settings": {}}
    if not todo:
        return result
    saved = (scene.frame_current, scene.cycles.seed, scene.render.filepath, scene.render.use_file_extension)
    changed = apply_guide_settings(scene, samples, reduce_bounces)
    result["settings"] = {k: _plain(v) for k, v in changed.items()}
    try:
        if seed is not None:
            scene.cycles.seed = int(seed)
        scene.render.use_file_extension = False  # the temporary name is used as given
        for frame, path in todo.items():
            scene.frame_set(frame)
            with atomic_output(path) as tmp:
                scene.render.filepath = str(tmp)
                start = time.perf_counter()
                bpy.ops.render.render(write_still=True, scene=scene.name)
                seconds = time.perf_counter() - start
                if not os.path.exists(tmp):
                    raise GuideError(f"{path}: Blender wrote no file for frame {frame}")
            result["rendered"].append(str(path))
            result["seconds"][str(path)] = round(seconds, 3)
            if log:
                log(f"guide frame {frame}: {path} in {seconds:.2f} s")
    finally:
        restore_settings(scene, changed)
        scene.cycles.seed = saved[1]
        scene.render.filepath, scene.render.use_file_extension = saved[2], saved[3]
        scene.frame_set(saved[0])
    return result


def render_guides(blend: str | os.PathLike, frames, pattern: str | os.PathLike | None = None, *,
                  scene: str | None = None, samples: int = DEFAULT_SAMPLES, seed: int | None = None,
                  reduce_bounces: bool = True, log=None) -> dict:
    """Open the saved ``blend`` (replacing the current file: run it in a background Blender, ``blender -b`` or
    the ``bpy`` module, never in the user's session) and :func:`render_guide_frames` of its scene ``scene``
    (None: the file's active scene) for ``frames`` to ``pattern`` (None: ``guides/guides.####.exr`` beside the
    .blend). The .blend is never saved or overwritten. Returns render_guide_frames' result with "blend" and
    "scene"."""
    import bpy

    blend = Path(blend).expanduser().absolute()
    if not blend.is_file():
        raise GuideError(f"{blend}: no such .blend")
    if pattern is None:
        pattern = blend.parent / "guides" / GUIDE_PATTERN
    bpy.ops.wm.open_mainfile(filepath=str(blend), load_ui=False)
    if scene is None:
        target = bpy.context.scene
    elif scene in bpy.data.scenes:
        target = bpy.data.scenes[scene]
    else:
        raise GuideError(f"{blend}: has no scene {scene!r} (it has {sorted(s.name for s in bpy.data.scenes)})")
    result = render_guide_frames(target, frames, Path(pattern).expanduser(), samples=samples, seed=seed,
                                 reduce_bounces=reduce_bounces, protect=(blend,), bpy=bpy, log=log)
    return {"blend": str(blend), "scene": target.name, **result}


def _plain(value):
    """A setting's old value as JSON stores it."""
    return value if isinstance(value, (bool, int, float, str, type(None))) else str(value)
