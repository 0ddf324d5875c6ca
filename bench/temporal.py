"""Temporal denoise benchmark (issue 26): every denoiser on animated sequences, per-frame quality and flicker.

    python -m bench temporal --spp 4 16 --out out/bench_temporal
    python -m bench temporal --models /tmp/temporal_models --docs     # a models folder; the plot into docs/

Sets, side by side in one run: the temporal dataset's test split (``--data``, default
``CACHE/data_temporal``, ``--split --count``: sequences ``seq_0001_spp0004.exr`` ... with a reference per frame
``seq_0001_target.exr``, ``ml_core.render.sequence_name``) and the authored evaluation set's animated scenes
(``--authored DIR``, default ``CACHE/authored`` when it exists, ``--no-authored``: ``frame_0001_spp0004.exr``
... ``frame_0001_reference.exr``; the stills are skipped). A sequence is frames 1..F with every ``--spp`` level
and a reference; scenes without them are skipped with a note. Each frame has its own sampling seed (the noise
changes every frame, as in an animation render).

Methods, on the same inputs: the noisy frames; Blender's OIDN per frame (compositor Denoise node, Accurate
prefilter, High, albedo + normal: ``bench.peers.BlenderOIDN``); pyoidn per frame (High) when installed; the
3-frame vector-warped median (the Super Image Denoiser's temporal method): per pixel and channel the median of
Blender-OIDN frames f - 1, f, f + 1, the neighbours warped onto frame f along frame f's Vector pass
(``ml_core.flow``); at the first and last frame, where a neighbour is missing, the frame's own OIDN output (the
median of it, itself and the one neighbour); every Postpass per-frame denoiser of the registry that takes colour,
albedo and normal, and every temporal one (a denoise model with a ``vector`` input, e.g.
``denoise_kpn_temporal``: frame f's passes, the neighbours' colour / albedo / normal, frames f - 2 .. f + 2
for a model of such windows, the missing neighbours absent at the ends), both through ``addon.runtime``'s API
(``--models DIR``; default the shipped models; a registry without a temporal model reports it missing). The median reuses the Blender-OIDN outputs of the same
run, so its seconds are its own overhead (warps and median) on top of one OIDN pass per frame.

Metrics, per frame against that frame's reference, averaged over every frame of every sequence: the protocol's
tone-mapped PSNR / SSIM (``ml_core.metrics.render_metrics``) and mean HDR-FLIP (``bench.metrics.hdr_flip``,
lower is better); and the temporal error (:func:`temporal_error`, lower is better): the mean absolute
difference between the output's frame-to-frame change along the motion and the reference's,
``|(out_t - warp(out_t-1)) - (ref_t - warp(ref_t-1))|``, tone-mapped at ``ref_t``'s exposure, ``warp``
moving frame t - 1 onto frame t along frame t's Vector pass (the reference render's; backward flow), averaged
over pixels, frame pairs and sequences; beside it each method's temporal error relative to Blender OIDN's, as the
ratio of the means and as the median over sequences of each sequence's ratio (one sequence with a large error
moves the first, not the second). A reference has its own noise, new in every frame, which no method
reproduces: :func:`reference_floor` estimates the share of every method's temporal error it makes (the report
names the sequences where it is over half of OIDN's, needs pyoidn). So a split scene with longer references
(``python -m ml_core.data references DATA --split test --spp 1024``: ``<scene>/references/``, every frame) is
scored against them in place of the preset's targets (the note on the set says for how many); the authored
animations' per-frame references are 1536 spp. The
issue's targets: on the authored set at 4 spp, PSNR at least Blender OIDN's and temporal error at most 0.7x
its; at most 1.5x the per-frame model's time.

Time: seconds per megapixel in the run, and seconds for one 1920x1080 frame (best of ``--hd-repeats``, methods
taking turns: ``bench.core.best_of``; a real frame, its passes and its neighbours resized up, the vectors scaled
with them) of our per-frame and temporal models, pyoidn, and the median's own overhead.

Writes ``temporal.json`` and ``temporal.md`` (a table per spp with every set, ours - Blender OIDN per set and
the gap between the sets, per-family tables where families are known, time), ``temporal_frames.png`` (per-frame
PSNR and temporal error over the frames for every method, on the authored set, else the split) and a crops grid
per set (``temporal_crops*.png``: the middle frame and its temporal error map); ``--docs`` also writes the plot
to ``docs/temporal_error.png``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from addon.runtime.contract import BLENDER_DENOISED_PASS
from ml_core import paths, render
from ml_core.data import BLENDER_OIDN_DIR, REFERENCES_DIR, REFERENCES_FILE
from ml_core.flow import backward_flow, forward_flow, sample
from ml_core.figures import save_figure
from ml_core.metrics import render_metrics

from . import core, peers
from . import metrics as bench_metrics
from .core import BENCHMARKS, Benchmark

#: the peer "ours" is measured against (and the temporal error relative to)
PEER = "blender-oidn (accurate, high)"
PYOIDN = "pyoidn (high)"
MEDIAN = "warped median (3 blender-oidn frames)"
#: the temporal model's name in the table when the registry has none
TEMPORAL_DEFAULT = "postpass denoise_kpn_temporal"
#: per-frame metrics (their sequence means under these keys; the per-frame values under KEY + "_frames")
FRAME_KEYS = ("psnr", "ssim", "flip")
KEYS = (*FRAME_KEYS, "temporal")
#: issue 26's targets: the temporal model's temporal error at most this times Blender OIDN's; time per frame at
#: most this times the per-frame model's
TEMPORAL_TARGET, TIME_TARGET = 0.7, 1.5
#: sequences per set in the crops grid
GRID_SEQUENCES = 4
#: the temporal error maps in the crops grid, amplified this much
ERROR_GAIN = 8.0
DOCS_PLOT = paths.REPO_ROOT / "docs" / "temporal_error.png"


# ----------------------------------------------------------------------------------------------------------
# Sequences: file layouts, sets
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """How a set names a sequence's files: ``noisy(frame, spp)`` and ``reference(frame)``."""
    noisy: Callable[[int, int], str]
    reference: Callable[[int], str]

    def frames(self, scene: Path, spp: tuple[int, ...]) -> int:
        """Frames 1..F of ``scene`` that hold every level of ``spp`` and a reference (F; 0 when frame 1 lacks
        one, and F stops at the first frame that lacks one)."""
        count = 0
        while all((scene / name).is_file() for name in
                  (self.reference(count + 1), *(self.noisy(count + 1, s) for s in spp))):
            count += 1
        return count


SPLIT_LAYOUT = Layout(lambda f, s: render.sequence_name(f, s), lambda f: render.sequence_name(f))
AUTHORED_LAYOUT = Layout(lambda f, s: f"frame_{f:04d}_spp{s:04d}.exr", lambda f: f"frame_{f:04d}_reference.exr")


@dataclass
class SequenceSet:
    """A :class:`bench.core.SceneSet` of sequences, its file layout and each scene's frame count."""
    scenes: core.SceneSet
    layout: Layout
    frames: list[int]


def _sequences(scene_set: core.SceneSet, layout: Layout, spp: tuple[int, ...],
               count: int | None = None) -> SequenceSet:
    """The first ``count`` scenes of ``scene_set`` with 2+ frames at every level of ``spp`` (the others listed in
    its ``skipped``)."""
    kept, frames, skipped = [], [], list(scene_set.skipped)
    for scene in scene_set.scenes:
        n = layout.frames(scene, spp)
        if n < 2:
            skipped.append(f"{scene.name}: no sequence of 2+ frames at {', '.join(map(str, spp))} spp with references")
        elif count is None or len(kept) < count:
            kept.append(scene)
            frames.append(n)
    found = core.SceneSet(scene_set.name, scene_set.root, kept, layout.reference(1), skipped=skipped)
    return SequenceSet(found, layout, frames)


def split_sequences(root: Path, split: str, count: int | None, spp: tuple[int, ...]) -> tuple[SequenceSet | None, str]:
    """The first ``count`` complete sequences of the temporal dataset's ``split`` and a note on them (None, with
    the note, when there are none)."""
    try:
        found = _sequences(core.split_set(root, split), SPLIT_LAYOUT, spp, count)
    except ValueError as exc:
        return None, f"{split} split: {exc}"
    if not found.scenes.scenes:
        return None, f"{split} split: no sequence at {', '.join(map(str, spp))} spp under {Path(root).expanduser()}"
    note = f"{split} split: {_count(len(found.scenes.scenes), 'sequence')} under {Path(root).expanduser()}"
    longer = [spp for spp in map(longer_references, found.scenes.scenes) if spp is not None]
    if longer:
        note += (f", references: {'/'.join(map(str, sorted(set(longer))))} spp ({REFERENCES_DIR}/) for "
                 f"{len(longer)} of them, the preset's targets for the rest")
    return found, note + (f" ({len(found.scenes.skipped)} skipped)" if found.scenes.skipped else "")


def authored_sequences(option: Path | bool | None, spp: tuple[int, ...]) -> tuple[SequenceSet | None, str]:
    """The authored set's animated scenes (``core.authored_from``: the stills are skipped) and a note."""
    need = [AUTHORED_LAYOUT.reference(1), *(AUTHORED_LAYOUT.noisy(1, s) for s in spp)]
    found, note = core.authored_from(option, need, log=lambda line: None)
    if found is None:
        return None, note
    found = _sequences(found, AUTHORED_LAYOUT, spp)
    if not found.scenes.scenes:
        return None, f"authored set: no animated scene at {', '.join(map(str, spp))} spp under {found.scenes.root}"
    return found, (f"authored set: {_count(len(found.scenes.scenes), 'animated scene')} under {found.scenes.root} "
                   f"({len(found.scenes.skipped)} skipped: stills, or frames missing)")


def read_sequence(scene: Path, layout: Layout, frames: int, spp: int) -> list[dict]:
    """Frames 1..``frames`` of a sequence at ``spp``: per frame its noisy ``color``, ``albedo``, ``normal``,
    ``vector`` (the noisy render's passes: what a method is given)."""
    from addon.runtime.exr import read_exr

    out = []
    for f in range(1, frames + 1):
        exr = read_exr(scene / layout.noisy(f, spp))
        out.append({"color": exr.get("Combined")[..., :3], "albedo": exr.get("Denoising Albedo"),
                    "normal": exr.get("Denoising Normal"), "vector": exr.get("Vector")})
    return out


def longer_references(scene: Path) -> int | None:
    """The samples of the longer references ``python -m ml_core.data references`` rendered for every frame of a
    split's ``scene`` (read in place of its targets, whose noise is most of a temporal error measured against
    them), or None when it has none (or not yet all)."""
    record = scene / REFERENCES_DIR / REFERENCES_FILE
    return json.loads(record.read_text())["spp"] if record.is_file() else None


def read_references(scene: Path, layout: Layout,
                    frames: int) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    """(references, their Vector passes, their (albedo, normal)) of frames 1..``frames``: what every method is
    scored against (the guides for :func:`reference_floor`)."""
    from addon.runtime.exr import read_exr

    refs, vectors, guides = [], [], []
    folder = scene / REFERENCES_DIR if longer_references(scene) else scene
    for f in range(1, frames + 1):
        exr = read_exr(folder / layout.reference(f))
        refs.append(exr.get("Combined")[..., :3])
        vectors.append(exr.get("Vector"))
        guides.append((exr.get("Denoising Albedo"), exr.get("Denoising Normal")))
    return refs, vectors, guides


# ----------------------------------------------------------------------------------------------------------
# The temporal error and the warped median
# ----------------------------------------------------------------------------------------------------------
def temporal_errors(outputs: list[np.ndarray], references: list[np.ndarray],
                    vectors: list[np.ndarray]) -> list[float]:
    """The temporal error of each frame pair (t - 1, t), t = 2..F: the mean over pixels and channels of
    ``|(out_t - warp(out_t-1)) - (ref_t - warp(ref_t-1))|``, every image tone-mapped at ``ref_t``'s exposure
    (``addon.runtime.color.tonemap``: one scale for the pair, so a change of exposure is no flicker), ``warp``
    moving frame t - 1 onto frame t along ``vectors[t]``'s backward flow (``ml_core.flow``)."""
    return [float(np.mean(np.abs(m))) for m in temporal_error_maps(outputs, references, vectors)]


def temporal_error_maps(outputs: list[np.ndarray], references: list[np.ndarray],
                        vectors: list[np.ndarray]) -> list[np.ndarray]:
    """The signed per-pixel maps behind :func:`temporal_errors` (H x W x 3 per pair t = 2..F)."""
    from addon.runtime.color import exposure_scale, tonemap

    if not len(outputs) == len(references) == len(vectors):
        raise ValueError(f"{len(outputs)} outputs, {len(references)} references, {len(vectors)} vector passes")
    maps = []
    for t in range(1, len(outputs)):
        scale = exposure_scale(references[t])
        flow = backward_flow(vectors[t])
        out_now, out_before, ref_now, ref_before = (tonemap(x, scale) for x in (
            outputs[t], outputs[t - 1], references[t], references[t - 1]))
        maps.append((out_now - sample(out_before, flow)) - (ref_now - sample(ref_before, flow)))
    return maps


def reference_floor(references: list[np.ndarray], guides: list[tuple[np.ndarray, np.ndarray]],
                    vectors: list[np.ndarray]) -> float | None:
    """An estimate of the temporal error that the references' own noise sets for every method: the temporal error
    of the references denoised by pyoidn (High, with their own albedo and normal, ``guides``) against the
    references themselves. A reference of finite samples has its own noise, new in each frame; no method
    reproduces it, so it counts in every method's temporal error, and where it is a large share of Blender OIDN's
    (bright emitters, caustics) the ratio to OIDN mostly measures the reference. None without pyoidn."""
    if not peers.pyoidn_available():
        return None
    denoised = [peers.pyoidn_denoise(ref, albedo, normal) for ref, (albedo, normal) in zip(references, guides)]
    return float(np.mean(temporal_errors(denoised, references, vectors)))


def warped_median(before: np.ndarray | None, now: np.ndarray, after: np.ndarray | None,
                  vector: np.ndarray) -> np.ndarray:
    """The Super Image Denoiser's temporal step for frame f: per pixel and channel the median of the denoised
    frames f - 1, f, f + 1, the neighbours warped onto frame f along its ``vector`` pass (backward flow to f - 1,
    forward flow to f + 1). A missing neighbour (None) is replaced by frame f itself: the median of f, f and the
    other neighbour is f."""
    if before is None or after is None:
        return now
    prev = sample(before, backward_flow(vector))
    nxt = sample(after, forward_flow(vector))
    # the median of three: the larger of min(a, b) and min(max(a, b), c)
    return np.maximum(np.minimum(prev, now), np.minimum(np.maximum(prev, now), nxt)).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------
# Methods: each takes a sequence (frames as ``read_sequence`` gives) and the outputs of the methods that ran
# before it on that sequence, and returns one output per frame
# ----------------------------------------------------------------------------------------------------------
def per_frame_method(fn) -> Callable:
    """A sequence method of a per-frame denoiser ``fn(colour, albedo, normal)``: each frame alone."""
    return lambda frames, done: [fn(x["color"], x["albedo"], x["normal"]) for x in frames]


#: the neighbours a window gives (the widest temporal contract's, frames f - 2 .. f + 2) and their offsets
NEIGHBOUR_OFFSETS = {"prev": -1, "next": 1, "prev2": -2, "next2": 2}


def temporal_inputs(frames: list[dict], f: int) -> dict:
    """The temporal contracts' inputs for frame ``f`` (0-based) of ``frames``: its colour / albedo / normal /
    vector and its neighbours' (f - 2 .. f + 2) colour / albedo / normal, frames f - 1 and f + 1 also their
    vectors, a missing neighbour's as None (absent); Blender's denoised frames too (``blender_denoised``) where
    the frames hold them. A model takes those of its own window (:class:`TemporalMethod`)."""
    parts = ("color", "albedo", "normal", *(("blender_denoised",) if "blender_denoised" in frames[f] else ()))
    inputs = {k: frames[f][k] for k in (*parts, "vector")}
    for prefix, offset in NEIGHBOUR_OFFSETS.items():
        g = f + offset
        for k in parts + (("vector",) if abs(offset) == 1 else ()):
            inputs[f"{prefix}_{k}"] = frames[g][k] if 0 <= g < len(frames) else None
    return inputs


def _models(models_dir: Path | None) -> tuple[list[str], list[str]]:
    """(per-frame, temporal) denoise models of the registry: those taking exactly colour, albedo and normal (and
    Blender's denoised render: a correction of it), and those taking a ``vector`` input."""
    from .denoise import _fits

    entries = core.models("denoise", models_dir)
    per_frame = [e.name for e in entries if _fits(e, {"color", "albedo", "normal"})
                 or _fits(e, {"color", "albedo", "normal", "blender_denoised"})]
    temporal = [e.name for e in entries if "vector" in {i.name for i in e.contract.inputs}]
    return per_frame, temporal


def method_makers(models_dir: Path | None = None) -> tuple[dict[str, Callable], dict[str, str]]:
    """(name -> maker of a sequence method, name -> why a method is missing): every method available here in
    report order, and the temporal model when the registry has none."""
    shared: dict = {}

    def blender_oidn():
        if "oidn" not in shared:
            shared["oidn"] = peers.BlenderOIDN("Accurate", "High")
        return shared["oidn"]

    def median():
        def run(frames, done):
            base = done.get(PEER) or [blender_oidn()(x["color"], x["albedo"], x["normal"]) for x in frames]
            return [warped_median(base[f - 1] if f > 0 else None, base[f], base[f + 1] if f + 1 < len(base) else None,
                                  frames[f]["vector"]) for f in range(len(frames))]
        return run

    makers = {"noisy": lambda: lambda frames, done: [x["color"] for x in frames],
              PEER: lambda: per_frame_method(blender_oidn())}
    if peers.pyoidn_available():
        makers[PYOIDN] = lambda: per_frame_method(peers.pyoidn_denoise)
    makers[MEDIAN] = median
    per_frame, temporal = _models(models_dir)
    for name in per_frame:
        makers[f"postpass {name}"] = lambda _name=name: PerFrameModel(_name, models_dir, blender_oidn)
    for name in temporal:
        makers[f"postpass {name}"] = lambda _name=name: TemporalMethod(_name, models_dir, blender_oidn)
    missing = {}
    if not temporal:
        from addon.runtime.registry import Registry as ModelRegistry

        missing[TEMPORAL_DEFAULT] = f"missing: no temporal denoise model in {ModelRegistry(models_dir).folder}"
    return makers, missing


def with_blender_frames(frames: list[dict], done: dict, blender_oidn: Callable) -> list[dict]:
    """``frames`` each with Blender's per-frame denoised result (``blender_denoised``), as a render with Cycles'
    Denoise holds it, for a model that reads it: the frames' own where they hold it, else the peer's outputs of
    the same run (``done``), else Blender's OIDN run here."""
    if all("blender_denoised" in x for x in frames):
        return frames
    base = done.get(PEER) or [blender_oidn()(x["color"], x["albedo"], x["normal"]) for x in frames]
    return [{**x, "blender_denoised": b} for x, b in zip(frames, base)]


class PerFrameModel:
    """A per-frame model through the runtime's API, each frame alone; a correction of Blender's denoised render
    gets Blender's per-frame result of the same run (the peer's), as a render with Cycles' Denoise holds it."""

    def __init__(self, name: str, models_dir: Path | None, blender_oidn: Callable):
        from addon.runtime.registry import Registry as ModelRegistry

        self.name, self.models_dir, self.blender_oidn = name, models_dir, blender_oidn
        self.takes = {i.name for i in ModelRegistry(models_dir).get(name).contract.inputs}

    def __call__(self, frames: list[dict], done: dict) -> list[np.ndarray]:
        from addon.runtime import api

        if "blender_denoised" in self.takes:
            frames = with_blender_frames(frames, done, self.blender_oidn)
        return [api.run("denoise", {k: v for k, v in x.items() if k in self.takes}, model=self.name,
                        models_dir=self.models_dir).image for x in frames]


class TemporalMethod:
    """A temporal model through the runtime's API: each frame with its neighbours (absent at the ends)."""

    def __init__(self, name: str, models_dir: Path | None, blender_oidn: Callable | None = None):
        from addon.runtime.registry import Registry as ModelRegistry

        self.name, self.models_dir = name, models_dir
        self.takes = {i.name for i in ModelRegistry(models_dir).get(name).contract.inputs}
        self.blender_oidn = blender_oidn or (lambda: peers.BlenderOIDN("Accurate", "High"))

    def one(self, frames: list[dict], f: int) -> np.ndarray:
        """Frame ``f`` (0-based) of ``frames``."""
        from addon.runtime import api

        return api.run("denoise", {k: v for k, v in temporal_inputs(frames, f).items() if k in self.takes},
                       model=self.name, models_dir=self.models_dir).image

    def __call__(self, frames: list[dict], done: dict) -> list[np.ndarray]:
        if "blender_denoised" in self.takes:
            frames = with_blender_frames(frames, done, self.blender_oidn)
        return [self.one(frames, f) for f in range(len(frames))]


def score(outputs: list[np.ndarray], references: list[np.ndarray], vectors: list[np.ndarray]) -> dict:
    """One sequence's scores: per frame PSNR / SSIM (tone-mapped) and HDR-FLIP, per pair the temporal error;
    their means under ``psnr`` ... ``temporal`` and the lists under ``psnr_frames`` ... ``temporal_pairs``."""
    frames = [render_metrics(o, r) | {"flip": bench_metrics.hdr_flip(o, r)} for o, r in zip(outputs, references)]
    result = {f"{k}_frames": [m[k] for m in frames] for k in FRAME_KEYS}
    result["temporal_pairs"] = temporal_errors(outputs, references, vectors)
    result.update({k: float(np.mean(result[f"{k}_frames"])) for k in FRAME_KEYS})
    result["temporal"] = float(np.mean(result["temporal_pairs"]))
    return result


# ----------------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------------
def run(root: Path, split: str = "test", spp: tuple[int, ...] = (4, 16), count: int | None = None,
        out: Path | None = None, models_dir: Path | None = None, methods: list[str] | None = None,
        hd_repeats: int = core.HD_REPEATS, authored: Path | bool | None = None, docs: Path | None = None,
        hd_size: tuple[int, int] = (1920, 1080), log=print) -> dict:
    """Every method on the first ``count`` sequences of ``split`` and on the authored set's animated scenes
    (``authored``: a folder, None for ``CACHE/authored`` when it exists, False for none) at each ``spp``; the
    ``hd_size`` (width, height) timing unless ``hd_repeats`` is 0. Returns the result; with ``out`` writes
    temporal.json, temporal.md, temporal_frames.png and the crops grids there, with ``docs`` the plot there too.
    ValueError when neither set has a sequence."""
    spp = tuple(spp)
    sets, notes = [], []
    for found, note in (split_sequences(root, split, count, spp), authored_sequences(authored, spp)):
        log(note)
        notes.append(note)
        if found is not None and found.scenes.scenes:
            sets.append(found)
    if not sets:
        raise ValueError("no sequence to score: " + "; ".join(notes))
    makers, missing = method_makers(models_dir)
    core.check_names({*makers, *missing}, methods)
    runs = core.choose(makers, None if methods is None else [m for m in methods if m in makers])
    missing = {k: v for k, v in missing.items() if methods is None or k in methods}
    scores, grids, floors = core.Scores(), {}, {}
    middle = spp[len(spp) // 2]
    for seq_set in sets:
        name = seq_set.scenes.name
        grid = grids[f"temporal_crops{'' if seq_set is sets[0] else '_' + name}.png"] = core.Grid(
            list(runs) + ["reference"], row_labels=[])
        for i, (scene, frames) in enumerate(zip(seq_set.scenes.scenes, seq_set.frames)):
            refs, ref_vectors, ref_guides = read_references(scene, seq_set.layout, frames)
            floors.setdefault(name, []).append(reference_floor(refs, ref_guides, ref_vectors))
            for s in spp:
                sequence = read_sequence(scene, seq_set.layout, frames, s)
                done: dict[str, list] = {}

                def call(method, fn):
                    done[method] = fn(sequence, done)
                    return done[method]

                pixels = frames * refs[0].shape[0] * refs[0].shape[1]
                outputs, _ = scores.run(runs, call, lambda o: score(o, refs, ref_vectors), (name, s), pixels)
                if s == middle and i < GRID_SEQUENCES:
                    _grid_rows(grid, scene.name, outputs, refs, ref_vectors)
            log(f"{name} {scene.name}: {frames} frames done ({i + 1}/{len(seq_set.scenes.scenes)})")
    result = summarize(scores, runs, missing, sets, spp, notes, floors)
    if hd_repeats:
        result["seconds_1920x1080"] = hd_timing(runs, sets[0], 4 if 4 in spp else spp[0], hd_repeats, hd_size, log)
        result["hd_size"] = list(hd_size)
    result["targets"] = targets(result)
    for path in (Path(out) / "temporal_frames.png" if out else None, docs):
        if path is not None and plot_frames(result, path):
            log(f"wrote {path} (per frame, the {result['plot_set']} set)")
    if out:
        core.write_reports(out, "temporal", result, markdown_table(result), grids, log)
    return result


def _grid_rows(grid: core.Grid, label: str, outputs: list, refs: list, vectors: list) -> None:
    """Two rows per sequence: the middle frame of every method and the reference, tone-mapped at the
    reference's exposure; under it its temporal error map (pair middle - 1, middle) amplified
    :data:`ERROR_GAIN` times (black: steady; the reference's own map is black)."""
    from addon.runtime.color import exposure_scale, tonemap

    f = len(refs) // 2
    scale = exposure_scale(refs[f])
    grid.rows.append([tonemap(o[f], scale) for o in outputs] + [tonemap(refs[f], scale)])
    grid.row_labels.append(f"{label} frame {f + 1}")
    maps = [np.clip(np.abs(temporal_error_maps(o[f - 1:f + 1], refs[f - 1:f + 1], vectors[f - 1:f + 1])[0])
                    * ERROR_GAIN, 0, 1) for o in outputs]
    grid.rows.append(maps + [np.zeros_like(maps[0])])
    grid.row_labels.append(f"flicker {f}-{f + 1} x{ERROR_GAIN:g}")


def _pooled(scores: core.Scores, name: str, group, key: str) -> float:
    """``key``'s mean over every frame (frame pair) of every sequence of ``group``."""
    values = [v for each in scores.each(name, group, key) for v in each]
    return float(np.mean(values)) if values else float("nan")


def _per_index(scores: core.Scores, name: str, group, key: str) -> list[float]:
    """``key`` (a per-frame list) averaged over the sequences of ``group`` per frame index (as many indices as
    the longest sequence has; each index over the sequences that reach it)."""
    lists = scores.each(name, group, key)
    longest = max((len(x) for x in lists), default=0)
    return [float(np.mean([x[k] for x in lists if len(x) > k])) for k in range(longest)]


def floor_summary(floors: list[float | None], peer_errors: dict[str, list[float]]) -> dict | None:
    """A set's reference noise floor (:func:`reference_floor`, one value per sequence; None without pyoidn):
    per sequence, its mean, and per spp its share of Blender OIDN's temporal error (``peer_errors``: spp -> the
    peer's per-sequence temporal errors) with the sequences where it is more than half of it."""
    if not floors or any(f is None for f in floors):
        return None
    share = {}
    for s, errors in peer_errors.items():
        if len(errors) == len(floors):
            share[s] = {"of_oidn": float(np.mean(floors) / np.mean(errors)) if np.mean(errors) > 0 else float("nan"),
                        "over_half": [i for i, (f, e) in enumerate(zip(floors, errors)) if f > 0.5 * e]}
    return {"per_scene": [float(f) for f in floors], "mean": float(np.mean(floors)), "share": share}


def summarize(scores: core.Scores, runs: dict, missing: dict, sets: list[SequenceSet], spp: tuple[int, ...],
              notes: list[str], floors: dict[str, list] | None = None) -> dict:
    """The result the report, the JSON and the plot read (``floors``: per set, :func:`reference_floor` of each
    sequence)."""
    by_set = {}
    for seq_set in sets:
        name, scene_set = seq_set.scenes.name, seq_set.scenes
        metrics, per_frame, per_scene = {}, {}, {}
        for m in runs:
            metrics[m], per_frame[m], per_scene[m] = {}, {}, {}
            for s in spp:
                group = (name, s)
                row = {k: _pooled(scores, m, group, f"{k}_frames") for k in FRAME_KEYS}
                row["temporal"] = _pooled(scores, m, group, "temporal_pairs")
                metrics[m][str(s)] = row
                per_frame[m][str(s)] = {"psnr": _per_index(scores, m, group, "psnr_frames"),
                                        "temporal": _per_index(scores, m, group, "temporal_pairs")}
                per_scene[m][str(s)] = {k: scores.each(m, group, k) for k in KEYS}
        peer_scenes = per_scene.get(PEER, {})
        for m in runs:  # relative to Blender OIDN's; per sequence too, whose median no one sequence moves
            for s in spp:
                peer = metrics.get(PEER, {}).get(str(s), {}).get("temporal", float("nan"))
                row = metrics[m][str(s)]
                row["temporal_vs_oidn"] = row["temporal"] / peer if peer > 0 else float("nan")
                pairs = zip(per_scene[m][str(s)]["temporal"], peer_scenes.get(str(s), {}).get("temporal", []))
                ratios = [mine / theirs for mine, theirs in pairs if theirs > 0]
                row["temporal_vs_oidn_median"] = float(np.median(ratios)) if ratios else float("nan")
        family_spp = 4 if 4 in spp else spp[len(spp) // 2]
        floor = floor_summary((floors or {}).get(name, []),
                              {str(s): peer_scenes[str(s)]["temporal"] for s in spp if str(s) in peer_scenes})
        by_set[name] = dict(scene_set.describe(), frames=seq_set.frames, metrics=metrics, per_frame=per_frame,
                            per_scene=per_scene, reference_floor=floor,
                            by_family={"spp": family_spp, **{key: {m: scores.breakdown(m, (name, family_spp), key,
                                                                                          scene_set.families)
                                                                   for m in runs} for key in ("psnr", "temporal")}})
    ours = [m for m in runs if m.startswith("postpass ")]
    metrics_by_set = {n: r["metrics"] for n, r in by_set.items()}
    ratio = {}
    for m in ours:
        rows = {}
        for s in spp:
            row = {n: r[m][str(s)]["temporal_vs_oidn"] for n, r in metrics_by_set.items() if PEER in r}
            if len(row) > 1:
                names = list(row)
                row["gap"] = row[names[-1]] - row[names[0]]
            rows[str(s)] = row
        if any(PEER in r for r in metrics_by_set.values()):
            ratio[m] = rows
    plot_set = "authored" if "authored" in by_set else next(iter(by_set))
    temporal = [m for m, fn in runs.items() if isinstance(fn, TemporalMethod)]
    return {"task": "temporal", "spp": list(spp), "methods": list(runs), "missing": missing, "notes": notes,
            "ours": {"per_frame": [m for m in ours if m not in temporal], "temporal": temporal},
            "sets": by_set, "plot_set": plot_set,
            "versus": {"peer": PEER, "psnr": core.differences(metrics_by_set, ours, PEER, spp, "psnr"),
                       "temporal": core.differences(metrics_by_set, ours, PEER, spp, "temporal"),
                       "temporal_ratio": ratio},
            "seconds_per_megapixel": scores.seconds_per_megapixel(runs)}


# ----------------------------------------------------------------------------------------------------------
# 1080p timing
# ----------------------------------------------------------------------------------------------------------
def hd_frames(seq_set: SequenceSet, spp: int, size: tuple[int, int] = (1920, 1080)) -> list[dict]:
    """Five consecutive frames at ``spp`` (the middle of the set's first sequence and two on each side; a shorter
    sequence's frames repeated from its ends) resized to ``size`` (width, height), nearest, the vectors scaled
    with them: what a method costs does not depend on the content."""
    import cv2

    scene, frames = seq_set.scenes.scenes[0], seq_set.frames[0]
    sequence = read_sequence(scene, seq_set.layout, frames, spp)
    middle = frames // 2
    picked = [sequence[min(max(middle + k, 0), frames - 1)] for k in range(-2, 3)]
    h, w = picked[0]["color"].shape[:2]
    gain = np.array([size[0] / w, size[1] / h, size[0] / w, size[1] / h], np.float32)
    big = lambda a: cv2.resize(a, size, interpolation=cv2.INTER_NEAREST).reshape(size[1], size[0], -1)  # noqa: E731
    return [{k: big(v) * gain if k == "vector" else big(v) for k, v in x.items()} for x in picked]


def hd_timing(runs: dict, seq_set: SequenceSet, spp: int, repeats: int = core.HD_REPEATS,
              size: tuple[int, int] = (1920, 1080), log=print) -> dict[str, float]:
    """Seconds for one frame at ``size`` of our models (per-frame; temporal, with both neighbours), pyoidn, and
    the median's own overhead (the warps and the median of three denoised frames), best of ``repeats`` with the
    methods taking turns (``core.best_of``)."""
    frames = hd_frames(seq_set, spp, size)
    calls = {}
    for name, fn in runs.items():
        if name.startswith("postpass ") or name == PYOIDN:
            calls[name] = _one_frame(fn, frames)
        elif name == MEDIAN:
            calls[name] = lambda: warped_median(frames[1]["color"], frames[2]["color"], frames[3]["color"],
                                                frames[2]["vector"])
    return core.best_of(calls, repeats, f"{size[0]}x{size[1]}", log)


def _one_frame(fn, frames: list[dict]) -> Callable:
    """A call that denoises the middle of five ``frames`` once: a temporal model with the neighbours of its
    window, a per-frame method the middle frame alone. A model of Blender's denoised frames is timed without Blender's
    denoiser, which ran in the render (Cycles' Denoise): its own cost on top of a render that holds it."""
    if "blender_denoised" in getattr(fn, "takes", ()):  # Blender's result is in the render already (its
        frames = [{**x, "blender_denoised": x["color"]} for x in frames]  # colour stands in: the time is the same)
    if isinstance(fn, TemporalMethod):
        return lambda: fn.one(frames, 2)
    return lambda: fn([frames[2]], {})


# ----------------------------------------------------------------------------------------------------------
# Report and plot
# ----------------------------------------------------------------------------------------------------------
def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _num(value, fmt: str = ".2f", signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return format(value, ("+" if signed else "") + fmt)


def targets(result: dict) -> list[dict]:
    """Issue 26's targets for each temporal model: on the authored set (else the first set) at 4 spp (else the
    first level) PSNR at least Blender OIDN's and temporal error at most :data:`TEMPORAL_TARGET` times its;
    seconds per 1080p frame at most :data:`TIME_TARGET` times the per-frame model's. Each: what, the value, the
    target, whether met (None: not measured)."""
    sets, spp = result["sets"], result["spp"]
    where = "authored" if "authored" in sets else next(iter(sets))
    level = "4" if 4 in spp else str(spp[0])
    metrics, hd = sets[where]["metrics"], result.get("seconds_1920x1080", {})
    found = []
    for name in result["ours"]["temporal"]:
        m, peer = metrics[name][level], metrics.get(PEER, {}).get(level)
        if peer is not None:
            found.append({"method": name, "what": f"PSNR - {PEER}, {where}, {level} spp", "value": m["psnr"] -
                          peer["psnr"], "target": ">= 0 dB (aim +0.5)", "met": bool(m["psnr"] >= peer["psnr"])})
            found.append({"method": name, "what": f"temporal error / {PEER}'s, {where}, {level} spp",
                          "value": m["temporal_vs_oidn"], "target": f"<= {TEMPORAL_TARGET}x",
                          "met": bool(m["temporal_vs_oidn"] <= TEMPORAL_TARGET)})
        for base in result["ours"]["per_frame"]:
            if name in hd and base in hd:
                found.append({"method": name, "what": f"seconds per 1080p frame / {base}'s",
                              "value": hd[name] / hd[base], "target": f"<= {TIME_TARGET}x",
                              "met": bool(hd[name] <= TIME_TARGET * hd[base])})
    return found


def floor_lines(sets: dict, level: str) -> list[str]:
    """The report's lines on each set's reference noise floor at spp ``level`` (none where it was not measured)."""
    lines = []
    for set_name, r in sets.items():
        floor = r.get("reference_floor")
        share = (floor or {}).get("share", {}).get(level)
        if not share:
            continue
        over = [r["scene_names"][i] for i in share["over_half"]]
        lines.append(f"- {set_name}: the references' own noise floor (estimate: their pyoidn-denoised frames' "
                     f"temporal error against them) {_num(1000 * floor['mean'])}, {_num(100 * share['of_oidn'], '.0f')}"
                     f"% of {PEER}'s temporal error" + (f"; over half of it in {', '.join(over)}, where the "
                                                        "ratio to OIDN mostly measures the reference" if over else ""))
    return lines + [""] if lines else []


def markdown_table(result: dict) -> str:
    """The report: a table per spp with every set side by side, ours - Blender OIDN per set and the gap, the
    per-family tables, the targets and the timings."""
    spp, sets, names, missing = result["spp"], result["sets"], result["methods"], result.get("missing", {})
    hd, size = result.get("seconds_1920x1080", {}), result.get("hd_size", [1920, 1080])
    described = " and ".join(
        f"{'the ' + n + ' split' if i == 0 and n != 'authored' else 'the ' + n + ' set'} "
        f"({_count(r['scenes'], 'sequence')}, {sum(r['frames'])} frames)" for i, (n, r) in enumerate(sets.items()))
    text = [f"Temporal denoise on {described}: per frame tone-mapped PSNR (dB) / SSIM and mean HDR-FLIP against "
            "the frame's reference, averaged over every frame; temporal error: mean |the output's frame-to-frame "
            "change along the motion - the reference's| (tone-mapped, x 1000; lower is better) and its ratio to "
            f"{PEER}'s; seconds on this CPU.", ""] + [f"- {note}" for note in result.get("notes", [])] + [""]
    for s in spp:
        header, rows = ["method"], [[n] for n in names] + [[n] for n in missing]
        for set_name, r in sets.items():
            header += [f"{set_name} PSNR / SSIM", f"{set_name} FLIP", f"{set_name} temporal",
                       f"{set_name} x OIDN (of the means / median of sequences)"]
            for row, n in zip(rows, names):
                m = r["metrics"][n][str(s)]
                row += [f"{_num(m['psnr'])} / {_num(m['ssim'], '.4f')}", _num(m["flip"], ".4f"),
                        _num(1000 * m["temporal"]),
                        f"{_num(m['temporal_vs_oidn'], '.2f')}x / {_num(m.get('temporal_vs_oidn_median'), '.2f')}x"]
            for row, n in zip(rows[len(names):], missing):
                row += [missing[n], "-", "-", "-"]
        text += [f"### {s} spp", "", core.markdown_table(header, rows)] + floor_lines(sets, str(s))
    versus = result["versus"]
    if versus["psnr"]:
        columns = list(next(iter(versus["psnr"].values()))[str(spp[0])])  # the sets with the peer, "gap"
        header = ["method"] + [f"{s} spp {c}" for s in spp for c in columns]
        rows = [[n] + [f"{_num(versus['psnr'][n][str(s)].get(c), signed=True)} dB / "
                       f"{_num(versus['temporal_ratio'][n][str(s)].get(c), '.2f', signed=c == 'gap')}"
                       + ("" if c == "gap" else "x") for s in spp for c in columns] for n in versus["psnr"]]
        text += [f"### Ours - {PEER}: PSNR (dB) / temporal error (x {PEER}'s)", "",
                 "Per set; gap: the last set's minus the first's.", "", core.markdown_table(header, rows)]
    elif names:
        text += [f"(ours - {PEER}: not measured, a method of the two left out)", ""]
    for set_name, r in sets.items():
        if not r["named_families"]:
            continue
        fam = r["by_family"]
        text += [f"### Per family, {set_name}, {fam['spp']} spp: PSNR (dB) / temporal error (x 1000)", "",
                 core.breakdown_table(r["family_counts"], names, lambda m, f, fam=fam: (
                     f"{_num(fam['psnr'][m][f])} / {_num(1000 * fam['temporal'][m][f])}"))]
    found = result.get("targets", [])
    if found:
        text += ["### Targets (issue 26)", "", core.markdown_table(
            ["method", "measure", "value", "target", "met"],
            [[t["method"], t["what"], _num(t["value"], ".2f"), t["target"], "yes" if t["met"] else "no"]
             for t in found])]
    elif missing:
        text += ["### Targets (issue 26)", "", f"Not measured: {'; '.join(f'{k} {v}' for k, v in missing.items())}.",
                 ""]
    note = f" ({MEDIAN}: its own overhead, the warps and the median, beside one OIDN pass per frame)" \
        if MEDIAN in hd else ""
    text += ["### Time", "", f"s / MP: this run's frames; s per {size[0]}x{size[1]} frame: best of the timing's "
             f"passes{note}.", "", core.markdown_table(
                 ["method", "s / MP", f"s per {size[0]}x{size[1]} frame"],
                 [[n, f"{result['seconds_per_megapixel'][n]:.2f}", core.seconds(hd, n)] for n in names])]
    return "\n".join(text)


def plot_frames(result: dict, path: Path) -> Path | None:
    """Per-frame PSNR and temporal error over the frames for every method on the result's ``plot_set``, one
    column per spp; None (nothing written) without a set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    where = result.get("plot_set")
    if where not in result["sets"]:
        return None
    per_frame, spp = result["sets"][where]["per_frame"], result["spp"]
    fig, axes = plt.subplots(2, len(spp), figsize=(5.2 * len(spp) + 2.5, 7), squeeze=False)
    for col, s in enumerate(spp):
        for name in result["methods"]:
            if name == "noisy":
                continue
            series = per_frame[name][str(s)]
            style = dict(lw=2.5 if name.startswith("postpass ") else 1.2, marker="o", ms=3, label=name)
            axes[0][col].plot(range(1, len(series["psnr"]) + 1), series["psnr"], **style)
            axes[1][col].plot(range(2, len(series["temporal"]) + 2), [1000 * v for v in series["temporal"]],
                              **style)
        axes[0][col].set_title(f"{where}, {s} spp: per-frame PSNR")
        axes[0][col].set_ylabel("tone-mapped PSNR (dB)")
        axes[1][col].set_title(f"{where}, {s} spp: temporal error (lower is better)")
        axes[1][col].set_ylabel("temporal error x 1000 (frames t-1, t)")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xlabel("frame t")
            ax.grid(alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    count = _count(result["sets"][where]["scenes"], "sequence")
    fig.suptitle(f"Temporal denoise, {where} set ({count}; mean per frame, noisy left out)")
    return save_figure(fig, path)


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------
def options(p) -> None:
    core.add_options(p, data_set=False, authored=True, out=Path("out/bench_temporal"))
    p.add_argument("--data", type=Path, default=paths.cache_dir() / "data_temporal",
                   help="temporal dataset folder (default: %(default)s)")
    p.add_argument("--split", default="test", help="split of the dataset (default: %(default)s)")
    p.add_argument("--count", type=int, default=None, help="first N sequences of the split only")
    p.add_argument("--spp", type=int, nargs="+", default=[4, 16], help="noisy inputs' spp (default: 4 16)")
    p.add_argument("--docs", action="store_true", help=f"also write the per-frame plot to {DOCS_PLOT}")


def main(args) -> str:
    return markdown_table(run(args.data, args.split, tuple(args.spp), args.count, args.out, args.models,
                              args.methods, core.hd_repeats(args), args.authored, DOCS_PLOT if args.docs else None))


# ----------------------------------------------------------------------------------------------------------
# Fixed regression crops (``python -m bench crops --task temporal``) and the shipped models' scores on them
# ----------------------------------------------------------------------------------------------------------
def regression_crops(root: Path, out: Path, split: str = "val", count: int = 4, size: int = 64,
                     spp: int = 4) -> list[Path]:
    """Small fixed temporal cases for the shipped-model quality test: the centre ``size`` px of every frame of
    the first ``count`` sequences of ``split`` at ``spp``, one half-float EXR per frame
    (``<seed>_f0001_spp0004.exr``: the noisy Combined, its albedo, normal and Vector, Blender's denoised frame as
    "Denoised Image" where ``python -m ml_core.data blender-oidn`` made it, and the frame's reference as a
    ``Reference`` pass)."""
    from addon.runtime.exr import read_exr, write_exr

    written = []
    for scene in core.scenes(root, split, count, exact=True):
        frames = len(list(scene.glob("seq_*_target.exr")))
        for f in range(1, frames + 1):
            noisy, target = read_exr(scene / render.sequence_name(f, spp)), read_exr(scene / render.sequence_name(f))
            y, x = core.centre(noisy.size, size)

            def crop(a):
                return np.clip(a[y:y + size, x:x + size], -60000, 60000)  # half-float range

            path = Path(out) / f"{scene.name}_f{f:04d}_spp{spp:04d}.exr"
            oidn = scene / BLENDER_OIDN_DIR / render.sequence_name(f, spp)
            blender = {BLENDER_DENOISED_PASS: crop(read_exr(oidn).get("Combined")[..., :3])} if oidn.is_file() else {}
            write_exr(path, {"Combined": crop(noisy.get("Combined")),
                             **{p: crop(noisy.get(p)) for p in ("Denoising Albedo", "Denoising Normal", "Vector")},
                             **blender, "Reference": crop(target.get("Combined"))}, half=True)
            written.append(path)
    return written


def score_crops(folder: Path, models_dir: Path | None = None) -> dict[str, dict[str, float]]:
    """The per-frame and the temporal denoise models' mean tone-mapped PSNR over every frame of the crops in
    ``folder`` and their mean temporal error (x 1000), beside the noisy input's and, where the crops hold it,
    Blender's own denoised frames' (``blender_oidn``): the figures ``expected.json`` records and
    ``tests/tasks/test_shipped_models.py`` holds the shipped temporal models to."""
    from addon.runtime.exr import read_exr

    sequences: dict[str, list] = {}
    for path in sorted(Path(folder).glob("*_f*_spp*.exr")):
        sequences.setdefault(path.name.split("_f")[0], []).append(read_exr(path))
    if not sequences:
        raise ValueError(f"{folder}: no sequence crops")
    makers, _ = method_makers(models_dir)
    names = [n for n in makers if n == "noisy" or n.startswith("postpass ")]
    results: dict[str, list] = {n: [] for n in names}
    for exrs in sequences.values():
        frames = [{"color": e.get("Combined")[..., :3], "albedo": e.get("Denoising Albedo"),
                   "normal": e.get("Denoising Normal"), "vector": e.get("Vector"),
                   **({"blender_denoised": e.get(BLENDER_DENOISED_PASS)} if BLENDER_DENOISED_PASS in e.passes else {})}
                  for e in exrs]
        references = [e.get("Reference")[..., :3] for e in exrs]
        for name in names:
            outputs = makers[name]()(frames, {})
            results[name].append((np.mean([render_metrics(o, r)["psnr"] for o, r in zip(outputs, references)]),
                                  np.mean(temporal_errors(outputs, references, [f["vector"] for f in frames]))))
    if all(BLENDER_DENOISED_PASS in e.passes for exrs in sequences.values() for e in exrs):
        results["blender_oidn"] = []  # Blender's own result per frame (the crops' "Denoised Image"): the peer
        for exrs in sequences.values():
            outputs, references = ([e.get(p)[..., :3] for e in exrs] for p in (BLENDER_DENOISED_PASS, "Reference"))
            results["blender_oidn"].append((
                np.mean([render_metrics(o, r)["psnr"] for o, r in zip(outputs, references)]),
                np.mean(temporal_errors(outputs, references, [e.get("Vector") for e in exrs]))))
    return {name.removeprefix("postpass "): {"psnr": round(float(np.mean([p for p, _ in r])), 3),
                                            "temporal_x1000": round(1000 * float(np.mean([t for _, t in r])), 3)}
            for name, r in results.items()}


BENCHMARKS.add("temporal", Benchmark("denoisers on animated sequences (issue 26): per-frame PSNR and temporal "
                                     "error, per frame and temporal models, at 4 and 16 spp", main, options,
                                     __doc__, crops=regression_crops, score_crops=score_crops))
